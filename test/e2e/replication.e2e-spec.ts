import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FileInfoDto, FileListDto } from '../../src/node/api/files.dto.js';
import { deleteFile, fileUrl, getFile, inBatches, listAll, localItems, metric, nodeInfo, putFile, sha256 } from '../support/files.js';
import { requestJson } from '../support/http.js';
import { pollUntil, sleep } from '../support/poll-until.js';
import type { ShoalProcess } from '../support/processes.js';
import { type Cluster, startCluster } from '../support/start-cluster.js';
import { withLogs } from '../support/with-logs.js';

/**
 * Replication end to end (DESIGN §3) with real processes: quorum writes and reads, deletes, hinted handoff, refusal
 * below W, placement spread, cluster-wide listing (complete, or refused when it could not be), last-writer-wins
 * convergence, proxied downloads and read-repair.
 * A "hung" node is SIGSTOPped (it keeps its sockets but answers nothing) and SIGCONTed afterwards.
 *
 * Anti-entropy is kept out of the way so that what these tests see comes from the write, read and handoff paths, not
 * from a background sync that happened to run: each cluster waits for every node's first sync round (which runs a few
 * seconds after start whatever SYNC_INTERVAL_MS is) before writing anything, and the next round is an hour away.
 */
const SYNC_OFF: Record<string, string> = { SYNC_INTERVAL_MS: '3600000' };
const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------------------------
// HTTP helpers: test/support/files.ts

/** Until every node has finished its first anti-entropy round and is `ready` (see the note at the top). */
async function firstSyncDone(nodes: ShoalProcess[]): Promise<void> {
  await pollUntil(async () => {
    for (const n of nodes) {
      const info = await nodeInfo(n);
      if (info.state !== 'ready' || !info.sync?.lastRoundAt) throw new Error(`${n.name} is ${info.state}, last sync round ${info.sync?.lastRoundAt}`);
    }
  }, { timeoutMs: 20_000, intervalMs: 200, message: 'the nodes did not finish a first sync round' });
}

// ---------------------------------------------------------------------------------------------------------------
// Freezing nodes (SIGSTOP) and waiting until the others see it

class Freezer {
  readonly stopped = new Set<ShoalProcess>();
  private ids = new Map<ShoalProcess, string>();

  constructor(private readonly cluster: () => Cluster) {}

  /** The describe's hooks: thaw what a test left frozen; at the end resume anything still stopped and stop the cluster. */
  thawAfterEachAndStopAfterAll(): void {
    afterEach(async () => {
      if (this.stopped.size > 0) await this.thawAll();
    }, 30_000);
    afterAll(async () => {
      for (const n of [...this.stopped]) if (n.running) n.kill('SIGCONT');
      await this.cluster()?.stop();
    });
  }

  async idOf(node: ShoalProcess): Promise<string> {
    let id = this.ids.get(node);
    if (!id) {
      id = (await nodeInfo(node)).id;
      this.ids.set(node, id);
    }
    return id;
  }

  async freeze(node: ShoalProcess): Promise<void> {
    await this.idOf(node);
    node.kill('SIGSTOP');
    this.stopped.add(node);
  }

  thaw(node: ShoalProcess): void {
    node.kill('SIGCONT');
    this.stopped.delete(node);
  }

  /** Until every running, unfrozen node (or `observers`) reports `target` with `status` in GET /v1/node. */
  async seen(target: ShoalProcess, status: 'up' | 'down', observers?: ShoalProcess[]): Promise<void> {
    const id = await this.idOf(target);
    const who = (observers ?? this.cluster().nodes).filter((n) => n !== target && n.running && !this.stopped.has(n));
    await pollUntil(
      async () => {
        for (const o of who) {
          const seenAs = (await nodeInfo(o)).members.find((m) => m.id === id)?.status;
          if (seenAs !== status) throw new Error(`${o.name} sees ${target.name} as ${seenAs}`);
        }
      },
      { timeoutMs: 15_000, intervalMs: 100, message: `${target.name} was not seen ${status}` },
    );
  }

