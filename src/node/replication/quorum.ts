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
