// Large transfers: one big file created once per run, PUT/GET with curl (a Node client caps GET near 370 MiB/s here).
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import { MiB, LOOPBACK } from './util.mjs';
import { trackHelper } from './proc.mjs';

/** Write `mib` MiB of random bytes to dir/large-<mib>MiB.bin; returns {path, size, sha256}. */
export async function makeLargeFile(dir, mib) {
  const file = path.join(dir, `large-${mib}MiB.bin`);
  const chunk = Buffer.allocUnsafe(4 * MiB);
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'w');
  try {
    let left = mib * MiB;
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      crypto.randomFillSync(chunk, 0, n);
      const view = chunk.subarray(0, n);
      hash.update(view);
      let off = 0;
      while (off < n) off += fs.writeSync(fd, view, off, n - off);
      left -= n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { path: file, size: mib * MiB, sha256: hash.digest('hex') };
}

const W = '%{http_code} %{speed_upload} %{speed_download} %{time_total} %{size_upload} %{size_download}';

function runCurl(args, timeoutSec) {
  return new Promise((resolve) => {
    const child = execFile('curl', args, { encoding: 'utf8', timeout: (timeoutSec + 15) * 1000, maxBuffer: 1 * MiB }, (err, stdout, stderr) => {
      const m = (stdout ?? '').trim().split(/\s+/);
      const parsed =
        m.length >= 6
          ? { httpCode: +m[0], speedUpload: +m[1], speedDownload: +m[2], timeTotal: +m[3], sizeUpload: +m[4], sizeDownload: +m[5] }
          : null;
      resolve({ err: err ? `${err.message.split('\n')[0]} ${stderr ?? ''}`.trim() : null, parsed });
    });
    trackHelper(child);
  });
}

function checkUrl(url) {
  if (new URL(url).hostname !== LOOPBACK) throw new Error(`refusing non-loopback URL ${url}`);
}

function headersOf(file) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    const blocks = text.split(/\r?\n\r?\n/).filter((b) => b.trim());
    const last = blocks[blocks.length - 1] ?? ''; // after any "100 Continue"
    const h = {};
    for (const line of last.split(/\r?\n/).slice(1)) {
      const i = line.indexOf(':');
      if (i > 0) h[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    return h;
  } catch {
    return {};
  }
}

/**
 * `curl -sS -T file URL`; verifies a 2xx and, when the server answers JSON with sha256/size, that they match.
 * `extra` goes before the URL (e.g. `--aws-sigv4` for S3).
 */
export async function curlPut(large, url, workDir, extra = []) {
  checkUrl(url);
  const timeoutSec = Math.ceil(60 + large.size / MiB / 2);
  const bodyFile = path.join(workDir, 'put-response.body');
  const hdrFile = path.join(workDir, 'put-response.headers');
  const { err, parsed } = await runCurl(['-sS', '-T', large.path, '--max-time', String(timeoutSec), '-o', bodyFile, '-D', hdrFile, '-w', W, ...extra, url], timeoutSec);
  const result = transferResult(parsed, parsed?.speedUpload, parsed?.sizeUpload);
  let response = null;
  try {
    response = JSON.parse(fs.readFileSync(bodyFile, 'utf8'));
  } catch {
    /* nginx answers without a JSON body */
  }
  result.response = response;
  const problems = [];
  if (err) problems.push(err);
  if (!parsed || parsed.httpCode < 200 || parsed.httpCode > 299) problems.push(`HTTP ${parsed?.httpCode}: ${fs.existsSync(bodyFile) ? fs.readFileSync(bodyFile, 'utf8').slice(0, 300) : ''}`);
  if (parsed && parsed.sizeUpload !== large.size) problems.push(`uploaded ${parsed.sizeUpload} of ${large.size} bytes`);
  if (response?.sha256 && response.sha256 !== large.sha256) problems.push(`server sha256 ${response.sha256} != ${large.sha256}`);
  if (response?.size !== undefined && response.size !== large.size) problems.push(`server size ${response.size} != ${large.size}`);
  result.ok = problems.length === 0;
  result.note = problems.join('; ');
  result.headers = headersOf(hdrFile);
  // curl sends "Expect: 100-continue" for a large upload and waits up to 1 s for the server's "100 Continue"
  try {
    result.got100Continue = /^HTTP\/[\d.]+ 100/m.test(fs.readFileSync(hdrFile, 'utf8'));
  } catch {
    result.got100Continue = false;
  }
  return result;
}

/** What curl's -w line says about one transfer: status, time and speed (what curl measured, and bytes over time). */
function transferResult(parsed, speed, size) {
  const result = { ok: false, mibPerSec: NaN, seconds: NaN, note: '' };
  if (parsed) {
    result.httpCode = parsed.httpCode;
    result.seconds = parsed.timeTotal;
    result.mibPerSec = +(speed / MiB).toFixed(1);
    result.sizeOverTimeMiBps = +(size / MiB / parsed.timeTotal).toFixed(1);
  }
  return result;
}

/**
 * `curl -sS -o /dev/null URL` (or `-o out`, to write the download to disk as a client does); verifies 200, the byte
 * count and (when the ETag is a quoted sha256) the ETag.
 */
export async function curlGet(large, url, workDir, { out = '/dev/null' } = {}) {
  checkUrl(url);
  const timeoutSec = Math.ceil(60 + large.size / MiB / 2);
  const hdrFile = path.join(workDir, 'get-response.headers');
  const { err, parsed } = await runCurl(['-sS', '-o', out, '--max-time', String(timeoutSec), '-D', hdrFile, '-w', W, url], timeoutSec);
  const result = transferResult(parsed, parsed?.speedDownload, parsed?.sizeDownload);
  const headers = headersOf(hdrFile);
  result.headers = headers;
  const problems = [];
  if (err) problems.push(err);
  if (!parsed || parsed.httpCode !== 200) problems.push(`HTTP ${parsed?.httpCode}`);
  if (parsed && parsed.sizeDownload !== large.size) problems.push(`downloaded ${parsed.sizeDownload} of ${large.size} bytes`);
  const etag = headers.etag?.replace(/^W\//, '').replace(/"/g, '');
  if (etag && /^[0-9a-f]{64}$/.test(etag) && etag !== large.sha256) problems.push(`ETag ${etag} != ${large.sha256}`);
  result.ok = problems.length === 0;
  result.note = problems.join('; ');
  return result;
}