  /** Resumes every frozen node and waits until the whole cluster sees every node up again. */
  async thawAll(): Promise<void> {
    for (const n of [...this.stopped]) this.thaw(n);
    const c = this.cluster();
    await c.waitForMembership();
    for (const n of c.nodes) await this.seen(n, 'up');
  }
}

// ---------------------------------------------------------------------------------------------------------------

describe('replication: 3 nodes, N=3 W=2 R=2', () => {
  let cluster: Cluster;
  let nodes: ShoalProcess[];
  const freezer = new Freezer(() => cluster);

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3, nodeEnv: { REPLICATION_FACTOR: '3', WRITE_QUORUM: '2', READ_QUORUM: '2', ...SYNC_OFF } });
    nodes = cluster.nodes;
    for (const n of nodes) await freezer.seen(n, 'up');
    await firstSyncDone(nodes);
  }, 60_000);

  freezer.thawAfterEachAndStopAfterAll();

  it('an upload through node 1 is stored on all three and reads back identical through node 3', withLogs(() => cluster, async () => {
    const data = randomBytes(200 * 1024);
    const put = await putFile(nodes[0], 'basic/photo.bin', data, 'image/x-test');
    expect(put.status).toBe(201);
    expect(put.body).toMatchObject({ key: 'basic/photo.bin', size: data.length, sha256: sha256(data), contentType: 'image/x-test', replicas: 3 });
    const ids = await Promise.all(nodes.map((n) => freezer.idOf(n)));
    expect([...put.body.nodes].sort()).toEqual([...ids].sort());

    const got = await getFile(nodes[2], 'basic/photo.bin');
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('image/x-test');
    expect(got.headers.get('etag')).toBe(`"${sha256(data)}"`);
    expect(got.body.equals(data)).toBe(true);

    for (const n of nodes) {
      const local = await localItems(n, 'basic/', 50);
      expect(local.map((i) => [i.key, i.version, i.sha256])).toEqual([['basic/photo.bin', put.body.version, sha256(data)]]);
    }
  }));

  it('a delete through node 2 is a 404 through every node and leaves every local listing', withLogs(() => cluster, async () => {
    const data = randomBytes(1000);
    expect((await putFile(nodes[0], 'del/gone.txt', data)).status).toBe(201);
    expect((await getFile(nodes[1], 'del/gone.txt')).status).toBe(200);

    expect(await deleteFile(nodes[1], 'del/gone.txt')).toBe(204);
    for (const n of nodes) expect((await getFile(n, 'del/gone.txt')).status).toBe(404);
    await pollUntil(async () => {
      for (const n of nodes) expect(await localItems(n, 'del/', 50)).toEqual([]);
    }, { timeoutMs: 5000, message: 'the deleted file stayed in a local listing' });
    // A second delete finds nothing live.
    expect(await deleteFile(nodes[2], 'del/gone.txt')).toBe(404);
    expect((await listAll(nodes[2], 'del/', { limit: 1000 })).items).toEqual([]);
  }));

  it('with one node hung, an upload succeeds on 2 replicas and the hung node gets it once it is back (hinted handoff)', withLogs(() => cluster, async () => {
    const [a, b, hung] = nodes;
    await freezer.freeze(hung);
    await freezer.seen(hung, 'down');

    const data = randomBytes(64 * 1024);
    const put = await putFile(a, 'hint/late.bin', data);
    expect(put.status).toBe(201);
    expect(put.body.replicas).toBe(2);
    expect([...put.body.nodes].sort()).toEqual([await freezer.idOf(a), await freezer.idOf(b)].sort());
    // The hint is recorded just after the answer (the straggler bookkeeping runs once every owner has settled).
    await pollUntil(async () => expect((await nodeInfo(a)).handoffPending).toBeGreaterThanOrEqual(1), { timeoutMs: 3000, message: 'no hint recorded' });
    // Readable meanwhile through the other owner.
    expect((await getFile(b, 'hint/late.bin')).body.equals(data)).toBe(true);

    freezer.thaw(hung);
    await pollUntil(async () => {
      expect((await localItems(hung, 'hint/', 50)).map((i) => [i.key, i.version, i.sha256])).toEqual([['hint/late.bin', put.body.version, sha256(data)]]);
    }, { timeoutMs: 15_000, message: 'the hint was not delivered to the node that missed the write' });
    await pollUntil(async () => expect((await nodeInfo(a)).handoffPending).toBe(0), { timeoutMs: 5000, message: 'the hint was not removed' });
    const got = await getFile(hung, 'hint/late.bin');
    expect(got.status).toBe(200);
    expect(got.body.equals(data)).toBe(true);
  }), 45_000);

  it('with two nodes hung, an upload is refused with 503 INSUFFICIENT_REPLICAS and nothing is stored anywhere', withLogs(() => cluster, async () => {
    const [a, b, c] = nodes;
    await freezer.freeze(b);
    await freezer.freeze(c);
    await freezer.seen(b, 'down', [a]);
    await freezer.seen(c, 'down', [a]);

    const put = await putFile(a, 'refused/never.bin', randomBytes(4096));
    expect(put.status).toBe(503);
    expect(put.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(put.body.code).toBe('INSUFFICIENT_REPLICAS');
    expect(Number(put.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await nodeInfo(a)).handoffPending).toBe(0);

    await freezer.thawAll();
    await sleep(1200); // longer than one handoff round: had anything been hinted, it would have moved by now
    for (const n of nodes) {
      expect(await localItems(n, 'refused/', 50)).toEqual([]);
      expect((await getFile(n, 'refused/never.bin')).status).toBe(404);
      expect((await nodeInfo(n)).handoffPending).toBe(0);
    }
    expect((await listAll(b, 'refused/', { limit: 1000 })).items).toEqual([]);
  }), 45_000);

  it('lists 120 keys cluster-wide through any node, 25 a page, each once in key order — also with a node hung', withLogs(() => cluster, async () => {
    const keys = Array.from({ length: 120 }, (_, i) => `list/k-${String(i).padStart(3, '0')}`);
    const puts = await inBatches(keys, 20, (k, i) => putFile(nodes[i % 3], k, Buffer.from(`content of ${k}`)));
    expect(puts.map((p) => p.status)).toEqual(keys.map(() => 201));
    // A key outside the prefix and a deleted key inside it must not show up.
    expect((await putFile(nodes[0], 'listz', Buffer.from('x'))).status).toBe(201);
    expect((await putFile(nodes[1], 'list/zz-deleted', Buffer.from('x'))).status).toBe(201);
    expect(await deleteFile(nodes[2], 'list/zz-deleted')).toBe(204);

    const walk = async (via: ShoalProcess) => {
      const { items, pages } = await listAll(via, 'list/', { limit: 25 });
      expect(items.map((i) => i.key)).toEqual(keys); // every key once, in key order
      expect(pages).toBeGreaterThanOrEqual(5);
      expect(pages).toBeLessThanOrEqual(6); // 4 full pages and 20, perhaps an empty last page
      const byKey = new Map(puts.map((p) => [p.body.key, p.body]));
      for (const it of items) expect([it.version, it.sha256]).toEqual([byKey.get(it.key)!.version, byKey.get(it.key)!.sha256]);
    };
    for (const n of nodes) await walk(n);

    const hung = nodes[1];
    await freezer.freeze(hung);
    await freezer.seen(hung, 'down');
    await walk(nodes[0]);
    await walk(nodes[2]);
  }), 45_000);

  it('20 concurrent writes of one key through different nodes converge on the newest version everywhere', withLogs(() => cluster, async () => {
    const key = 'race/one-key';
    const bodies = Array.from({ length: 20 }, (_, i) => Buffer.concat([Buffer.from(`writer ${i}: `), randomBytes(2000 + i * 997)]));
    const puts = await Promise.all(bodies.map((b, i) => putFile(nodes[i % 3], key, b)));
    expect(puts.map((p) => p.status)).toEqual(bodies.map(() => 201));
    const versions = puts.map((p) => p.body.version);
    expect(new Set(versions).size).toBe(20); // every write got its own version
    const newest = [...versions].sort().at(-1)!;
    const winner = bodies[versions.indexOf(newest)];

    await pollUntil(async () => {
      for (const n of nodes) {
        const local = await localItems(n, 'race/', 50);
        expect([n.name, local.map((i) => [i.key, i.version, i.sha256])]).toEqual([n.name, [[key, newest, sha256(winner)]]]);
      }
    }, { timeoutMs: 10_000, message: 'the replicas did not converge on the newest version' });
    for (const n of nodes) {
      const got = await getFile(n, key);
      expect(got.status).toBe(200);
      expect(got.headers.get('x-shoal-version')).toBe(newest);
      expect(sha256(got.body)).toBe(sha256(winner));
    }
  }), 30_000);

  it('a read repairs an owner that missed an overwrite (read-repair, with the coordinator and its hint frozen)', withLogs(() => cluster, async () => {
    const [writer, reader, stale] = nodes;
    const key = 'repair/doc.bin';
    const v1 = randomBytes(30 * 1024);
    const v2 = randomBytes(30 * 1024);
    const first = await putFile(writer, key, v1);
    expect(first.status).toBe(201);
    expect(first.body.replicas).toBe(3);

    await freezer.freeze(stale);
    await freezer.seen(stale, 'down');
    const second = await putFile(writer, key, v2);
    expect(second.status).toBe(201);
    expect(second.body.replicas).toBe(2);

    // Freeze the writer, which holds the only hint for `stale`: whatever brings v2 to `stale` now is the read.
    await freezer.freeze(writer);
    freezer.thaw(stale);
    await freezer.seen(writer, 'down', [reader, stale]);
    await freezer.seen(stale, 'up', [reader]);
    expect((await localItems(stale, 'repair/', 50)).map((i) => i.version)).toEqual([first.body.version]);
    const repairsBefore = await metric(reader, 'shoal_read_repairs_total');

    const got = await getFile(reader, key);
    expect(got.status).toBe(200);
    expect(got.headers.get('x-shoal-version')).toBe(second.body.version);
    expect(got.body.equals(v2)).toBe(true);

    await pollUntil(async () => {
      expect((await localItems(stale, 'repair/', 50)).map((i) => [i.version, i.sha256])).toEqual([[second.body.version, sha256(v2)]]);
    }, { timeoutMs: 10_000, message: 'the stale owner was not repaired by the read' });
    expect(await metric(reader, 'shoal_read_repairs_total')).toBeGreaterThan(repairsBefore);
    const fromStale = await getFile(stale, key);
    expect(fromStale.body.equals(v2)).toBe(true);
  }), 45_000);

  it('concurrent small uploads and reads through node 1 travel in batches, and every owner holds every file identically', withLogs(() => cluster, async () => {
    const keys = Array.from({ length: 96 }, (_, i) => `batch/f${i}.bin`);
    const bodies = keys.map(() => randomBytes(4096));
    const route = (r: string) => metric(nodes[1], 'shoal_http_request_duration_seconds_count', { route: r });
    const older = async () => (await route('/internal/entries/batch')) + (await route('/internal/fence/batch')) + (await route('/internal/fence'));
    const before = { writes: await route('/internal/writes/batch'), older: await older(), versions: await route('/internal/versions') };
    const puts = await inBatches(keys, 32, (k, i) => putFile(nodes[0], k, bodies[i]));
    for (const p of puts) expect(p.status).toBe(201);
    for (const p of puts) expect(p.body.replicas).toBeGreaterThanOrEqual(2);
    const gets = await inBatches(keys, 32, (k) => getFile(nodes[0], k));
    for (const [i, g] of gets.entries()) expect(g.status === 200 && g.body.equals(bodies[i])).toBe(true);
    // Node 2 (an owner of every key) was sent fewer write batches (claims and entries together) than files, and
    // nothing on the older routes (single fences, protocol 2's separate batches).
    const batches = (await route('/internal/writes/batch')) - before.writes;
    expect(batches).toBeGreaterThan(0);
    expect(batches).toBeLessThan(keys.length);
    expect((await older()) - before.older).toBe(0);
    expect((await route('/internal/versions')) - before.versions).toBeLessThan(keys.length);
    // Every owner ends up with every file at the same version and content.
    const want = keys.map((k, i) => [k, puts[i].body.version, sha256(bodies[i])]).sort((x, y) => (x[0] < y[0] ? -1 : 1));
    await pollUntil(async () => {
      for (const n of nodes) expect((await localItems(n, 'batch/', 500)).map((i) => [i.key, i.version, i.sha256])).toEqual(want);
    }, { timeoutMs: 5000, message: 'an owner lacks a batched file' });
  }));

  it('with one node hung mid-load, small uploads still answer with 2 replicas and the batches it missed reach it as hints', withLogs(() => cluster, async () => {
    const [a, , hung] = nodes;
    // Frozen, not yet seen down: its batches are sent and go unanswered until the leg's timeout.
    await freezer.freeze(hung);
    const keys = Array.from({ length: 32 }, (_, i) => `batch-hung/f${i}.bin`);
    const bodies = keys.map(() => randomBytes(2048));
    const puts = await inBatches(keys, 32, (k, i) => putFile(a, k, bodies[i]));
    for (const p of puts) expect([p.status, p.body.replicas]).toEqual([201, 2]);
    freezer.thaw(hung);
    await pollUntil(async () => {
      const held = await localItems(hung, 'batch-hung/', 500);
      expect(held.length).toBe(keys.length);
    }, { timeoutMs: 30_000, intervalMs: 250, message: 'the hung node did not get the writes it missed' });
    for (const [i, k] of keys.entries()) {
      const held = (await localItems(hung, k, 1))[0];
      expect([held.version, held.sha256]).toEqual([puts[i].body.version, sha256(bodies[i])]);
    }
  }));
});

