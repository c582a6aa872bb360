import { compareVersions, type Version } from '../storage/hlc.js';

/**
 * Owner fencing (DESIGN §3 Versions). Last-writer-wins on wall clocks loses acknowledged writes as soon as one
 * coordinator's clock is behind another's: its later write gets the lower version. So before a coordinator's new
 * write or delete sends anything, it proposes its version to the key's owners; an owner that holds that version or a
 * newer one refuses it and answers with what it holds, the coordinator's clock observes that, and it proposes again.
 *
 * Why that is enough: a write A that was acknowledged is held by W owners. A write B that starts afterwards needs W
 * owners to accept its proposal, and since W + W > N one of them holds A (or something newer); it accepts only a
 * version above A's. So B's version > A's whatever the clocks say. Writes that overlap in time may land in either
 * order, which is what last-writer-wins means for concurrent writes.
 *
 * Hints, hand-offs, read-repairs and sync pulls are not fenced: they carry the original version of an earlier write
 * and simply lose to anything newer, as before.
 */

/** What an owner answers to a proposed version. */
export type FenceVerdict = { accepted: true } | { accepted: false; held: Version };

/** The owner's rule: a proposal must be strictly newer than what it holds for the key (nothing held: accepted). */
export function fenceVerdict(held: Version | undefined, proposed: Version): FenceVerdict {
  if (held !== undefined && compareVersions(held, proposed) >= 0) return { accepted: false, held };
  return { accepted: true };
}

/** One owner's answer to a proposal: the version it holds for the key, or null. */
export interface FenceAnswer {
  held: Version | null;
  deleted?: boolean;
  /** for a conditional write: whether the owner granted it the key */
  reserved?: boolean;
}

/**
 * A conditional write (S3 If-None-Match / If-Match) is checked at the owners, under the fence: its claim reserves the
 * key on W owners (each grants it to one conditional write at a time, see storage/reservations.ts) and judges the
 * newest version those W hold — W + W > N, so that includes the last acknowledged write. Two such writers racing
 * cannot both hold W grants, so they cannot both succeed; the loser sends no byte anywhere.
 */
export interface WriteCondition {
  /** this write's reservation token */
  token: string;
  /** judges the newest version W owners hold (`version` null: none); throws to refuse the write */
  check(newest: { version: Version | null; deleted: boolean }): void;
  /** what to throw when fewer than W owners granted the key (another conditional write of it is in progress) */
  conflict(): Error;
}

/** The newest version among the answers (null when none holds the key), and whether it is a tombstone. */
export function newestHeld(answers: FenceAnswer[]): { version: Version | null; deleted: boolean } {
  let newest: FenceAnswer | undefined;
  for (const a of answers) if (a.held !== null && (!newest || compareVersions(a.held, newest.held!) > 0)) newest = a;
  return { version: newest?.held ?? null, deleted: newest?.deleted ?? false };
}

/**
 * The coordinator's judgement of a round: `undefined` when every answering owner holds only older versions (the
 * proposal stands), else the highest version held, which the coordinator's clock must observe before it retries.
 */
export function highestBlocking(answers: FenceAnswer[], proposed: Version): Version | undefined {
  let blocking: Version | undefined;
  for (const a of answers) {
    if (a.held === null) continue;
    const v = fenceVerdict(a.held, proposed);
    if (!v.accepted && (blocking === undefined || compareVersions(v.held, blocking) > 0)) blocking = v.held;
  }
  return blocking;
}
