import { firstSuccesses } from './quorum.js';

const later = <T>(ms: number, v: T, fail = false) => new Promise<T>((res, rej) => setTimeout(() => (fail ? rej(new Error(String(v))) : res(v)), ms).unref());

describe('firstSuccesses', () => {
  it('resolves with the first W successes without waiting for a slow task', async () => {
    const slow = later(5000, 'slow');
    const t0 = Date.now();
    const { quorum } = firstSuccesses([later(5, 'a'), slow, later(10, 'b')], 2);
    await expect(quorum).resolves.toEqual(['a', 'b']);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('rejects as soon as W successes are out of reach', async () => {
    const { quorum } = firstSuccesses([later(5, 'a', true), later(5000, 'b'), later(10, 'c', true)], 2);
    await expect(quorum).rejects.toThrow();
  });

  it('rejects when there are fewer tasks than needed', async () => {
    await expect(firstSuccesses([later(1, 'a')], 2).quorum).rejects.toThrow();
  });
});
