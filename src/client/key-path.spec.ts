import { problemFrom } from './client-error.js';
import { keyPath } from './key-path.js';
import { etagSha256 } from './shoal-client.js';

describe('keyPath', () => {
  it.each([
    ['a.txt', '/v1/files/a.txt'],
    ['docs/a b.txt', '/v1/files/docs/a%20b.txt'],
    ['été/q3 #1?.txt', '/v1/files/%C3%A9t%C3%A9/q3%20%231%3F.txt'],
    ['100%/x', '/v1/files/100%25/x'],
    // Segments a URL parser would collapse: the whole key goes as one segment with %2F.
    ['a//b', '/v1/files/a%2F%2Fb'],
    ['/lead', '/v1/files/%2Flead'],
    ['a/../b', '/v1/files/a%2F..%2Fb'],
    ['a/./b', '/v1/files/a%2F.%2Fb'],
  ])('%s → %s', (key, path) => {
    expect(keyPath(key)).toBe(path);
    expect(new URL(path, 'http://127.0.0.1').pathname).toBe(path); // survives WHATWG URL parsing unchanged
  });
});

describe('etagSha256', () => {
  const sha = 'ab'.repeat(32);
  it.each([
    [`"${sha}"`, sha],
    [`W/"${sha}"`, sha],
    [`"${sha.toUpperCase()}"`, sha],
    ['"abc"', undefined],
    [undefined, undefined],
  ])('%s → %s', (etag, expected) => expect(etagSha256(etag)).toBe(expected));
});

describe('problemFrom', () => {
  it('keeps the server problem document', () => {
    const doc = { type: 't', title: 'Not Found', status: 404, detail: 'no live version of "a"', code: 'NOT_FOUND' };
    expect(problemFrom(404, 'Not Found', doc)).toEqual(doc);
  });

  it('makes one up from the status when the answer has none', () => {
    expect(problemFrom(404, 'Not Found', undefined, 'no live version of "a"')).toEqual({ status: 404, code: 'NOT_FOUND', detail: 'no live version of "a"' });
    expect(problemFrom(503, 'Service Unavailable', '<html>busy</html>')).toEqual({ status: 503, code: 'UNAVAILABLE', detail: 'service unavailable' });
    expect(problemFrom(418, '', 'short and stout\nmore')).toEqual({ status: 418, code: 'HTTP_418', detail: 'short and stout' });
  });
});
