/** Seeded pseudo-random numbers for the chaos suite: the same seed gives the same choices (not the same timing). */

/** mulberry32: a small, fast 32-bit generator; returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An independent stream for a named purpose (each client, the fault scheduler), derived from the run's seed. */
export function substream(seed: number, label: string): () => number {
  let h = 2166136261 ^ (seed >>> 0);
  for (const ch of label) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return prng(h ^ (seed * 0x9e3779b1));
}

export class Rng {
  constructor(readonly next: () => number) {}

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** `size` bytes: `prefix` (truncated if need be) then seeded filler, so every value written is distinct. */
  bytes(size: number, prefix: string): Buffer {
    const buf = Buffer.allocUnsafe(size);
    const head = Buffer.from(prefix, 'utf8');
    const n = head.copy(buf, 0, 0, Math.min(size, head.length));
    // xorshift32 filler, seeded from this stream: ~1 ns a byte, fine for 2 MiB values.
    let x = (Math.floor(this.next() * 0xffffffff) | 1) >>> 0;
    let i = n;
    for (; i + 4 <= size; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      buf.writeUInt32LE(x >>> 0, i);
    }
    for (; i < size; i++) buf[i] = Math.floor(this.next() * 256);
    return buf;
  }
}
