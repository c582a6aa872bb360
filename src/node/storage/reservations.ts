/**
 * Conditional writes (S3 `If-None-Match: *`, `If-Match`) reserve their key on its owners during the version claim,
 * so that two conditional writers racing for one key cannot both succeed: each owner grants the key to one claim (a
 * token) at a time, and a claim needs W of them, W > N/2. A grant lapses after {@link RESERVATION_MS} unless a leg
 * of that write is arriving ({@link hold}), which keeps it until the leg ends — committed or discarded.
 */
export const RESERVATION_MS = 10_000;
/** Past this many grants, lapsed ones are dropped on the next reservation (a lapsed grant is otherwise dropped only
 * when its key is next asked about). */
const PRUNE_ABOVE = 10_000;

interface Grant {
  token: string;
  /** the version last proposed under this token */
  version: string;
  until: number;
  /** legs of the write in progress here: the grant does not lapse while one is */
  holding: number;
}

export class KeyReservations {
  private readonly grants = new Map<string, Grant>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Grants `key` to `token` (again, for a retried proposal) unless another claim holds it; whether it did. */
  reserve(key: string, token: string, version: string): boolean {
    if (this.grants.size > PRUNE_ABOVE) for (const k of [...this.grants.keys()]) this.live(k);
    const g = this.live(key);
    if (g && g.token !== token) return false;
    if (g) {
      g.version = version;
      g.until = this.now() + RESERVATION_MS;
    } else {
      this.grants.set(key, { token, version, until: this.now() + RESERVATION_MS, holding: 0 });
    }
    return true;
  }

  /** A leg of the write at `version` is arriving: keeps its grant until the returned release is called. */
  hold(key: string, version: string): () => void {
    const g = this.live(key);
    if (!g || g.version !== version) return () => undefined;
    g.holding++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      g.holding--;
      if (g.holding === 0 && this.grants.get(key) === g) this.grants.delete(key);
    };
  }

  /** Gives up the grant of `token` (its write is over, or its claim failed). */
  release(key: string, token: string): void {
    const g = this.grants.get(key);
    if (g && g.token === token && g.holding === 0) this.grants.delete(key);
  }

  private live(key: string): Grant | undefined {
    const g = this.grants.get(key);
    if (!g) return undefined;
    if (g.holding === 0 && g.until <= this.now()) {
      this.grants.delete(key);
      return undefined;
    }
    return g;
  }
}
