// The fastest S3 server the aws CLI can talk to: it stores nothing and checks nothing. What `aws s3 cp` reaches
// against it is the client's own ceiling on this machine (its hashing, its threads, its writes to disk), so the
// benchmark can say how much of the gap between `aws s3 cp` and curl is the client's and how much the server's.
//   PUT bucket, HEAD bucket, PutObject (body drained), CreateMultipartUpload, UploadPart (drained),
//   CompleteMultipartUpload, HeadObject, GetObject with or without a Range (bytes from one random 8 MiB buffer).
// Signatures are not checked and nothing is verified: it is a yardstick for the client, never a store.
import crypto from 'node:crypto';
import http from 'node:http';
import { LOOPBACK } from './util.mjs';

const PATTERN = crypto.randomBytes(8 * 1024 * 1024);
const ETAG = '"0123456789abcdef0123456789abcdef"';

/** Serves `size` bytes of the pattern from `start` on, without copying it. */
function sendPattern(res, start, size) {
  let offset = start % PATTERN.length;
  let left = size;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, PATTERN.length - offset);
      const more = res.write(PATTERN.subarray(offset, offset + n));
      left -= n;
      offset = (offset + n) % PATTERN.length;
      if (!more) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}

/** Starts the sink on 127.0.0.1:port; resolves to { url, close() }. */
export function startS3Sink(port) {
  const sizes = new Map(); // "bucket/key" -> bytes PUT (a multipart object: the sum of its parts)
  const uploads = new Map(); // uploadId -> { key, parts: Map<number, size> }
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, `http://${LOOPBACK}`);
    const key = decodeURIComponent(url.pathname.slice(1));
    const q = url.searchParams;
    const xml = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    const drain = (done) => {
      let n = 0;
      req.on('data', (c) => (n += c.length));
      req.on('end', () => done(n));
    };
    if (req.method === 'PUT' && !key.includes('/')) return drain(() => xml(200, ''));
    if (req.method === 'HEAD' && !key.includes('/')) return xml(200, '');
    if (req.method === 'POST' && q.has('uploads')) {
      const id = crypto.randomUUID();
      uploads.set(id, { key, parts: new Map() });
      return drain(() => xml(200, `<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>${key.split('/')[0]}</Bucket><Key>${key.slice(key.indexOf('/') + 1)}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`));
    }
    if (req.method === 'PUT' && q.has('uploadId')) {
      const upload = uploads.get(q.get('uploadId'));
      return drain((n) => {
        upload?.parts.set(Number(q.get('partNumber')), n);
        res.writeHead(200, { etag: ETAG, 'content-length': 0 });
        res.end();
      });
    }
    if (req.method === 'POST' && q.has('uploadId')) {
      const upload = uploads.get(q.get('uploadId'));
      return drain(() => {
        sizes.set(key, [...(upload?.parts.values() ?? [])].reduce((a, b) => a + b, 0));
        uploads.delete(q.get('uploadId'));
        xml(200, `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>${key.split('/')[0]}</Bucket><Key>${key.slice(key.indexOf('/') + 1)}</Key><ETag>${ETAG}</ETag></CompleteMultipartUploadResult>`);
      });
    }
    if (req.method === 'PUT') return drain((n) => (sizes.set(key, n), res.writeHead(200, { etag: ETAG, 'content-length': 0 }), res.end()));
    if (req.method === 'HEAD' || req.method === 'GET') {
      const size = sizes.get(key);
      if (size === undefined) return xml(404, '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code></Error>');
      const common = { etag: ETAG, 'last-modified': new Date(0).toUTCString(), 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      const start = range ? Number(range[1]) : 0;
      const end = range && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      res.writeHead(range ? 206 : 200, { ...common, 'content-length': end - start + 1, ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}) });
      if (req.method === 'HEAD') return res.end();
      return sendPattern(res, start, end - start + 1);
    }
    xml(501, '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code></Error>');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, LOOPBACK, () => resolve({ url: `http://${LOOPBACK}:${port}`, close: () => new Promise((r) => server.close(() => r())) }));
  });
}
