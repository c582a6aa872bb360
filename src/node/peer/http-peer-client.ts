import type { Readable } from 'node:stream';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import type { Entry } from '../storage/entry.js';
import type { ByteRange } from '../storage/range.js';
import { HttpPeerUpload } from './http-peer-upload.js';
import { LEG_IDLE_TIMEOUT_MS, META_TIMEOUT_MS, outcomesOf, type Outcome, type PeerClient, type PeerRef, type PeerUpload, type SendOptions, type WriteBatchOutcome } from './peer-client.js';
import { PeerHttp, withQuery } from './peer-http.js';
import { encodeEntry, encodeEntryBatch, encodeWriteBatch, ENTRY_BATCH_PATH, ENTRY_HEADER, FENCE_BATCH_PATH, META_TRAILER, RECOVERING_HEADER, SHA_TRAILER, SIZE_TRAILER, WRITE_BATCH_PATH, type BatchItem, type DigestAnswer, type EntryPage, type FenceClaim, type FenceReply, type PutResult } from './wire.js';

/**
 * The {@link PeerClient} of a running node: every `/internal/…` call over {@link PeerHttp} (keep-alive, timeouts,
 * streams both ways: a file is never held in memory).
 */
@Injectable()
export class HttpPeerClient implements PeerClient, OnApplicationShutdown {
  private readonly http: PeerHttp;

  constructor(@Inject(APP_CONFIG) config: NodeConfig) {
    this.http = new PeerHttp(config.clusterToken, config.peerSourceAddress);
  }

  /** After the HTTP server has drained: requests in flight may still need their peers. */
  onApplicationShutdown(): void {
    this.http.destroy();
  }

  putEntry(peer: PeerRef, entry: Entry, body: Readable | Buffer, opts: SendOptions = {}): Promise<PutResult> {
    return this.http.json<PutResult>({
      method: 'PUT',
      url: withQuery(peer.url, '/internal/entries'),
      headers: { [ENTRY_HEADER]: encodeEntry(entry), 'content-type': 'application/octet-stream', 'content-length': String(entry.size) },
      body,
      timeoutMs: opts.timeoutMs ?? 0,
      signal: opts.signal,
    });
  }

  openUpload(peer: PeerRef, entry: Entry): PeerUpload {
    const req = this.http.request(
      'PUT',
      withQuery(peer.url, '/internal/entries'),
      {
        [ENTRY_HEADER]: encodeEntry(entry),
        'content-type': 'application/octet-stream',
        'transfer-encoding': 'chunked',
        trailer: `${SHA_TRAILER}, ${SIZE_TRAILER}, ${META_TRAILER}`,
      },
      LEG_IDLE_TIMEOUT_MS,
    );
    return new HttpPeerUpload(peer.id, req);
  }

  putTombstone(peer: PeerRef, entry: Entry, opts: SendOptions = {}): Promise<PutResult> {
    return this.http.json<PutResult>({ method: 'POST', url: withQuery(peer.url, '/internal/tombstones'), json: entry, timeoutMs: opts.timeoutMs ?? META_TIMEOUT_MS, signal: opts.signal });
  }

  fence(peer: PeerRef, key: string, version: string, timeoutMs: number, reserve?: string, release?: boolean): Promise<FenceReply> {
    const json = reserve === undefined ? { key, version } : release ? { key, version, reserve, release } : { key, version, reserve };
    return this.http.json<FenceReply>({ method: 'POST', url: withQuery(peer.url, '/internal/fence'), json, timeoutMs });
  }

  async putEntries(peer: PeerRef, items: BatchItem[], opts: SendOptions = {}): Promise<Outcome<PutResult>[]> {
    const answer = await this.postFrame<{ results: unknown }>(peer, ENTRY_BATCH_PATH, encodeEntryBatch(items), opts);
    return outcomesOf<PutResult>(answer.results, items.length);
  }

  async fenceMany(peer: PeerRef, claims: FenceClaim[], timeoutMs: number): Promise<Outcome<FenceReply>[]> {
    const answer = await this.http.json<{ answers: unknown }>({ method: 'POST', url: withQuery(peer.url, FENCE_BATCH_PATH), json: { claims }, timeoutMs });
    return outcomesOf<FenceReply>(answer.answers, claims.length);
  }

  async writeBatch(peer: PeerRef, claims: FenceClaim[], items: BatchItem[], opts: SendOptions = {}): Promise<WriteBatchOutcome> {
    const answer = await this.postFrame<{ answers: unknown; results: unknown }>(peer, WRITE_BATCH_PATH, encodeWriteBatch(claims, items), opts);
    return { answers: outcomesOf<FenceReply>(answer.answers, claims.length), results: outcomesOf<PutResult>(answer.results, items.length) };
  }

  /** POSTs a batch frame (wire.ts) and reads the JSON answer. */
  private postFrame<T>(peer: PeerRef, route: string, body: Buffer, opts: SendOptions): Promise<T> {
    return this.http.json<T>({
      method: 'POST',
      url: withQuery(peer.url, route),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.length) },
      body,
      timeoutMs: opts.timeoutMs ?? META_TIMEOUT_MS,
      signal: opts.signal,
    });
  }

  async versions(peer: PeerRef, keys: string[], opts: SendOptions = {}): Promise<(Entry | null)[]> {
    const x = { method: 'POST', url: withQuery(peer.url, '/internal/versions'), json: { keys }, timeoutMs: opts.timeoutMs ?? META_TIMEOUT_MS, signal: opts.signal } as const;
    return (await this.http.json<{ entries: (Entry | null)[] }>(x)).entries;
  }

  openBlob(peer: PeerRef, sha256: string, size: number, range?: ByteRange, opts: SendOptions = {}): Promise<Readable> {
    return this.http.stream({
      method: 'GET',
      url: withQuery(peer.url, `/internal/blobs/${sha256}`, { size }),
      headers: range ? { range: `bytes=${range.start}-${range.end}` } : {},
      timeoutMs: META_TIMEOUT_MS,
      signal: opts.signal,
      ok: (s) => s === 200 || s === 206,
    });
  }

  syncDigests(peer: PeerRef, partitions: string, root: string, recovering: boolean, opts: SendOptions = {}): Promise<DigestAnswer> {
    const headers = recovering ? { [RECOVERING_HEADER]: '1' } : {};
    return this.http.json<DigestAnswer>({ method: 'POST', url: withQuery(peer.url, '/internal/sync/digests'), json: { partitions, root }, headers, timeoutMs: META_TIMEOUT_MS, signal: opts.signal });
  }

  partitionEntries(peer: PeerRef, partition: number, after: string | undefined, limit: number, recovering: boolean, opts: SendOptions = {}): Promise<EntryPage> {
    return this.http.json<EntryPage>({
      method: 'GET',
      url: withQuery(peer.url, `/internal/sync/partitions/${partition}`, { limit, after }),
      headers: recovering ? { [RECOVERING_HEADER]: '1' } : {},
      timeoutMs: META_TIMEOUT_MS * 3,
      signal: opts.signal,
    });
  }

  scan(peer: PeerRef, prefix: string, after: string | undefined, limit: number): Promise<EntryPage> {
    return this.http.json<EntryPage>({ method: 'GET', url: withQuery(peer.url, '/internal/entries', { prefix, limit, after }), timeoutMs: META_TIMEOUT_MS });
  }
}
