import { askInTurn, firstSuccesses } from './quorum.js';

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

describe('askInTurn', () => {
  /** Candidates answer after `ms` (or fail); the order in which they were asked is recorded. */
  const setup = (answers: Record<string, { ms: number; fail?: boolean }>) => {
    const asked: string[] = [];
    const ask = (c: string) => {
      asked.push(c);
      return later(answers[c].ms, c, answers[c].fail);
    };
    return { asked, ask, candidates: Object.keys(answers) };
  };

  it('asks only as many candidates as needed, in order, when they answer in time', async () => {
    const s = setup({ self: { ms: 0 }, a: { ms: 5 }, b: { ms: 5 } });
    const { quorum, all } = askInTurn(s.candidates, 2, s.ask, 1000);
    await expect(quorum).resolves.toEqual(['self', 'a']);
    expect((await all).map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(s.asked).toEqual(['self', 'a']);
  });

  it('asks the next candidate at once in place of one that fails', async () => {
    const s = setup({ self: { ms: 0 }, a: { ms: 5, fail: true }, b: { ms: 5 } });
    const t0 = Date.now();
    await expect(askInTurn(s.candidates, 2, s.ask, 10_000).quorum).resolves.toEqual(['self', 'b']);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(s.asked).toEqual(['self', 'a', 'b']);
  });

  it('hedges: asks one more candidate when the quorum is not reached after hedgeMs', async () => {
    const s = setup({ self: { ms: 0 }, hung: { ms: 5000 }, b: { ms: 5 } });
    const t0 = Date.now();
    await expect(askInTurn(s.candidates, 2, s.ask, 50).quorum).resolves.toEqual(['self', 'b']);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(45);
    expect(took).toBeLessThan(1000);
    expect(s.asked).toEqual(['self', 'hung', 'b']);
  });

  it('rejects once too few candidates are left, and when there are fewer than needed', async () => {
    const s = setup({ self: { ms: 0 }, a: { ms: 5, fail: true }, b: { ms: 10, fail: true } });
    await expect(askInTurn(s.candidates, 2, s.ask, 10_000).quorum).rejects.toThrow('b');
    await expect(askInTurn(['x'], 2, s.ask, 10).quorum).rejects.toThrow();
    await expect(askInTurn([], 0, s.ask, 10).quorum).resolves.toEqual([]);
  });
});
