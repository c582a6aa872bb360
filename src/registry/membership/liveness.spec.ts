import { livenessOf } from './liveness.js';

describe('livenessOf', () => {
  const ttl = 10_000;
  const dead = 600_000;
  it.each([
    [0, 'up'],
    [9_999, 'up'],
    [10_000, 'down'],
    [599_999, 'down'],
    [600_000, 'dead'],
    [10_000_000, 'dead'],
    [-5_000, 'up'], // a heartbeat stamped slightly in the future (clock skew) is still up
  ])('silent for %d ms → %s', (silentMs, expected) => {
    expect(livenessOf(1_000_000, 1_000_000 + silentMs, ttl, dead)).toBe(expected);
  });
});
