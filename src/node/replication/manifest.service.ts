import { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import { ShoalError } from '../../common/errors.js';
import type { Member } from '../membership/merge.js';
import type { Entry } from '../storage/entry.js';
import type { ByteRange } from '../storage/range.js';
import { ReadCoordinatorService } from './read-coordinator.service.js';

/**
 * Meta field that marks a manifest entry; its value is the size of the content the manifest describes. The entry's
 * own bytes (and so its `sha256` and `size`) are the manifest document.
 */
export const MANIFEST_META = 'x-shoal-manifest';
/** A manifest document is small (one line per part); anything larger is not one. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Manifests kept parsed, by SHA-256: content-addressed, so never stale (ranged reads of one object reuse it). */
const CACHE_ENTRIES = 256;

/** One piece of a manifest: the entry that holds it, by key, and the content it must have. */
export interface ManifestPart {
  key: string;
  sha256: string;
  size: number;
}

export interface Manifest {
  size: number;
  parts: ManifestPart[];
}

export function isManifest(e: Entry): boolean {
  return !e.deleted && e.meta?.[MANIFEST_META] !== undefined;
}

/** The size of the content an entry stands for: its own size, or that of the parts its manifest lists. */
export function contentSize(e: Entry): number {
  const m = e.meta?.[MANIFEST_META];
  return m === undefined ? e.size : Number(m);
}

export function encodeManifest(parts: ManifestPart[]): Buffer {
  const size = parts.reduce((n, p) => n + p.size, 0);
  return Buffer.from(JSON.stringify({ size, parts } satisfies Manifest));
}

/**
 * Content made of other entries (an S3 multipart object is a manifest of its parts): assembling it writes one small
 * entry, and no byte is copied. Each part is an ordinary entry — replicated, synced, scrubbed, repaired and handed
 * over like any file — and is streamed whole-and-verified, or only the range needed, one after the other.
 */
@Injectable()
export class ManifestService {
  private readonly cache = new Map<string, Manifest>();

  constructor(private readonly reads: ReadCoordinatorService) {}

  async read(entry: Entry, holders: Member[]): Promise<Manifest> {
    const cached = this.cache.get(entry.sha256);
    if (cached) return cached;
    if (entry.size > MAX_MANIFEST_BYTES) throw new ShoalError('INTERNAL', `manifest of "${entry.key}" is too large`);
    const chunks: Buffer[] = [];
    for await (const c of await this.reads.open(entry, holders)) chunks.push(c as Buffer);
    const m = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Manifest;
    if (!Array.isArray(m.parts) || m.size !== contentSize(entry)) throw new ShoalError('INTERNAL', `manifest of "${entry.key}" does not describe its content`);
    if (this.cache.size >= CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(entry.sha256, m);
    return m;
  }

  /**
   * Streams the parts that overlap `range` (all of them without one). A part that is gone or holds other content
   * than the manifest says (the manifest was superseded meanwhile) fails the stream as BAD_GATEWAY, which readers
   * answer by looking the key up again.
   */
  async open(entry: Entry, holders: Member[], range?: ByteRange): Promise<Readable> {
    const manifest = await this.read(entry, holders);
    const start = range?.start ?? 0;
    const end = range?.end ?? manifest.size - 1;
    const pieces: { part: ManifestPart; range?: ByteRange }[] = [];
    let offset = 0;
    for (const part of manifest.parts) {
      const first = offset;
      const last = offset + part.size - 1;
      offset += part.size;
      if (part.size === 0 || last < start || first > end) continue;
      const sub = { start: Math.max(start, first) - first, end: Math.min(end, last) - first };
      pieces.push({ part, range: sub.start === 0 && sub.end === part.size - 1 ? undefined : sub });
    }
    // The first part is opened before the answer starts, so that a missing one is an error status, not a cut body.
    const first = pieces.length > 0 ? await this.openPart(pieces[0].part, pieces[0].range) : undefined;
    const self = this;
    async function* all(): AsyncGenerator<Buffer> {
      for (const [i, piece] of pieces.entries()) {
        const stream = i === 0 ? first! : await self.openPart(piece.part, piece.range);
        for await (const chunk of stream) yield chunk as Buffer;
      }
    }
    return Readable.from(all(), { objectMode: false });
  }

  private async openPart(part: ManifestPart, range?: ByteRange): Promise<Readable> {
    const { entry, holders } = await this.reads.locate(part.key);
    if (!entry || entry.deleted || entry.sha256 !== part.sha256) {
      throw new ShoalError('BAD_GATEWAY', `part "${part.key}" no longer holds the content its manifest lists`);
    }
    return this.reads.open(entry, holders, range);
  }
}
