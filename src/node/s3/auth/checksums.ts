import { createHash, type Hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { crc32 } from 'node:zlib';
import { Crc32c } from '@aws-crypto/crc32c';
import { S3Error } from '../s3-errors.js';

/** The x-amz-checksum-* algorithms S3 clients send (header or trailer); values are base64 of the big-endian digest. */
const ALGORITHMS = ['crc32', 'crc32c', 'sha1', 'sha256'] as const;
type Algorithm = (typeof ALGORITHMS)[number];

interface Running {
  update(b: Buffer): void;
  base64(): string;
}

function running(alg: Algorithm): Running {
  switch (alg) {
    case 'crc32': {
      let v = 0;
      return { update: (b) => void (v = crc32(b, v)), base64: () => u32(v) };
    }
    case 'crc32c': {
      const c = new Crc32c();
      return { update: (b) => void c.update(b), base64: () => u32(c.digest()) };
    }
    case 'sha1':
    case 'sha256': {
      const h: Hash = createHash(alg);
      return { update: (b) => void h.update(b), base64: () => h.digest('base64') };
    }
  }
}

function u32(v: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b.toString('base64');
}

/**
 * The integrity checks of one request body besides its SHA-256 (which staging verifies): Content-MD5 and the
 * x-amz-checksum-* value from a header or an aws-chunked trailer. The MD5 is always computed: it is the S3 ETag.
 * {@link verify} runs once the whole body is staged and before anything is committed.
 */
export class BodyChecks {
  private readonly md5 = createHash('md5');
  private md5Hex?: string;
  private readonly sums = new Map<Algorithm, Running>();
  private readonly contentMd5?: string;
  /** a failure inside the body pipeline (staging reports any such failure as a cut-off body) */
  failure?: unknown;

  constructor(
    private readonly headers: IncomingHttpHeaders,
    private readonly trailers: Map<string, string>,
  ) {
    const md5 = headers['content-md5'];
    if (typeof md5 === 'string') {
      if (Buffer.from(md5, 'base64').length !== 16) throw new S3Error('InvalidDigest', 'The Content-MD5 you specified is not valid.');
      this.contentMd5 = md5;
    }
    const declaredTrailer = String(headers['x-amz-trailer'] ?? '').toLowerCase();
    const sdkAlg = String(headers['x-amz-sdk-checksum-algorithm'] ?? '').toLowerCase();
    for (const alg of ALGORITHMS) {
      if (headers[`x-amz-checksum-${alg}`] !== undefined || declaredTrailer.includes(`x-amz-checksum-${alg}`) || sdkAlg === alg) this.sums.set(alg, running(alg));
    }
  }

  /** Passes the body through, hashing as it goes. */
  async *tap(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of source) {
        this.md5.update(chunk);
        for (const s of this.sums.values()) s.update(chunk);
        yield chunk;
      }
    } catch (err) {
      this.failure = err;
      throw err;
    }
  }

  /** Hex MD5 of the body (once it has been read whole). */
  get md5OfBody(): string {
    this.md5Hex ??= this.md5.digest('hex');
    return this.md5Hex;
  }

  /** Throws BadDigest when a declared digest does not match; returns the checksums to echo back. */
  verify(): Record<string, string> {
    if (this.contentMd5 !== undefined && Buffer.from(this.md5OfBody, 'hex').toString('base64') !== this.contentMd5) {
      throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
    }
    const echo: Record<string, string> = {};
    for (const [alg, sum] of this.sums) {
      const name = `x-amz-checksum-${alg}`;
      const declared = (this.headers[name] as string | undefined) ?? this.trailers.get(name);
      const actual = sum.base64();
      if (declared === undefined) continue;
      if (declared.trim() !== actual) throw new S3Error('BadDigest', `The ${alg.toUpperCase()} you specified did not match the calculated checksum.`);
      echo[name] = actual;
    }
    return echo;
  }
}
