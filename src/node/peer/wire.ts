import { ShoalError } from '../../common/errors.js';
import { checkEntryMeta, type Entry, type EntryMeta } from '../storage/entry.js';
import { VERSION_PATTERN } from '../storage/hlc.js';
import { MAX_STORED_KEY_BYTES, validateKey } from '../storage/keys.js';
import { INLINE_MAX_BYTES } from '../storage/staging.js';

/**
 * The node↔node wire protocol (`/internal/…`, DESIGN §2): header names and the shapes both sides agree on. The client
 * (http-peer-client.ts) and the routes that serve it (internal.controller.ts, sync-internal.controller.ts) import this
 * file, never each other. Nodes of two releases talk during a rolling upgrade: change nothing here incompatibly.
 */

/** An entry travels between nodes in the `X-Shoal-Entry` header (base64url JSON) so the body can be the raw blob. */
export const ENTRY_HEADER = 'x-shoal-entry';
/** Trailers that complete a streamed entry: the coordinator knows the hash and size only at the end of the body. */
export const SHA_TRAILER = 'x-shoal-sha256';
export const SIZE_TRAILER = 'x-shoal-size';
/**
 * Optional trailer of a streamed entry: metadata only known at the end of the body (S3's ETag is the body's MD5),
 * base64url JSON merged into the entry's `meta`. Nodes that predate it ignore it (the entry then lacks those fields).
 */
export const META_TRAILER = 'x-shoal-meta';

/**
 * Sent by a recovering node on its sync requests: another recovering node may answer it (after a whole-cluster
 * outage longer than the TTL nobody else could), while a ready node never pulls from a recovering one.
 */
export const RECOVERING_HEADER = 'x-shoal-recovering';

/** An owner's answer to an entry it was sent: whether it applied it, and the version it now holds for the key. */
export interface PutResult {
  applied: boolean;
  version: string;
}

/** An owner's answer to a proposed version (owner fencing): the version it holds for the key, or null. */
export interface FenceReply {
  held: string | null;
  /** whether what it holds is a tombstone (sent since conditional writes; older nodes leave it out) */
  deleted?: boolean;
  /** for a proposal that asked to reserve the key (a conditional write): whether this owner granted it */
  reserved?: boolean;
}

/** Anti-entropy, step 1: equal roots, or the peer's digest of each partition asked about. */
export interface DigestAnswer {
  equal: boolean;
  /** hex digest by partition, when the roots differ */
  digests?: Record<string, string>;
}

/** A page of entries in key order (tombstones included). */
export interface EntryPage {
  entries: Entry[];
  truncated: boolean;
}

export function encodeEntry(e: Entry): string {
  return Buffer.from(JSON.stringify(e)).toString('base64url');
}

/**
 * A streamed entry arrives before its content is known: its `sha256` is empty and its `size` 0 until the trailers
 * (see http-peer-upload.ts) complete it.
 */
export function isPendingEntry(e: Entry): boolean {
  return !e.deleted && e.sha256 === '';
}

/** The metadata a streamed entry's trailer adds (see META_TRAILER); undefined when there is none. */
export function decodeMetaTrailer(raw: string | undefined): EntryMeta | undefined {
  if (raw === undefined || raw === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw new ShoalError('BAD_REQUEST', `malformed ${META_TRAILER} trailer`);
  }
  const meta = checkEntryMeta(parsed);
  if (!meta) throw new ShoalError('BAD_REQUEST', `malformed ${META_TRAILER} trailer`);
  return meta;
}

export function encodeMetaTrailer(meta: EntryMeta): string {
  return Buffer.from(JSON.stringify(meta)).toString('base64url');
}

export function decodeEntry(raw: unknown): Entry {
  if (typeof raw !== 'string') throw new ShoalError('BAD_REQUEST', `missing ${ENTRY_HEADER} header`);
  let e: Entry;
  try {
    e = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Entry;
  } catch {
    throw new ShoalError('BAD_REQUEST', `malformed ${ENTRY_HEADER} header`);
  }
  return checkEntry(e);
}

