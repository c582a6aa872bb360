import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import type { NodeRecord, ShoalRegistryClient } from '../client/shoal-client.js';
import { CliError, EXIT, UsageError } from './cli-errors.js';
import { commandContext, type CommandContext } from './command-context.js';
import { formatBytes, printJson, type CliIo } from './output.js';

interface DecommissionOptions {
  wait?: boolean;
  cancel?: boolean;
  interval?: string;
}

/** `shoal node decommission ID [--wait] [--cancel]`: a planned removal (DESIGN §3 Lifecycle). */
export function registerNodeCommands(program: Command, io: CliIo): void {
  const node = program.command('node').description('operate on one storage node (needs the cluster token)');
  node
    .command('decommission')
    .argument('<id>', 'the node id, as `shoal nodes` lists it')
    .description('remove a node for good: it turns leaving, hands its partitions to their new owners, then turns left')
    .option('--wait', 'wait until it has left, with a progress bar on a terminal')
    .option('--cancel', 'cancel a decommission under way: the node is up again')
    .option('--interval <ms>', 'how often --wait asks the registry', '1000')
    .action((id: string, options: DecommissionOptions, cmd: Command) => decommission(commandContext(cmd, io), id, options));
}

async function decommission(ctx: CommandContext, id: string, options: DecommissionOptions): Promise<void> {
  if (!ctx.config.clusterToken) throw new UsageError('node decommission changes the membership: pass the CLUSTER_TOKEN with --cluster-token or SHOAL_CLUSTER_TOKEN');
  if (options.cancel && options.wait) throw new UsageError('--wait and --cancel do not go together');
  const interval = Number(options.interval ?? '1000');
  if (!Number.isInteger(interval) || interval < 50) throw new UsageError(`--interval must be an integer number of milliseconds ≥ 50, not ${options.interval}`);
  const registries = ctx.registries();
  // Registries share nothing: each is told. One that does not answer is reported; the node itself makes every
  // registry it reaches learn its state from its heartbeats, but a cancel must reach each one that said `leaving`.
  const results = await Promise.allSettled(registries.map((r) => (options.cancel ? r.cancelDecommission(id) : r.decommission(id))));
  const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  results.forEach((r, i) => {
    if (r.status === 'rejected') ctx.io.stderr.write(`shoal: warning: ${registries[i].url}: ${String((r.reason as Error).message ?? r.reason)}\n`);
  });
  if (ok.length === 0) throw (results[0] as PromiseRejectedResult).reason;
  const record = ok[0];
  if (!options.wait) {
    if (ctx.config.json) printJson(ctx.io.stdout, record);
    else ctx.io.stdout.write(options.cancel ? `${id} is ${record.status} again: decommission cancelled\n` : `${id} is ${record.status}: ${describe(record)}\n`);
    return;
  }
  const final = await waitUntilLeft(ctx, registries, id, interval);
  if (ctx.config.json) printJson(ctx.io.stdout, final);
  else ctx.io.stdout.write(`${id} has left: every entry it held is confirmed on its owners. Stop it, then forget it (DELETE /v1/nodes/${id}).\n`);
}

function describe(n: NodeRecord): string {
  const d = n.decommission;
  if (!d) return 'not being decommissioned';
  if (d.leftAt) return `left at ${d.leftAt}`;
  if (d.entriesLeft === undefined) return 'handing over (no progress reported yet)';
  return `${d.partitionsLeft ?? '?'} partitions, ${d.entriesLeft} entries, ${formatBytes(d.bytesLeft ?? 0)} left`;
}

/** Polls the registries until the node is `left`; fails if it dies or the decommission is cancelled meanwhile. */
async function waitUntilLeft(ctx: CommandContext, registries: ShoalRegistryClient[], id: string, intervalMs: number): Promise<NodeRecord> {
  const bar = ctx.io.stderr.isTTY && !ctx.config.quiet && !ctx.config.json
    ? new SingleBar({ stream: ctx.io.stderr as NodeJS.WriteStream, format: `decommission ${id} [{bar}] {percentage}% | {detail}`, barsize: 30, hideCursor: false, fps: 4 })
    : undefined;
  let total = 0;
  let started = false;
  try {
    for (;;) {
      const seen = await lookup(registries, id);
      if (seen.status === 'left') {
        bar?.update(total, { detail: 'left' });
        return seen;
      }
      if (seen.status === 'dead') throw new CliError(`${id} died during its decommission: its data is re-replicated from the surviving copies`, 'NODE_DEAD', EXIT.ERROR);
      if (seen.status !== 'leaving') throw new CliError(`${id} is ${seen.status}: its decommission was cancelled`, 'CANCELLED', EXIT.ERROR);
      const left = seen.decommission?.entriesLeft;
      if (bar && left !== undefined) {
        total = Math.max(total, left, 1);
        if (!started) bar.start(total, 0, { detail: '' });
        started = true;
        bar.setTotal(total);
        bar.update(total - left, { detail: describe(seen) });
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  } finally {
    if (started) bar?.stop();
  }
}

/** The node as the registries list it: `left` or `leaving` from any of them wins, as nodes merge them (DESIGN §2). */
async function lookup(registries: ShoalRegistryClient[], id: string): Promise<NodeRecord> {
  const lists = await Promise.allSettled(registries.map((r) => r.nodes()));
  const records = lists.flatMap((l) => (l.status === 'fulfilled' ? l.value.nodes.filter((n) => n.id === id) : []));
  if (records.length === 0) {
    const failed = lists.find((l): l is PromiseRejectedResult => l.status === 'rejected');
    if (failed) throw failed.reason;
    throw new CliError(`node ${id} is not registered`, 'NODE_NOT_FOUND', EXIT.NOT_FOUND);
  }
  return records.find((n) => n.status === 'left') ?? records.find((n) => n.status === 'leaving') ?? records[0];
}
