import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import fc from 'fast-check';
import { chunksOf, INLINE_MAX_BYTES, stageBlob } from './staging.js';
import { CorruptBlobError, VerifyStream } from './verify-stream.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** `data` cut into chunks of `chunk` bytes. */
function* chunks(data: Buffer, chunk: number): Generator<Buffer> {
  for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
}

/** A source that sends `sent` bytes of `data`, then fails as a reset connection does. */
async function* cutOff(data: Buffer, sent: number, chunk = 64 * 1024): AsyncGenerator<Buffer> {
  for (const c of chunks(data.subarray(0, sent), chunk)) {
    await new Promise((r) => setImmediate(r));
    yield c;
  }
  throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
}

describe('stageBlob', () => {
  let tmp: string;
  let n = 0;
  const tmpPath = () => path.join(tmp, `upload-${++n}`);

  beforeEach(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'shoal-stage-'));
  });

  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it.each([0, 1, 1000, INLINE_MAX_BYTES])('keeps a body of %i bytes in memory (inline), without a file', async (size) => {
    const data = randomBytes(size);
    const staged = await stageBlob(Readable.from(chunks(data, 4096)), tmpPath(), { declaredLength: size });
    expect(staged).toEqual({ sha256: sha(data), size, data });
    expect(await readdir(tmp)).toEqual([]);
  });

  it.each([INLINE_MAX_BYTES + 1, 1024 * 1024, 3.5 * 1024 * 1024 + 7])('writes a body of %i bytes to an fsynced temp file', async (size) => {
    const data = randomBytes(size);
    const p = tmpPath();
    const staged = await stageBlob(Readable.from(chunks(data, 65_536)), p, { declaredLength: size });
    expect(staged).toEqual({ sha256: sha(data), size, tmpPath: p });
    expect((await readFile(p)).equals(data)).toBe(true);
  });

  it('accepts a matching X-Content-SHA256 in upper case', async () => {
    const data = randomBytes(50_000);
    await expect(stageBlob(Readable.from([data]), tmpPath(), { expectedSha256: sha(data).toUpperCase() })).resolves.toMatchObject({ sha256: sha(data) });
  });

  describe('refuses and leaves tmp/ empty', () => {
    it.each([
      ['before the first write to disk', 10_000, 5_000],
      ['after some writes to disk', 5 * 1024 * 1024, 3 * 1024 * 1024 + 123],
      ['before any byte', 100_000, 0],
    ])('a source cut off %s: INCOMPLETE_BODY', async (_what, size, sent) => {
      const data = randomBytes(size);
      await expect(stageBlob(cutOff(data, sent), tmpPath(), { declaredLength: size })).rejects.toMatchObject({ code: 'INCOMPLETE_BODY' });
      expect(await readdir(tmp)).toEqual([]);
    });

    it('a Readable destroyed midway (as an aborted request is): INCOMPLETE_BODY', async () => {
      const source = new PassThrough();
      const staging = stageBlob(source, tmpPath(), {});
      source.write(randomBytes(2 * 1024 * 1024));
      setTimeout(() => source.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })), 20);
      await expect(staging).rejects.toMatchObject({ code: 'INCOMPLETE_BODY' });
      expect(await readdir(tmp)).toEqual([]);
    });

    it('a Readable closed midway without an error (a premature close): INCOMPLETE_BODY', async () => {
      for (const small of [true, false]) {
        const source = new PassThrough();
        const staging = stageBlob(source, tmpPath(), {});
        source.write(randomBytes(small ? 100 : 2 * 1024 * 1024));
        setTimeout(() => source.destroy(), 20);
        await expect(staging).rejects.toMatchObject({ code: 'INCOMPLETE_BODY' });
      }
      expect(await readdir(tmp)).toEqual([]);
    });

    it('reads a Readable whole, whether its chunks are buffered already or arrive later', async () => {
      const source = new PassThrough();
      source.write(Buffer.from('ab'));
      source.write(Buffer.from('cd'));
      setTimeout(() => {
        source.write(Buffer.from('ef'));
        setTimeout(() => source.end(Buffer.from('g')), 5);
      }, 5);
      const got: Buffer[] = [];
      for await (const c of chunksOf(source)) got.push(c);
      expect(Buffer.concat(got).toString()).toBe('abcdefg');
      const staged = await stageBlob(Readable.from([Buffer.from('xy'), Buffer.from('z')]), tmpPath(), { declaredLength: 3 });
      expect(staged).toMatchObject({ size: 3, sha256: sha(Buffer.from('xyz')) });
    });

    it('a stream that fails while its reader is busy with a chunk: the error is thrown at the next read, not emitted to nobody', async () => {
      const source = new PassThrough();
      source.write(Buffer.from('ab'));
      const reader = chunksOf(source);
      expect((await reader.next()).value?.toString()).toBe('ab');
      // The reader is suspended at its yield: no waiter is listening. A PassThrough emits 'error' whether or not anyone
      // listens, and an 'error' nobody listens to is an uncaught exception.
      source.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
      await new Promise((r) => setImmediate(r));
      await expect(reader.next()).rejects.toMatchObject({ code: 'ECONNRESET' });
      expect(source.listenerCount('error')).toBe(0);
    });

    it('a body shorter than its declared length: INCOMPLETE_BODY', async () => {
      for (const [size, declared] of [[100, 101], [2_000_000, 2_000_001]]) {
        await expect(stageBlob(Readable.from(chunks(randomBytes(size), 65_536)), tmpPath(), { declaredLength: declared })).rejects.toMatchObject({ code: 'INCOMPLETE_BODY' });
      }
      expect(await readdir(tmp)).toEqual([]);
    });

    it('a body longer than its declared length: BAD_REQUEST', async () => {
      for (const [size, declared] of [[100, 99], [2_000_000, 1_999_999]]) {
        await expect(stageBlob(Readable.from(chunks(randomBytes(size), 65_536)), tmpPath(), { declaredLength: declared })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      }
      expect(await readdir(tmp)).toEqual([]);
    });

    it('a checksum mismatch: CHECKSUM_MISMATCH', async () => {
      for (const size of [10, 3_000_000]) {
        const data = randomBytes(size);
        await expect(stageBlob(Readable.from(chunks(data, 65_536)), tmpPath(), { expectedSha256: sha(Buffer.from('other')) })).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
      }
      expect(await readdir(tmp)).toEqual([]);
    });

    it('more than maxBytes: PAYLOAD_TOO_LARGE, without reading the rest', async () => {
      let pulled = 0;
      async function* endless(): AsyncGenerator<Buffer> {
        for (let i = 0; i < 10_000; i++) {
          pulled++;
          yield Buffer.alloc(65_536, i);
        }
      }
      await expect(stageBlob(endless(), tmpPath(), { maxBytes: 2 * 1024 * 1024 })).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
      expect(pulled).toBeLessThanOrEqual(33);
      expect(await readdir(tmp)).toEqual([]);
    });
  });

  it('accepts exactly maxBytes', async () => {
    const data = randomBytes(100_000);
    await expect(stageBlob(Readable.from(chunks(data, 30_000)), tmpPath(), { maxBytes: 100_000 })).resolves.toMatchObject({ size: 100_000, sha256: sha(data) });
  });
});

