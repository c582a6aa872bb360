import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { primed } from './primed.js';

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('primed', () => {
  it('resolves once the first bytes are there, and the reader still gets every byte', async () => {
    const src = new PassThrough();
    let resolved = false;
    const ready = primed(src).then((s) => ((resolved = true), s));
    await new Promise((r) => setImmediate(r));
    expect(resolved).toBe(false); // nothing yet
    src.write('first ');
    const stream = await ready;
    src.end('and the rest');
    expect((await collect(stream)).toString()).toBe('first and the rest');
  });

  it('rejects when the stream fails before its first bytes', async () => {
    const src = new PassThrough();
    const ready = primed(src);
    src.destroy(new Error('blob file gone'));
    await expect(ready).rejects.toThrow('blob file gone');
  });

  it('resolves with a stream that ended empty', async () => {
    const stream = await primed(Readable.from([]));
    expect((await collect(stream)).length).toBe(0);
  });

  it('a failure after the first bytes is the reader\'s to see, not an uncaught error', async () => {
    const src = new PassThrough();
    src.write('some');
    const stream = await primed(src);
    src.destroy(new Error('cut'));
    await new Promise((r) => setImmediate(r)); // the error is emitted before anyone reads: it must not crash
    await expect(pipeline(stream, new PassThrough().resume())).rejects.toThrow('cut');
  });
});
