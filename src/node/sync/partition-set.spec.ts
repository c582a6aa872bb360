import { decodePartitions, encodePartitions, rootOf } from './partition-set.js';

describe('partition sets', () => {
  it('round-trip through the bitmap and stay small', () => {
    const parts = [0, 1, 7, 8, 511, 1023];
    const enc = encodePartitions(parts, 1024);
    expect(enc.length).toBeLessThanOrEqual(172);
    expect(decodePartitions(enc, 1024)).toEqual(parts);
  });

  it('roots differ when any digest differs', () => {
    const a = rootOf([1, 2], (p) => Buffer.alloc(32, p));
    const b = rootOf([1, 2], (p) => Buffer.alloc(32, p === 2 ? 9 : p));
    expect(a).not.toBe(b);
    expect(rootOf([1, 2], (p) => Buffer.alloc(32, p))).toBe(a);
  });
});
