import { timingSafeEqual, createHash } from 'node:crypto';
import type { Request } from 'express';

/** The bearer token of a request, or undefined. */
export function bearerToken(req: Request): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(h);
  return m?.[1]?.trim();
}

/** Constant-time comparison (hashes first so lengths leak nothing either). */
export function tokenEquals(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export function tokenIn(token: string, list: readonly string[]): boolean {
  let found = false;
  for (const t of list) found = tokenEquals(token, t) || found;
  return found;
}
