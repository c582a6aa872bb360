import { sleep } from '../../support/poll-until.js';
import { faketimeAvailable, faketimeEnv } from '../../support/faketime.js';
import type { ShoalProcess } from '../../support/processes.js';
import { Rng, substream } from '../prng.js';
import type { Nemesis, NemesisContext } from './nemesis.js';

const NO_FAKETIME = { LD_PRELOAD: undefined, FAKETIME: undefined, FAKETIME_DONT_FAKE_MONOTONIC: undefined };

/**
 * Clock faults: a node is SIGKILLed and started again under libfaketime with its wall clock minutes to hours ahead
 * or behind (and, on a later turn, with another offset or a right clock again). Hybrid logical clocks and owner
 * fencing must keep every later acknowledged write above every earlier one whatever the offsets (DESIGN §3).
 * SIGKILL rather than SIGTERM so that the placement does not change: the fault is the clock, not a departure.
 */
export class ClockNemesis implements Nemesis {
  readonly name = 'clock';
  private readonly skewed = new Map<ShoalProcess, string>();

  static available(): boolean {
    return faketimeAvailable();
  }

  async run(ctx: NemesisContext, until: number): Promise<void> {
    const rng = new Rng(substream(ctx.seed, 'clock-faults'));
    await sleep(rng.int(500, 2000));
    for (let turn = 0; Date.now() < until; turn++) {
      const candidates = ctx.nodes.filter((n) => !ctx.faulty.has(n) && n.running);
      if (candidates.length > 0) {
        const node = rng.pick(candidates);
        // The first turn always skews, so even a short run has a skewed clock.
        const offset = turn > 0 && this.skewed.has(node) && rng.chance(0.4) ? undefined : randomOffset(rng);
        await this.setClock(ctx, node, offset);
      }
      await sleep(rng.int(4000, 12_000));
    }
  }

  async heal(ctx: NemesisContext): Promise<void> {
    for (const node of [...this.skewed.keys()]) await this.setClock(ctx, node, undefined);
  }

  private async setClock(ctx: NemesisContext, node: ShoalProcess, offset: string | undefined): Promise<void> {
    const at = ctx.now();
    ctx.faulty.add(node);
    // The test support unrefs its children: waiting for one to exit is no reason for Node to stay alive, so when
    // nothing else runs (the heal phase of a script run) hold the event loop open meanwhile.
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      if (node.running) {
        node.kill('SIGKILL');
        await node.waitExit();
      }
      await ctx.restart(node, offset ? faketimeEnv(offset) : NO_FAKETIME);
      if (offset) this.skewed.set(node, offset);
      else this.skewed.delete(node);
      await ctx.awaitHealthy(node);
      ctx.log(`clock: ${node.name} now runs ${offset ?? 'on the right time'}`);
    } catch (err) {
      ctx.violate({ kind: 'fault-recovery-failed', node: node.name, at, detail: `clock ${offset ?? 'reset'}: ${err instanceof Error ? err.message : String(err)}` });
    } finally {
      clearInterval(keepAlive);
      ctx.faulty.delete(node);
    }
    ctx.fault(offset ? 'clock-skew' : 'clock-reset', `${node.name}${offset ? ` ${offset}` : ''}`, at, 0);
  }
}

/** Minutes to hours, either way: ±2 min … ±3 h. */
function randomOffset(rng: Rng): string {
  const sign = rng.chance(0.5) ? '+' : '-';
  return rng.chance(0.5) ? `${sign}${rng.int(2, 59)}m` : `${sign}${rng.int(1, 3)}h`;
}
