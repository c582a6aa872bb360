import { createHash } from 'node:crypto';
import { S3Error } from '../s3-errors.js';
import { EMPTY_HASH, hmac, safeEqualHex, sha256Hex, type ChunkChain } from './sigv4.js';

const MAX_LINE = 4096;
const MAX_TRAILER_BYTES = 16 * 1024;

/** Pulls bytes from an async iterable: lines and exact counts, without holding more than one source chunk. */
class PullReader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  private readonly it: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const { value, done } = await this.it.next();
    if (done) {
      this.done = true;
      return false;
    }
    this.buf = this.buf.length === 0 ? value : Buffer.concat([this.buf, value]);
    return true;
  }

  async line(): Promise<string> {
    for (;;) {
      const i = this.buf.indexOf('\r\n');
      if (i >= 0) {
        const line = this.buf.subarray(0, i).toString('latin1');
        this.buf = this.buf.subarray(i + 2);
        return line;
      }
      if (this.buf.length > MAX_LINE) throw new S3Error('InvalidRequest', 'an aws-chunked line is too long');
      if (!(await this.fill())) throw new S3Error('IncompleteBody', 'the aws-chunked body ended in the middle of a line');
    }
  }

  /** Up to `n` bytes, as soon as some are there. */
  async some(n: number): Promise<Buffer> {
    if (this.buf.length === 0 && !(await this.fill())) throw new S3Error('IncompleteBody', 'the aws-chunked body ended in the middle of a chunk');
    const take = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(take.length);
    return take;
  }

  async atEnd(): Promise<boolean> {
    while (this.buf.length === 0) if (!(await this.fill())) return true;
    return false;
  }
}

export interface ChunkedOptions {
  /** signed chunks: each chunk's signature is checked against this chain */
  chain?: ChunkChain;
  /** trailers (name → value, names lower-case) are put here once the body is read */
  trailers: Map<string, string>;
  /** whether the trailer block is signed (x-amz-trailer-signature) */
  signedTrailer?: boolean;
}

/**
 * Decodes an `aws-chunked` body (AWS SigV4 streaming): `hex-size[;chunk-signature=sig]\r\n bytes \r\n … 0…\r\n`,
 * then optional trailer lines and an empty line. Each chunk's signature chains from the previous one (the seed is the
 * request's signature) and is verified when the chunk ends, before the next is passed on: a forged chunk fails the
 * body, and a failed body commits nothing.
 */
export async function* decodeAwsChunked(source: AsyncIterable<Buffer>, opts: ChunkedOptions): AsyncGenerator<Buffer> {
  const reader = new PullReader(source);
  let previous = opts.chain?.seedSignature ?? '';
  for (;;) {
    const header = await reader.line();
    const [sizeHex, ...exts] = header.split(';');
    if (!/^[0-9a-fA-F]{1,15}$/.test(sizeHex.trim())) throw new S3Error('InvalidRequest', `malformed aws-chunked chunk header "${header.slice(0, 80)}"`);
    const size = parseInt(sizeHex, 16);
    const signature = exts.map((e) => e.trim()).find((e) => e.startsWith('chunk-signature='))?.slice('chunk-signature='.length);
    if (opts.chain && !signature) throw new S3Error('SignatureDoesNotMatch', 'an aws-chunked chunk lacks its chunk-signature');
    const hash = opts.chain ? createHash('sha256') : undefined;
    let left = size;
    while (left > 0) {
      const bytes = await reader.some(left);
      left -= bytes.length;
      hash?.update(bytes);
      // The last piece of a signed chunk waits for the signature check (below) before it is passed on.
      if (left > 0 || !opts.chain) yield bytes;
      else {
        previous = checkChunk(opts.chain, previous, hash!.digest('hex'), signature!);
        yield bytes;
      }
    }
    if (size === 0) {
      if (opts.chain) previous = checkChunk(opts.chain, previous, EMPTY_HASH, signature!);
      break;
    }
    if ((await reader.line()) !== '') throw new S3Error('InvalidRequest', 'an aws-chunked chunk is longer than its declared size');
  }
  // Trailers: `name:value` lines, then an empty line (or the end of the body).
  let trailerText = '';
  let trailerSignature: string | undefined;
  while (!(await reader.atEnd())) {
    const line = await reader.line();
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new S3Error('InvalidRequest', 'malformed aws-chunked trailer');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'x-amz-trailer-signature') {
      trailerSignature = value;
      continue;
    }
    trailerText += `${name}:${value}\n`;
    if (trailerText.length > MAX_TRAILER_BYTES) throw new S3Error('InvalidRequest', 'the aws-chunked trailers are too large');
    opts.trailers.set(name, value);
  }
  if (opts.chain && opts.signedTrailer) {
    if (!trailerSignature) throw new S3Error('SignatureDoesNotMatch', 'the signed trailer lacks x-amz-trailer-signature');
    const toSign = ['AWS4-HMAC-SHA256-TRAILER', opts.chain.amzDate, opts.chain.scope, previous, sha256Hex(trailerText)].join('\n');
    if (!safeEqualHex(hmac(opts.chain.signingKey, toSign).toString('hex'), trailerSignature)) throw new S3Error('SignatureDoesNotMatch', 'the trailer signature does not match');
  }
}

function checkChunk(chain: ChunkChain, previous: string, chunkHash: string, signature: string): string {
  const toSign = ['AWS4-HMAC-SHA256-PAYLOAD', chain.amzDate, chain.scope, previous, EMPTY_HASH, chunkHash].join('\n');
  const expected = hmac(chain.signingKey, toSign).toString('hex');
  if (!safeEqualHex(expected, signature)) throw new S3Error('SignatureDoesNotMatch', 'an aws-chunked chunk signature does not match');
  return expected;
}
