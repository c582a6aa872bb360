/** One query parameter, decoded. */
export interface QueryPair {
  name: string;
  value: string;
}

/** SigV4's URI encoding: every byte but A–Z a–z 0–9 - . _ ~ as %XX (upper case); '/' kept in paths. */
export function uriEncode(s: string, keepSlash = false): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Each path segment decoded and re-encoded: an encoded '/' inside a segment stays encoded. */
export function canonicalUri(rawPath: string): string {
  return rawPath.split('/').map((seg) => uriEncode(safeDecode(seg))).join('/') || '/';
}

/** The path as sent (some clients sign exactly what they send). */
export function rawCanonicalUri(rawPath: string): string {
  return rawPath || '/';
}

/** `a=1&b` → pairs, decoded; '+' is a literal plus (SigV4 clients send spaces as %20). */
export function parseQuery(raw: string): QueryPair[] {
  if (raw === '') return [];
  return raw.split('&').filter((p) => p !== '').map((p) => {
    const eq = p.indexOf('=');
    return eq < 0 ? { name: safeDecode(p), value: '' } : { name: safeDecode(p.slice(0, eq)), value: safeDecode(p.slice(eq + 1)) };
  });
}

export function canonicalQuery(pairs: QueryPair[], exclude?: string): string {
  return pairs
    .filter((p) => p.name !== exclude)
    .map((p) => [uriEncode(p.name), uriEncode(p.value)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([n, v]) => `${n}=${v}`)
    .join('&');
}
