#!/usr/bin/env node
// The ceiling: the least a durable file server on bare node:http must do, with nothing else.
//   PUT /v1/files/{key}: stream the body to DIR/tmp/<random> while hashing it (sha256), fsync
//     (createWriteStream {flush:true}), rename into DIR/files/<sha256(key)>; 201 {key,size,sha256}.
//   GET /v1/files/{key}: stream the file back (Content-Length, ETag "<sha256>").
//   GET /health/live, /health/ready: 200.
// Usage: node bench/ceiling-server.mjs --port 0 --dir /tmp/x [--host 127.0.0.1]
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' }, dir: { type: 'string' } },
});
if (!values.dir) {
  console.error('ceiling-server: --dir is required');
  process.exit(1);
}
const tmpDir = path.join(values.dir, 'tmp');
const filesDir = path.join(values.dir, 'files');
fs.mkdirSync(tmpDir, { recursive: true });
fs.mkdirSync(filesDir, { recursive: true });
const shaOf = new Map(); // key -> sha256 of its content (for ETag)

const PREFIX = '/v1/files/';
const fileFor = (key) => path.join(filesDir, crypto.createHash('sha256').update(key).digest('hex'));

function send(res, status, obj, headers = {}) {
  const body = obj === undefined ? '' : JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

async function put(req, res, key) {
  const tmp = path.join(tmpDir, crypto.randomBytes(12).toString('hex'));
  const hash = crypto.createHash('sha256');
  let size = 0;
  req.on('data', (chunk) => {
    hash.update(chunk);
    size += chunk.length;
  });
  try {
    await pipeline(req, fs.createWriteStream(tmp, { flush: true }));
    const expected = req.headers['content-length'];
    if (expected !== undefined && +expected !== size) throw Object.assign(new Error('short body'), { status: 400 });
    await fs.promises.rename(tmp, fileFor(key));
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    if (!res.headersSent && !res.destroyed) send(res, err.status ?? 500, { title: err.message });
    return;
  }
  const sha256 = hash.digest('hex');
  shaOf.set(key, sha256);
  send(res, 201, { key, size, sha256 }, { etag: `"${sha256}"` });
}

async function get(req, res, key) {
  const file = fileFor(key);
  let st;
  try {
    st = await fs.promises.stat(file);
  } catch {
    send(res, 404, { title: 'not found' });
    return;
  }
  const headers = { 'content-type': 'application/octet-stream', 'content-length': st.size };
  if (shaOf.has(key)) headers.etag = `"${shaOf.get(key)}"`;
  res.writeHead(200, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  try {
    await pipeline(fs.createReadStream(file), res);
  } catch {
    res.destroy();
  }
}

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  if (url === '/health/live' || url === '/health/ready') return send(res, 200, { status: 'ok' });
  if (!url.startsWith(PREFIX)) return send(res, 404, { title: 'no route' });
  let key;
  try {
    key = decodeURIComponent(url.slice(PREFIX.length).split('?')[0]);
  } catch {
    return send(res, 400, { title: 'bad key' });
  }
  if (!key) return send(res, 400, { title: 'bad key' });
  if (req.method === 'PUT') return void put(req, res, key);
  if (req.method === 'GET' || req.method === 'HEAD') return void get(req, res, key);
  return send(res, 405, { title: 'method not allowed' });
});
server.requestTimeout = 0; // a slow 1 GiB upload must not be cut at Node's default 300 s
server.listen(+values.port, values.host, () => {
  const { address, port } = server.address();
  console.log(`ceiling-server listening on http://${address}:${port} dir=${values.dir}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