describe('VerifyStream', () => {
  /** Pipes `parts` through a VerifyStream; what the consumer received and how the stream ended. */
  async function consume(parts: Buffer[], expected: string): Promise<{ received: Buffer; error?: unknown; corrupt: number }> {
    let corrupt = 0;
    const verify = new VerifyStream(expected, () => corrupt++);
    const got: Buffer[] = [];
    let error: unknown;
    try {
      for await (const c of Readable.from(parts).pipe(verify)) got.push(c as Buffer);
    } catch (err) {
      error = err;
    }
    return { received: Buffer.concat(got), error, corrupt };
  }

  const parts = fc.array(fc.uint8Array({ minLength: 1, maxLength: 3000 }).map((u) => Buffer.from(u)), { minLength: 1, maxLength: 12 });

  it('passes intact bytes through unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(parts, async (ps) => {
        const whole = Buffer.concat(ps);
        const r = await consume(ps, sha(whole));
        expect(r.error).toBeUndefined();
        expect(r.corrupt).toBe(0);
        expect(r.received.equals(whole)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('passes an empty stream of the empty hash', async () => {
    const r = await consume([], sha(Buffer.alloc(0)));
    expect(r).toEqual({ received: Buffer.alloc(0), error: undefined, corrupt: 0 });
  });

  it('cuts a corrupt stream before its last chunk: the consumer never receives the full length', async () => {
    await fc.assert(
      fc.asyncProperty(parts, fc.nat(), async (ps, flipAt) => {
        const whole = Buffer.concat(ps);
        const corrupted = ps.map((p) => Buffer.from(p));
        // Flip one byte anywhere, including in the last chunk.
        let at = flipAt % whole.length;
        for (const c of corrupted) {
          if (at < c.length) {
            c[at] ^= 0xff;
            break;
          }
          at -= c.length;
        }
        const r = await consume(corrupted, sha(whole));
        expect(r.error).toBeInstanceOf(CorruptBlobError);
        expect(r.corrupt).toBe(1);
        expect(r.received.length).toBeLessThan(whole.length);
        // Whatever the consumer got before the error, the held-back last chunk never left the stream.
        expect(r.received.length).toBeLessThanOrEqual(whole.length - corrupted[corrupted.length - 1].length);
        expect(r.received.equals(Buffer.concat(corrupted).subarray(0, r.received.length))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});
