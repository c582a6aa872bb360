import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Entry } from '../storage/entry.js';
import type { ByteRange } from '../storage/range.js';
import type { ReadCoordinatorService } from './read-coordinator.service.js';
import { contentSize, encodeManifest, isManifest, MANIFEST_META, ManifestService } from './manifest.service.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const entry = (key: string, data: Buffer, meta?: Record<string, string>): Entry => ({ key, version: '01a2132b18f9.000000.n', sha256: sha(data), size: data.length, contentType: 'x/y', updatedAt: 0, deleted: false, meta });

/** A coordinator over an in-memory map: locate answers the entry, open streams (a range of) its bytes. */
function fakeCoordinator(files: Map<string, { e: Entry; data: Buffer }>, opened: string[]): ReadCoordinatorService {
  return {
    locate: async (key: string) => ({ entry: files.get(key)?.e, holders: [] }),
    open: async (e: Entry, _h: unknown, range?: ByteRange) => {
      opened.push(range ? `${e.key}[${range.start}-${range.end}]` : e.key);
      const data = [...files.values()].find((f) => f.e.sha256 === e.sha256)!.data;
      return Readable.from([range ? data.subarray(range.start, range.end + 1) : data]);
    },
  } as unknown as ReadCoordinatorService;
}

describe('ManifestService', () => {
  const parts = [Buffer.from('abc'), Buffer.alloc(0), Buffer.from('defg'), Buffer.from('hi')];
  const whole = Buffer.concat(parts);
  let files: Map<string, { e: Entry; data: Buffer }>;
  let opened: string[];
  let manifest: Entry;
  let service: ManifestService;

  beforeEach(() => {
    files = new Map();
    parts.forEach((data, i) => files.set(`p/${i}`, { e: entry(`p/${i}`, data), data }));
    const doc = encodeManifest(parts.map((data, i) => ({ key: `p/${i}`, sha256: sha(data), size: data.length })));
    manifest = entry('obj', doc, { [MANIFEST_META]: String(whole.length) });
    files.set('obj', { e: manifest, data: doc });
    opened = [];
    service = new ManifestService(fakeCoordinator(files, opened));
  });

  const read = async (range?: ByteRange) => {
    const out: Buffer[] = [];
    for await (const c of await service.open(manifest, [], range)) out.push(c as Buffer);
    return Buffer.concat(out);
  };

  it('knows a manifest and the size of the content it stands for', () => {
    expect(isManifest(manifest)).toBe(true);
    expect(contentSize(manifest)).toBe(9);
    expect(isManifest(files.get('p/0')!.e)).toBe(false);
    expect(contentSize(files.get('p/2')!.e)).toBe(4);
  });

  it('streams every part whole, in order', async () => {
    expect((await read()).equals(whole)).toBe(true);
    expect(opened).toEqual(['obj', 'p/0', 'p/2', 'p/3']);
  });

  it.each([
    [{ start: 0, end: 0 }, ['obj', 'p/0[0-0]']],
    [{ start: 2, end: 4 }, ['obj', 'p/0[2-2]', 'p/2[0-1]']],
    [{ start: 3, end: 6 }, ['obj', 'p/2']],
    [{ start: 5, end: 8 }, ['obj', 'p/2[2-3]', 'p/3']],
  ])('opens only the parts a range covers: %j', async (range, expected) => {
    expect((await read(range)).equals(whole.subarray(range.start, range.end + 1))).toBe(true);
    expect(opened).toEqual(expected);
  });

  it('fails as BAD_GATEWAY when a part no longer holds what the manifest lists', async () => {
    files.set('p/2', { e: entry('p/2', Buffer.from('XXXX')), data: Buffer.from('XXXX') });
    await expect(read()).rejects.toMatchObject({ code: 'BAD_GATEWAY' });
    files.delete('p/0');
    await expect(service.open(manifest, [])).rejects.toMatchObject({ code: 'BAD_GATEWAY' });
  });
});
