import { keyFromPath, validateKey } from './keys.js';

describe('keys', () => {
  it.each([
    ['a.txt', 'a.txt'],
    ['a/b.txt', 'a/b.txt'],
    ['a%2Fb.txt', 'a/b.txt'],
    ['..', '..'],
    ['a//b', 'a//b'],
    ['%F0%9F%90%9F.bin', '🐟.bin'],
    ['sp%20ace', 'sp ace'],
    ['%EF%BF%BD', '\ufffd'], // U+FFFD is valid UTF-8 like any other character
  ])('accepts %s as %s', (raw, key) => {
    expect(keyFromPath(raw)).toBe(key);
  });

  it.each([
    ['', 'empty'],
    ['%00', 'NUL'],
    ['a%0Ab', 'newline'],
    ['%7F', 'DEL'],
    ['%C2%85', 'C1 control'],
    ['%FF', 'invalid UTF-8'],
    ['%E0%A4', 'truncated UTF-8'],
    ['%', 'bad escape'],
    ['x'.repeat(1025), '1025 bytes'],
    ['é'.repeat(513), '1026 bytes of 2-byte characters'],
  ])('rejects %j (%s) with INVALID_KEY', (raw) => {
    expect(() => keyFromPath(raw)).toThrow(expect.objectContaining({ code: 'INVALID_KEY' }));
  });

  it('accepts exactly 1024 bytes', () => {
    expect(validateKey('x'.repeat(1024))).toHaveLength(1024);
  });

  it('rejects lone surrogates', () => {
    expect(() => validateKey('a\ud800b')).toThrow(expect.objectContaining({ code: 'INVALID_KEY' }));
  });
});
