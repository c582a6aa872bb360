import type { Command } from 'commander';
import { ShoalClientError, type ClusterSummary, type NodeInfo, type NodeRecord } from '../client/shoal-client.js';
import { commandContext, type CommandContext } from './command-context.js';
import { formatBytes, formatFields, formatTable, formatTime, printJson, type CliIo } from './output.js';

/** `shoal nodes` and `shoal status`: what the registry knows, and what the node at --url sees. */
export function registerClusterCommands(program: Command, io: CliIo): void {
  program
    .command('nodes')
    .description('list the storage nodes the registry knows, with their status (--registry, SHOAL_REGISTRY)')
    .action((_options: unknown, cmd: Command) => nodes(commandContext(cmd, io)));

  program
    .command('status')
    .description("the cluster summary from the registry, and the node's own view (GET /v1/node)")
    .action((_options: unknown, cmd: Command) => status(commandContext(cmd, io)));
}

async function nodes(ctx: CommandContext): Promise<void> {
  const membership = await ctx.registry().nodes();
  if (ctx.config.json) {
    printJson(ctx.io.stdout, membership);
    return;
  }
  ctx.io.stdout.write(
    formatTable<NodeRecord>(membership.nodes, [
      { header: 'ID', value: (n) => n.id },
      { header: 'STATUS', value: (n) => n.status },
      { header: 'URL', value: (n) => n.url },
      { header: 'ZONE', value: (n) => n.zone ?? '' },
      { header: 'FILES', value: (n) => String(n.files), right: true },
      { header: 'USED', value: (n) => formatBytes(n.usedBytes), right: true },
      { header: 'FREE', value: (n) => formatBytes(n.freeBytes), right: true },
      { header: 'LAST HEARTBEAT', value: (n) => formatTime(n.lastHeartbeatAt) },
      { header: 'DECOMMISSION', value: (n) => (n.decommission ? (n.decommission.leftAt ? 'left' : `${n.decommission.entriesLeft ?? '?'} entries, ${formatBytes(n.decommission.bytesLeft ?? 0)} left`) : '') },
    ]),
  );
  if (membership.nodes.length === 0) ctx.io.stdout.write('(no nodes registered)\n');
}

/**
 * Both sources are asked at once and each part is shown when it answered: an operator checking a broken cluster
 * needs the half that works. The command still fails (with the first error's exit code) when either part is missing.
 */
async function status(ctx: CommandContext): Promise<void> {
  const registry = ctx.registry();
  const node = ctx.node();
  const [cluster, self] = await Promise.allSettled([registry.cluster(), node.nodeInfo()]);
  const failures = [cluster, self].filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  if (failures.length === 2) throw failures[0];

  if (ctx.config.json) {
    const errors = {
      ...(cluster.status === 'rejected' && { registry: asProblem(cluster.reason) }),
      ...(self.status === 'rejected' && { node: asProblem(self.reason) }),
    };
    printJson(ctx.io.stdout, {
      registry: registry.url,
      cluster: cluster.status === 'fulfilled' ? cluster.value : null,
      node: self.status === 'fulfilled' ? self.value : null,
      ...(failures.length > 0 && { errors }),
    });
  } else {
    ctx.io.stdout.write(
      formatFields([
        ...(cluster.status === 'fulfilled' ? clusterFields(registry.url, cluster.value) : [unreachable('registry', registry.url, cluster.reason)]),
        ...(self.status === 'fulfilled' ? nodeFields(self.value) : [unreachable('node', node.url, self.reason)]),
      ]),
    );
  }
  if (failures.length) throw failures[0];
}

type Field = [string, string];

function clusterFields(url: string, c: ClusterSummary): Field[] {
  return [
    ['registry', `${url} (membership epoch ${c.epoch})`],
    ['nodes', `${c.nodes.up} up, ${c.nodes.down} down, ${c.nodes.stopped} stopped, ${c.nodes.leaving} leaving, ${c.nodes.left} left, ${c.nodes.dead} dead`],
    ['space', `${formatBytes(c.usedBytes)} used, ${formatBytes(c.freeBytes)} free of ${formatBytes(c.capacityBytes)}`],
    ['files', `${c.files} (every copy counts)`],
  ];
}

function nodeFields(n: NodeInfo): Field[] {
  const sync = n.sync;
  const fields: Field[] = [
    ['node', `${n.id} ${n.url} (${n.state})`],
    ['  files', `${n.files}, ${formatBytes(n.usedBytes)} used, ${formatBytes(n.freeBytes)} free of ${formatBytes(n.capacityBytes)}`],
    ['  quorums', `N=${n.quorums.n} W=${n.quorums.w} R=${n.quorums.r}`],
    ['  members', n.members.map((m) => `${m.id} ${m.status}`).join(', ') || '(none)'],
    ['  handoff', `${n.handoffPending} pending`],
  ];
  if (sync) {
    fields.push(['  sync', `last round ${formatTime(sync.lastRoundAt)} (${sync.lastRoundMs} ms, ${sync.lastRoundDiffering} differing, ${sync.lastRoundPulled} pulled), handover backlog ${sync.handoverBacklog}, quarantined ${sync.quarantined}`]);
  }
  for (const r of n.registries) {
    fields.push(['  registry', `${r.url} ${r.registered ? 'registered' : 'not registered'}${r.lastError ? `, last error: ${r.lastError}` : ''}`]);
  }
  return fields;
}

function unreachable(what: string, url: string, reason: unknown): Field {
  const detail = reason instanceof ShoalClientError ? `${reason.detail} (${reason.code})` : String(reason);
  return [what, `${url} unavailable: ${detail}`];
}

function asProblem(reason: unknown): unknown {
  return reason instanceof ShoalClientError ? reason.problem : { detail: String(reason) };
}
