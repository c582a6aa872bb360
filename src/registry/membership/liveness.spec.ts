import { livenessOf, statusOf } from './liveness.js';

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

describe('statusOf', () => {
  const ttl = 10_000;
  const dead = 600_000;
  it.each([
    [0, {}, 'up'],
    [10_000, {}, 'down'],
    [0, { stopped: true }, 'stopped'],
    [10_000, { stopped: true }, 'stopped'], // a stopped node is not judged down: it said so
    [600_000, { stopped: true }, 'dead'], // … but a stopped node that never comes back ages to dead
    [0, { decommission: 'leaving' }, 'leaving'],
    [0, { stopped: true, decommission: 'leaving' }, 'leaving'], // restarted mid-decommission: still leaving
    [600_000, { decommission: 'leaving' }, 'dead'],
    [0, { decommission: 'left' }, 'left'],
    [10_000_000, { decommission: 'left' }, 'left'], // it holds nothing: never re-replicated
  ] as const)('silent for %d ms with %j → %s', (silentMs, lifecycle, expected) => {
    expect(statusOf(1_000_000, 1_000_000 + silentMs, ttl, dead, lifecycle)).toBe(expected);
  });
});
