import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { partitionOf } from './partition.js';

const direct = (key: string, bits: number) => createHash('sha256').update(key, 'utf8').digest().readUInt32BE(0) >>> (32 - bits);

describe('partitionOf', () => {
  it('is the top bits of SHA-256(key), asked once or many times, whatever was asked before (the cache never changes an answer)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.integer({ min: 1, max: 16 })), { minLength: 1, maxLength: 50 }), (asks) => {
        for (const [key, bits] of asks) {
          expect(partitionOf(key, bits)).toBe(direct(key, bits));
          expect(partitionOf(key, bits)).toBe(direct(key, bits));
        }
      }),
    );
  });

  it('stays right past the cache bound', () => {
    for (let i = 0; i < 3000; i++) expect(partitionOf(`k${i % 1500}`, 10)).toBe(direct(`k${i % 1500}`, 10));
    expect(partitionOf('', 10)).toBe(direct('', 10));
  });
});