describe('replication: 4 nodes, N=2 W=2 R=1', () => {
  let cluster: Cluster;
  let nodes: ShoalProcess[];
  const freezer = new Freezer(() => cluster);

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 4, nodeEnv: { REPLICATION_FACTOR: '2', WRITE_QUORUM: '2', READ_QUORUM: '1', ...SYNC_OFF } });
    nodes = cluster.nodes;
    // Every node must place keys over all four before uploads start.
    await pollUntil(async () => {
      for (const n of nodes) {
        const info = await nodeInfo(n);
        expect(info.members.filter((m) => m.status === 'up')).toHaveLength(4);
        expect(info.quorums).toEqual({ n: 2, w: 2, r: 1 });
      }
    }, { timeoutMs: 15_000, message: 'the nodes did not all see 4 members' });
    await firstSyncDone(nodes);
  }, 60_000);

  freezer.thawAfterEachAndStopAfterAll();

  it('200 keys: each on exactly 2 nodes, spread over all 4', withLogs(() => cluster, async () => {
    const keys = Array.from({ length: 200 }, (_, i) => `spread/key-${String(i).padStart(3, '0')}`);
    const puts = await inBatches(keys, 25, (k, i) => putFile(nodes[i % 4], k, Buffer.from(`bytes of ${k} ${'.'.repeat(i)}`)));
    for (const p of puts) {
      expect(p.status).toBe(201);
      expect(p.body.replicas).toBe(2);
      expect(new Set(p.body.nodes).size).toBe(2);
    }
    const ids = await Promise.all(nodes.map(async (n) => (await nodeInfo(n)).id));
    const holders = new Map<string, string[]>(keys.map((k) => [k, []]));
    const share: number[] = [];
    for (const [i, n] of nodes.entries()) {
      const items = await localItems(n, 'spread/', 50);
      share.push(items.length);
      for (const it of items) holders.get(it.key)?.push(ids[i]);
    }
    for (const [i, k] of keys.entries()) {
      expect([k, holders.get(k)!.sort()]).toEqual([k, [...puts[i].body.nodes].sort()]);
    }
    expect(share.reduce((a, b) => a + b, 0)).toBe(400);
    // ~100 each (binomial, σ ≈ 7): all four hold a fair share.
    for (const s of share) {
      expect(s).toBeGreaterThan(60);
      expect(s).toBeLessThan(140);
    }
  }), 30_000);

  it('with both owners of some keys down, the cluster-wide listing is refused rather than silently incomplete', withLogs(() => cluster, async () => {
    const keys = Array.from({ length: 80 }, (_, i) => `gap/k-${String(i).padStart(3, '0')}`);
    const puts = await inBatches(keys, 20, (k, i) => putFile(nodes[i % 4], k, Buffer.from(k)));
    expect(puts.map((p) => p.status)).toEqual(keys.map(() => 201));
    const [c, d] = [nodes[2], nodes[3]];
    const onlyOnCD = new Set(keys);
    for (const n of [nodes[0], nodes[1]]) for (const it of await localItems(n, 'gap/', 50)) onlyOnCD.delete(it.key);
    expect(onlyOnCD.size).toBeGreaterThan(0); // ~1/6 of the keys live on exactly {c, d}: P(none of 80) ≈ 5e-7

    await freezer.freeze(c);
    await freezer.freeze(d);
    await freezer.seen(c, 'down');
    await freezer.seen(d, 'down');
    for (const via of [nodes[0], nodes[1]]) {
      const res = await requestJson<FileListDto & { code?: string }>(`${via.url}/v1/files?prefix=gap/&limit=1000`);
      // Either a complete answer or 503; never a 200 that leaves out the keys whose owners are both down.
      if (res.status === 200) expect(res.body.items.map((i) => i.key)).toEqual(keys);
      else {
        expect(res.status).toBe(503);
        expect(res.body.code).toBe('INSUFFICIENT_REPLICAS');
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      }
    }
  }), 45_000);

  it('a 256 MiB file downloads through a node that does not hold it, with identical bytes and flat memory', withLogs(() => cluster, async () => {
    const key = 'big/blob-256m.bin';
    const size = 256 * MiB;
    const up = await uploadGenerated(nodes[0], key, size);
    expect(up.status).toBe(201);
    const info = JSON.parse(up.text) as FileInfoDto;
    expect(info).toMatchObject({ size, sha256: up.sha256, replicas: 2 });

    const held = await Promise.all(nodes.map(async (n) => (await localItems(n, 'big/', 50)).length > 0));
    expect(held.filter(Boolean)).toHaveLength(2);
    const proxy = nodes[held.indexOf(false)];

    const before = rss(proxy.pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rss(proxy.pid))), 100);
    let down: { status: number; size: number; sha256: string };
    try {
      down = await downloadHashed(proxy, key);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, rss(proxy.pid));
    expect(down.status).toBe(200);
    expect(down.size).toBe(size);
    expect(down.sha256).toBe(up.sha256);
    expect(await metric(proxy, 'shoal_proxy_reads_total')).toBeGreaterThanOrEqual(1);
    expect(await localItems(proxy, 'big/', 50)).toEqual([]); // proxied, not copied
    const grewMiB = (peak - before) / MiB;
    expect(grewMiB).toBeLessThan(100);
  }), 120_000);
});

