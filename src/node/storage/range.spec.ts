import { parseRange } from './range.js';

describe('parseRange', () => {
  it.each([
    ['bytes=0-0', 10, { start: 0, end: 0 }],
    ['bytes=0-', 10, { start: 0, end: 9 }],
    ['bytes=2-5', 10, { start: 2, end: 5 }],
    ['bytes=5-100', 10, { start: 5, end: 9 }],
    ['bytes=-3', 10, { start: 7, end: 9 }],
    ['bytes=-30', 10, { start: 0, end: 9 }],
  ])('%s of %d bytes', (h, size, expected) => {
    expect(parseRange(h, size)).toEqual(expected);
  });

  it('absent header means the whole file', () => {
    expect(parseRange(undefined, 10)).toBeUndefined();
  });

  it.each(['bytes=a-b', 'bytes=1-2,4-5', 'items=0-1', 'bytes=-', 'bytes=5-2'])('rejects %s with 400', (h) => {
    expect(() => parseRange(h, 10)).toThrow(expect.objectContaining({ code: 'INVALID_RANGE' }));
  });

  it.each([['bytes=10-', 10], ['bytes=-0', 10], ['bytes=0-', 0]])('%s of %d bytes is 416', (h, size) => {
    expect(() => parseRange(h, size as number)).toThrow(expect.objectContaining({ code: 'RANGE_NOT_SATISFIABLE', headers: { 'Content-Range': `bytes */${size}` } }));
  });
});
