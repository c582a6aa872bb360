import { KeyReservations, RESERVATION_MS } from './reservations.js';

describe('KeyReservations', () => {
  let now = 0;
  const r = () => new KeyReservations(() => now);

  beforeEach(() => (now = 1_000));

  it('grants a key to one token at a time; the same token may propose again', () => {
    const res = r();
    expect(res.reserve('k', 'a', 'v1')).toBe(true);
    expect(res.reserve('k', 'b', 'v2')).toBe(false);
    expect(res.reserve('k', 'a', 'v3')).toBe(true);
    expect(res.reserve('other', 'b', 'v2')).toBe(true);
  });

  it('lets a grant lapse after RESERVATION_MS, unless a leg of its write is arriving', () => {
    const res = r();
    res.reserve('k', 'a', 'v1');
    now += RESERVATION_MS;
    expect(res.reserve('k', 'b', 'v2')).toBe(true); // a lapsed
    const release = res.hold('k', 'v2');
    now += 10 * RESERVATION_MS;
    expect(res.reserve('k', 'c', 'v3')).toBe(false); // held by b's leg
    release();
    expect(res.reserve('k', 'c', 'v3')).toBe(true); // the leg ended: given up
  });

  it('a leg of another version holds nothing; release gives up only its own token', () => {
    const res = r();
    res.reserve('k', 'a', 'v1');
    res.hold('k', 'v0')();
    expect(res.reserve('k', 'b', 'v2')).toBe(false);
    res.release('k', 'b');
    expect(res.reserve('k', 'b', 'v2')).toBe(false);
    res.release('k', 'a');
    expect(res.reserve('k', 'b', 'v2')).toBe(true);
  });
});

describe('KeyReservations bookkeeping', () => {
  it('drops lapsed grants of keys nobody asks about again once there are many', () => {
    let now = 0;
    const res = new KeyReservations(() => now);
    for (let i = 0; i <= 10_001; i++) res.reserve(`k${i}`, 't', 'v');
    now += RESERVATION_MS;
    res.reserve('fresh', 't', 'v');
    expect((res as unknown as { grants: Map<string, unknown> }).grants.size).toBe(1);
  });
});