// ---------------------------------------------------------------------------------------------------------------
// Large transfers: generated and hashed on the fly, never held in memory

/** PUTs `size` pseudo-random bytes, generated 1 MiB at a time, and returns the answer and the hash of what was sent. */
async function uploadGenerated(node: ShoalProcess, key: string, size: number): Promise<{ status: number; text: string; sha256: string }> {
  const hash = createHash('sha256');
  function* chunks(): Generator<Buffer> {
    for (let sent = 0; sent < size; ) {
      const chunk = randomBytes(Math.min(MiB, size - sent));
      hash.update(chunk);
      sent += chunk.length;
      yield chunk;
    }
  }
  const req = http.request(fileUrl(node, key), {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
  });
  req.setTimeout(60_000, () => req.destroy(new Error('upload timed out')));
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  await pipeline(Readable.from(chunks()), req);
  const res = await response;
  let text = '';
  for await (const c of res) text += String(c);
  return { status: res.statusCode ?? 0, text, sha256: hash.digest('hex') };
}

/** GETs a file and hashes it as it streams in. */
function downloadHashed(node: ShoalProcess, key: string): Promise<{ status: number; size: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(fileUrl(node, key), (res) => {
      const hash = createHash('sha256');
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        hash.update(c);
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, size, sha256: hash.digest('hex') }));
      res.once('error', reject);
    });
    req.setTimeout(60_000, () => req.destroy(new Error('download timed out')));
    req.once('error', reject);
  });
}

/** Resident set size of a process, from /proc/<pid>/status (bytes). */
function rss(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}