/** Validates an entry received from a peer: never trust the wire. */
export function checkEntry(e: Entry): Entry {
  const ok =
    typeof e === 'object' && e !== null &&
    typeof e.version === 'string' && VERSION_PATTERN.test(e.version) &&
    typeof e.deleted === 'boolean' &&
    typeof e.size === 'number' && Number.isSafeInteger(e.size) && e.size >= 0 &&
    typeof e.updatedAt === 'number' &&
    typeof e.contentType === 'string' && e.contentType.length <= 1024 &&
    typeof e.sha256 === 'string' && (e.sha256 === '' || /^[0-9a-f]{64}$/.test(e.sha256)) && (e.deleted ? e.sha256 === '' : true);
  const meta = checkEntryMeta(e.meta);
  if (!ok || (e.meta !== undefined && e.meta !== null && meta === undefined)) throw new ShoalError('BAD_REQUEST', 'malformed entry');
  validateKey(e.key, MAX_STORED_KEY_BYTES);
  const out: Entry = { key: e.key, version: e.version, sha256: e.sha256, size: e.size, contentType: e.contentType, updatedAt: e.updatedAt, deleted: e.deleted };
  if (meta) out.meta = meta;
  return out;
}

/**
 * Batched small writes (protocol 2, `POST /internal/entries/batch`): many inline-sized entries for one owner in one
 * request, applied there together (one group commit) and answered one outcome per entry. A node of the previous
 * release answers the route with 404; the sender then falls back to one request per entry (peer/batching-peer-client.ts).
 * Body: a 4-byte big-endian length, that many bytes of JSON `{ entries: Entry[] }`, then each live entry's bytes in
 * order (`size` bytes each; a tombstone has none).
 */
export const ENTRY_BATCH_PATH = '/internal/entries/batch';
/** Batched fence proposals (protocol 2): `{ claims: [{ key, version }] }` → `{ answers: BatchAnswer<FenceReply>[] }`. */
export const FENCE_BATCH_PATH = '/internal/fence/batch';
/**
 * Protocol 3: the fence claims of new writes and the entries of writes already fenced, for one owner, in one request
 * (half the requests of sending them on the two routes above). Body: the entry batch's frame with the manifest
 * `{ claims: [{ key, version }], entries: Entry[] }`; answer `{ answers: BatchAnswer<FenceReply>[], results:
 * BatchAnswer<PutResult>[] }`, one per claim and one per entry. A node of protocol 2 answers 404; the sender then uses
 * the two routes above (peer/batching-peer-client.ts).
 */
export const WRITE_BATCH_PATH = '/internal/writes/batch';
/** Bounds of one batch, checked by the receiver (the sender's caps are lower: peer/coalescer.ts). */
export const MAX_BATCH_ENTRIES = 256;
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** A batch carries only entries this small (they are stored inline, DESIGN §4): large files stream on their own. */
export const MAX_BATCHED_ENTRY_BYTES = INLINE_MAX_BYTES;

/** One entry's outcome in a batch: its answer, or the refusal it would have had on its own request. */
export type BatchAnswer<T> = T | { error: { status: number; code?: string; detail?: string } };

export function isBatchError<T>(a: BatchAnswer<T>): a is { error: { status: number; code?: string; detail?: string } } {
  return typeof a === 'object' && a !== null && 'error' in a;
}

/**
 * The claims of a fence batch, checked by hand: the route skips the validation pipe, whose per-claim cost was larger
 * than the owner's own work on a claim. Each key is validated where the claim is judged (InternalService.fence).
 */
export function checkFenceClaims(raw: unknown): FenceClaim[] {
  const claims = typeof raw === 'object' && raw !== null ? (raw as { claims?: unknown }).claims : undefined;
  if (!Array.isArray(claims) || claims.length > MAX_BATCH_ENTRIES) throw new ShoalError('BAD_REQUEST', `claims must be an array of at most ${MAX_BATCH_ENTRIES}`);
  return claims.map((c: unknown) => {
    const { key, version } = (typeof c === 'object' && c !== null ? c : {}) as { key?: unknown; version?: unknown };
    if (typeof key !== 'string' || typeof version !== 'string' || !VERSION_PATTERN.test(version)) throw new ShoalError('BAD_REQUEST', 'a claim is { key, version }');
    return { key, version };
  });
}

