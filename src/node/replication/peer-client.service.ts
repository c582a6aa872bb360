import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { ShoalError } from '../../common/errors.js';
import { encodeEntry, ENTRY_HEADER } from '../internal/entry-header.js';
import type { Entry } from '../storage/entry.js';
import type { ByteRange } from '../storage/range.js';
import type { Member } from '../membership/merge.js';
import { PeerUpload } from './peer-upload.js';

/** Metadata calls should be quick; a peer that does not answer in this time is treated as unreachable. */
const META_TIMEOUT_MS = 3000;
/** Blob transfers: no total timeout (a file may be large), but a connection idle this long is given up. */
const IDLE_TIMEOUT_MS = 15000;

/**
 * A leg of a client's write that sends nothing for this long is given up (the write then fails or goes on with the
 * other owners). Much shorter than the idle timeout of background transfers: a client is waiting (DESIGN §3 Upload).
 */
export const LEG_IDLE_TIMEOUT_MS = 5000;

export interface SendOptions {
  /** Aborts the transfer (the coordinator gave the write up). */
  signal?: AbortSignal;
  /** Total time allowed; 0 = none. */
  timeoutMs?: number;
}

export interface PutResult {
  applied: boolean;
  version: string;
}

/**
 * The one client for node↔node calls (`/internal/…`, cluster token always). Keep-alive agents, timeouts, and streams
 * both ways: a file is never held in memory.
 */
@Injectable()
export class PeerClientService implements OnApplicationShutdown {
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 64, timeout: IDLE_TIMEOUT_MS });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 64, timeout: IDLE_TIMEOUT_MS });
  private readonly http: AxiosInstance;

  private readonly token: string;

  constructor(@Inject(APP_CONFIG) config: NodeConfig) {
    this.token = config.clusterToken;
    this.http = axios.create({
      httpAgent: this.httpAgent,
      httpsAgent: this.httpsAgent,
      headers: { authorization: `Bearer ${config.clusterToken}` },
      maxBodyLength: Infinity,
      maxContentLength: Infinity,
      maxRedirects: 0,
      proxy: false,
      decompress: false,
    });
  }

  /** After the HTTP server has drained: requests in flight may still need their peers. */
  onApplicationShutdown(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** Sends an entry with its bytes; the peer re-hashes them and refuses a mismatch. */
  async putEntry(peerUrl: string, entry: Entry, body: Readable | Buffer, opts: SendOptions = {}): Promise<PutResult> {
    const res = await this.http.put<PutResult>(`${peerUrl}/internal/entries`, body, {
      headers: { [ENTRY_HEADER]: encodeEntry(entry), 'content-type': 'application/octet-stream', 'content-length': String(entry.size) },
      timeout: opts.timeoutMs ?? 0,
      signal: opts.signal,
    });
    return res.data;
  }

  /** Opens one owner's leg of a pipelined upload (see {@link PeerUpload}). */
  openUpload(peer: Member, entry: Entry): PeerUpload {
    return new PeerUpload(peer.id, peer.url, entry, this.token, this.httpAgent, LEG_IDLE_TIMEOUT_MS);
  }

  /** Applies a tombstone (or any entry whose blob the peer already holds). */
  async putTombstone(peerUrl: string, entry: Entry, opts: SendOptions = {}): Promise<PutResult> {
    return (await this.http.post<PutResult>(`${peerUrl}/internal/tombstones`, entry, { timeout: opts.timeoutMs ?? META_TIMEOUT_MS, signal: opts.signal })).data;
  }

  /**
   * Proposes the version of a new write of `key` (owner fencing, see fencing.ts): the owner's clock observes it and
   * it answers with the version it holds for the key, or null.
   */
  async fence(peerUrl: string, key: string, version: string, timeoutMs: number): Promise<{ held: string | null }> {
    return (await this.http.post<{ held: string | null }>(`${peerUrl}/internal/fence`, { key, version }, { timeout: timeoutMs })).data;
  }

  /** The versions a peer holds for some keys (metadata only); `null` where it holds nothing. */
  async versions(peerUrl: string, keys: string[], timeoutMs = META_TIMEOUT_MS): Promise<(Entry | null)[]> {
    return (await this.http.post<{ entries: (Entry | null)[] }>(`${peerUrl}/internal/versions`, { keys }, { timeout: timeoutMs })).data.entries;
  }

  /** Streams a blob from a peer. The caller verifies the hash of a whole blob. */
  async openBlob(peerUrl: string, sha256: string, size: number, range?: ByteRange): Promise<Readable> {
    const res: AxiosResponse<Readable> = await this.http.get(`${peerUrl}/internal/blobs/${sha256}`, {
      params: { size },
      headers: range ? { range: `bytes=${range.start}-${range.end}` } : {},
      responseType: 'stream',
      timeout: META_TIMEOUT_MS,
      validateStatus: (s) => s === 200 || s === 206,
    });
    return res.data;
  }

  /** Anti-entropy, step 1: compares one root hash over the shared partitions; on a mismatch, the peer's digests. */
  async syncDigests(peerUrl: string, partitions: string, root: string, recovering: boolean): Promise<DigestAnswer> {
    const headers = recovering ? { [RECOVERING_HEADER]: '1' } : {};
    return (await this.http.post<DigestAnswer>(`${peerUrl}/internal/sync/digests`, { partitions, root }, { timeout: META_TIMEOUT_MS, headers })).data;
  }

  /** Anti-entropy, step 2: a page of a peer's entries of one partition (tombstones included), in key order. */
  async partitionEntries(peerUrl: string, partition: number, after: string | undefined, limit: number, recovering: boolean): Promise<{ entries: Entry[]; truncated: boolean }> {
    const res = await this.http.get<{ entries: Entry[]; truncated: boolean }>(`${peerUrl}/internal/sync/partitions/${partition}`, {
      params: { limit, ...(after !== undefined ? { after } : {}) },
      headers: recovering ? { [RECOVERING_HEADER]: '1' } : {},
      timeout: META_TIMEOUT_MS * 3,
    });
    return res.data;
  }

  /** A page of a peer's local entries in key order (tombstones included), for cluster-wide listing. */
  async scan(peerUrl: string, prefix: string, after: string | undefined, limit: number): Promise<{ entries: Entry[]; truncated: boolean }> {
    const res = await this.http.get<{ entries: Entry[]; truncated: boolean }>(`${peerUrl}/internal/entries`, {
      params: { prefix, limit, ...(after !== undefined ? { after } : {}) },
      timeout: META_TIMEOUT_MS,
    });
    return res.data;
  }
}

/**
 * Sent by a recovering node on its sync requests: another recovering node may answer it (after a whole-cluster
 * outage longer than the TTL nobody else could), while a ready node never pulls from a recovering one.
 */
export const RECOVERING_HEADER = 'x-shoal-recovering';

export interface DigestAnswer {
  equal: boolean;
  /** hex digest by partition, when the roots differ */
  digests?: Record<string, string>;
}

/** A short reason for logs and hints: status and problem code, or the socket error. */
export function peerError(err: unknown): string {
  if (err instanceof ShoalError) return err.code;
  const e = err as { response?: { status?: number; data?: { code?: string } }; code?: string; message?: string };
  if (e.response?.status) return `HTTP ${e.response.status}${e.response.data && typeof e.response.data === 'object' && e.response.data.code ? ` ${e.response.data.code}` : ''}`;
  return e.code ?? e.message ?? String(err);
}
