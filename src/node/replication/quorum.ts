/**
 * Resolves with the values of the first `need` tasks that succeed, as soon as they have; rejects as soon as that has
 * become impossible. Tasks still running go on (their outcome is available through `all`).
 */
export function firstSuccesses<T>(tasks: Promise<T>[], need: number): { quorum: Promise<T[]>; all: Promise<PromiseSettledResult<T>[]> } {
  const all = Promise.allSettled(tasks);
  const quorum = new Promise<T[]>((resolve, reject) => {
    const ok: T[] = [];
    let failed = 0;
    if (need <= 0) resolve([]);
    for (const t of tasks) {
      t.then(
        (v) => {
          ok.push(v);
          if (ok.length === need) resolve([...ok]);
        },
        (err: unknown) => {
          failed++;
          if (tasks.length - failed < need) reject(err);
        },
      );
    }
    if (tasks.length < need) reject(new Error(`only ${tasks.length} of ${need} needed tasks`));
  });
  quorum.catch(() => undefined);
  return { quorum, all };
}

/**
 * Asks `need` of `candidates`, in their order, and resolves with the first `need` answers as soon as they are in
 * (DESIGN §3: a read asks R owners, not all of them). Each candidate that fails is replaced by the next one; while
 * the quorum is not reached, one more is asked every `hedgeMs` too, so that a slow or hung candidate costs a read
 * `hedgeMs` rather than its timeout. Rejects once too few candidates are left to reach it. `all` settles, after the
 * quorum has, with the outcome of every candidate that was asked (for read-repair).
 */
export function askInTurn<C, T>(candidates: readonly C[], need: number, ask: (candidate: C) => Promise<T>, hedgeMs: number): { quorum: Promise<T[]>; all: Promise<PromiseSettledResult<T>[]> } {
  const asked: Promise<T>[] = [];
  let resolveAll!: (outcomes: Promise<PromiseSettledResult<T>[]>) => void;
  const all = new Promise<PromiseSettledResult<T>[]>((resolve) => (resolveAll = resolve));
  const quorum = new Promise<T[]>((resolve, reject) => {
    const ok: T[] = [];
    let failed = 0;
    let next = 0;
    let done = false;
    let hedge: NodeJS.Timeout | undefined;
    const finish = () => {
      done = true;
      if (hedge) clearInterval(hedge);
      resolveAll(Promise.allSettled(asked));
    };
    const launch = (): void => {
      if (done || next >= candidates.length) return;
      const task = Promise.resolve(candidates[next++]).then(ask);
      asked.push(task);
      task.then(
        (v) => {
          if (done) return;
          ok.push(v);
          if (ok.length === need) {
            finish();
            resolve([...ok]);
          }
        },
        (err: unknown) => {
          if (done) return;
          failed++;
          if (candidates.length - failed < need) {
            finish();
            reject(err);
          } else launch();
        },
      );
    };
    if (need <= 0) {
      finish();
      resolve([]);
      return;
    }
    if (candidates.length < need) {
      finish();
      reject(new Error(`only ${candidates.length} of ${need} needed candidates`));
      return;
    }
    for (let i = 0; i < need; i++) launch();
    if (!done && candidates.length > need) {
      hedge = setInterval(() => (next < candidates.length ? launch() : clearInterval(hedge)), hedgeMs);
      hedge.unref();
    }
  });
  quorum.catch(() => undefined);
  return { quorum, all };
}