/** The most keys one version query may name (a batch of concurrent reads' keys, BatchingPeerClient). */
export const MAX_VERSION_KEYS = 10_000;

/** The keys of a version query, checked by hand as the fence claims are; each key is only looked up. */
export function checkVersionKeys(raw: unknown): string[] {
  const keys = typeof raw === 'object' && raw !== null ? (raw as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys) || keys.length > MAX_VERSION_KEYS || !keys.every((k) => typeof k === 'string')) throw new ShoalError('BAD_REQUEST', `keys must be an array of at most ${MAX_VERSION_KEYS} strings`);
  return keys as string[];
}

/** A proposal of a new write's version to one owner (replication/fencing.ts). */
export interface FenceClaim {
  key: string;
  version: string;
}

export interface BatchItem {
  entry: Entry;
  /** the entry's bytes (absent for a tombstone) */
  data?: Buffer;
}

export function encodeEntryBatch(items: BatchItem[]): Buffer {
  return encodeFrame({ entries: items.map((i) => i.entry) }, items);
}

/** The body of a write batch (WRITE_BATCH_PATH): claims in the manifest beside the entries. */
export function encodeWriteBatch(claims: FenceClaim[], items: BatchItem[]): Buffer {
  return encodeFrame({ claims, entries: items.map((i) => i.entry) }, items);
}

function encodeFrame(json: object, items: BatchItem[]): Buffer {
  const manifest = Buffer.from(JSON.stringify(json));
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(manifest.length, 0);
  return Buffer.concat([head, manifest, ...items.flatMap((i) => (i.entry.deleted || !i.data ? [] : [i.data]))]);
}

/**
 * Splits a received batch into its entries (not yet checked one by one: a malformed entry is refused on its own). The
 * frame itself must be exact — lengths that do not add up refuse the whole batch, as nothing in it can be trusted.
 */
export function decodeEntryBatch(raw: Buffer): { entry: Entry; data?: Buffer }[] {
  return decodeFrame(raw).items;
}

/** Splits a received write batch into its claims (checked as a fence batch's) and its entries (as decodeEntryBatch). */
export function decodeWriteBatch(raw: Buffer): { claims: FenceClaim[]; items: { entry: Entry; data?: Buffer }[] } {
  const { manifest, items } = decodeFrame(raw);
  return { claims: checkFenceClaims(manifest), items };
}

function decodeFrame(raw: Buffer): { manifest: unknown; items: { entry: Entry; data?: Buffer }[] } {
  const bad = (why: string) => new ShoalError('BAD_REQUEST', `malformed entry batch: ${why}`);
  if (raw.length < 4) throw bad('too short');
  const n = raw.readUInt32BE(0);
  if (n > raw.length - 4) throw bad('manifest length');
  let manifest: unknown;
  try {
    manifest = JSON.parse(raw.subarray(4, 4 + n).toString('utf8'));
  } catch {
    throw bad('manifest is not JSON');
  }
  const entries = typeof manifest === 'object' && manifest !== null ? (manifest as { entries?: unknown }).entries : undefined;
  if (!Array.isArray(entries) || entries.length > MAX_BATCH_ENTRIES) throw bad(`entries must be an array of at most ${MAX_BATCH_ENTRIES}`);
  let at = 4 + n;
  const out = (entries as Entry[]).map((entry) => {
    const live = typeof entry === 'object' && entry !== null && entry.deleted === false;
    const size = live && Number.isSafeInteger(entry.size) && entry.size >= 0 ? entry.size : 0;
    if (live && size > MAX_BATCHED_ENTRY_BYTES) throw bad(`an entry of ${size} bytes is too large to batch`);
    const data = live ? raw.subarray(at, at + size) : undefined;
    at += size;
    if (at > raw.length) throw bad('the bytes end before the entries do');
    return { entry, data };
  });
  if (at !== raw.length) throw bad('bytes left over after the last entry');
  return { manifest, items: out };
}
