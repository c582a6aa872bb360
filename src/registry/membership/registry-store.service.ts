import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type RegistryConfig } from '../../config/app-config.js';
import { ShoalError } from '../../common/errors.js';
import { NODE_STATUSES, type ClusterSummaryDto, type HeartbeatDto, type MembershipDto, type NodeRecordDto, type NodeStatus, type RegisterNodeDto } from '../../common/protocol/membership.dto.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { WorkerRunnerService } from '../../common/workers/worker-runner.service.js';
import { statusOf, type Lifecycle } from './liveness.js';
import { decommissionPhase, decommissionView, recordDrain, registerDecommissionGauges } from './decommission.js';
import { filterOffset, isClockSkewed, recordHeartbeat } from '../../common/protocol/clock-offset.js';
import { RegistryFile, type StoredNode } from './registry-file.js';

/** How often statuses are re-judged, so that a silent node turns `down` (and the epoch moves) without any request. */
const SWEEP_MS = 500;
/** Heartbeats are persisted at most this often (register, stop and leave are written at once). */
const SAVE_MS = 1000;

/**
 * The registry's membership list. It lives in memory and is persisted to `DATA_DIR/registry.json` with an atomic
 * write: on register and leave at once, on heartbeats coalesced (at most one write per second), so a restarted
 * registry still knows every node and judges it by the last heartbeat it saw.
 */
@Injectable()
export class RegistryStoreService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RegistryStoreService.name);
  private readonly nodes = new Map<string, StoredNode>();
  private readonly statuses = new Map<string, NodeStatus>();
  private readonly file: RegistryFile;
  private epoch = 0;
  private partitionBits: number | null = null;
  /** Heartbeats changed the state since it was last written. */
  private dirty = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: RegistryConfig,
    metrics: MetricsService,
    runner: WorkerRunnerService,
  ) {
    this.file = new RegistryFile(config.dataDir);
    // Both start after bootstrap, once the list is loaded (onModuleInit); the runner stops them before shutdown.
    runner.register({ name: 'registry-sweep', schedule: { firstDelayMs: SWEEP_MS, idleDelayMs: SWEEP_MS }, work: async () => {
      this.sweep();
      return 'idle';
    } });
    runner.register({ name: 'registry-save', schedule: { firstDelayMs: SAVE_MS, idleDelayMs: SAVE_MS, backoff: { maxMs: 10 * SAVE_MS } }, work: () => this.flush() });
    // Gauges refreshed on scrape rather than on every change.
    const counts = () => countByStatus(this.membership().nodes);
    const epoch = () => this.epoch;
    metrics.gauge({
      name: 'shoal_registry_nodes',
      help: 'registered nodes by status',
      labelNames: ['status'],
      collect() {
        for (const [status, n] of Object.entries(counts())) this.set({ status }, n);
      },
    });
    metrics.gauge({ name: 'shoal_registry_epoch', help: 'membership epoch', collect() { this.set(epoch()); } });
    registerDecommissionGauges(metrics, () => this.nodes.values());
    const offsets = () => [...this.nodes.values()];
    metrics.gauge({
      name: 'shoal_clock_offset_seconds',
      help: 'this registry\'s clock minus the node\'s, by node (positive: the node is behind)',
      labelNames: ['node'],
      collect() {
        this.reset();
        for (const n of offsets()) if (n.clockOffsetMs !== undefined) this.set({ node: n.id }, n.clockOffsetMs / 1000);
      },
    });
  }

  async onModuleInit(): Promise<void> {
    await this.load();
    this.sweep();
  }

  /** After the runner stopped the save worker: what heartbeats changed since its last write is written now. */
  async onApplicationShutdown(): Promise<void> {
    if (this.dirty) await this.flush();
    await this.file.settled();
  }

  async register(dto: RegisterNodeDto): Promise<MembershipDto> {
    if (dto.partitionBits !== undefined) {
      if (this.partitionBits === null || this.liveCount() === 0) this.partitionBits = dto.partitionBits;
      else if (this.partitionBits !== dto.partitionBits) {
        throw new ShoalError('PARTITION_BITS_MISMATCH', `node ${dto.id} has PARTITION_BITS=${dto.partitionBits} but the cluster uses ${this.partitionBits}`);
      }
    }
    const now = Date.now();
    const prev = this.nodes.get(dto.id);
    this.nodes.set(dto.id, {
      id: dto.id,
      url: dto.url.replace(/\/+$/, ''),
      zone: dto.zone,
      capacityBytes: dto.capacityBytes,
      freeBytes: dto.freeBytes,
      usedBytes: prev?.usedBytes ?? 0,
      files: prev?.files ?? 0,
      registeredAt: prev?.registeredAt ?? now,
      lastHeartbeatAt: now,
      // A restart ends a stop but not a decommission: a leaving node goes on handing over where it left off.
      ...(prev?.decommission ? { decommission: prev.decommission } : {}),
    });
    const status = this.statusOfNode(this.nodes.get(dto.id)!, now);
    if (!prev || prev.url !== dto.url || prev.zone !== dto.zone || this.statuses.get(dto.id) !== status) this.epoch++;
    this.statuses.set(dto.id, status);
    this.logger.log({ nodeId: dto.id, url: dto.url, rejoined: Boolean(prev) }, 'node registered');
    await this.persist();
    return this.membership();
  }

  heartbeat(id: string, dto: HeartbeatDto): MembershipDto {
    const node = this.nodes.get(id);
    if (!node) throw new ShoalError('NODE_NOT_FOUND', `node ${id} is not registered here; register again`);
    node.lastHeartbeatAt = Date.now();
    node.freeBytes = dto.freeBytes;
    node.files = dto.files;
    node.usedBytes = dto.usedBytes ?? node.usedBytes;
    node.stoppedAt = undefined;
    if (dto.wallClockMs !== undefined) {
      node.clockSamples = recordHeartbeat(node.clockSamples, node.lastHeartbeatAt, dto.wallClockMs, dto.rttMs);
      this.judgeClock(node, filterOffset(node.clockSamples));
    }
    const progressed = node.decommission ? recordDrain(node.decommission, dto, Date.now()) : undefined;
    if (progressed === 'left') this.logger.warn({ nodeId: id }, 'decommission complete: every entry the node held is confirmed on its owners; it has left');
    const status = this.statusOfNode(node, node.lastHeartbeatAt);
    if (this.statuses.get(id) !== status) {
      this.statuses.set(id, status);
      this.epoch++;
      this.logger.log({ nodeId: id, status }, status === 'up' ? 'node is up again' : 'node status changed');
    }
    if (progressed === 'left') void this.persist().catch((err: unknown) => this.logger.error({ err }, 'could not persist the membership list'));
    else this.schedulePersist();
    return this.membership();
  }

  /** Logs when a node's clock leaves (or comes back within) MAX_CLOCK_SKEW_MS. */
  private judgeClock(node: StoredNode, offsetMs: number | undefined): void {
    if (offsetMs === undefined) return;
    const before = isClockSkewed(node.clockOffsetMs, this.config.maxClockSkewMs);
    node.clockOffsetMs = offsetMs;
    const now = isClockSkewed(offsetMs, this.config.maxClockSkewMs);
    if (now && !before) this.logger.warn({ nodeId: node.id, clockOffsetMs: offsetMs, maxClockSkewMs: this.config.maxClockSkewMs }, 'node clock is off; it stops coordinating writes');
    else if (before && !now) this.logger.log({ nodeId: node.id, clockOffsetMs: offsetMs }, 'node clock is back within bounds');
  }

  /**
   * A stopping node's last word (SIGTERM): `stopped` at once, so peers hint instead of waiting for NODE_TTL_MS. It keeps
   * its place in the placement; its next heartbeat or registration makes it `up` again.
   */
  async stop(id: string): Promise<void> {
    const node = this.find(id);
    node.stoppedAt = Date.now();
    this.sweep();
    this.logger.log({ nodeId: id }, 'node stopped (it keeps its place in the placement)');
    await this.persist();
  }

  /** Starts a planned removal (DESIGN §3 Lifecycle): the node turns `leaving`; idempotent while it is leaving. */
  async decommission(id: string): Promise<NodeRecordDto> {
    const node = this.find(id);
    const status = this.statusOfNode(node, Date.now());
    if (status === 'left') throw new ShoalError('CONFLICT', `node ${id} has already left`);
    if (status === 'dead') throw new ShoalError('CONFLICT', `node ${id} is dead: its data is being re-replicated from the surviving copies; forget it with DELETE /v1/nodes/${id}`);
    if (!node.decommission) {
      node.decommission = { requestedAt: Date.now() };
      this.logger.warn({ nodeId: id }, 'decommission started: the node leaves the placement and hands its partitions over');
    }
    this.sweep();
    await this.persist();
    return this.record(id);
  }

  /** Cancels a decommission still under way: the node is a full member again (what it handed over stays handed over). */
  async cancelDecommission(id: string): Promise<NodeRecordDto> {
    const node = this.find(id);
    if (!node.decommission) throw new ShoalError('CONFLICT', `node ${id} is not being decommissioned`);
    if (node.decommission.leftAt !== undefined) throw new ShoalError('CONFLICT', `node ${id} has already left; start it with an empty DATA_DIR to add it again`);
    node.decommission = undefined;
    this.logger.warn({ nodeId: id }, 'decommission cancelled');
    this.sweep();
    await this.persist();
    return this.record(id);
  }


  /**
   * Forgets a node. Only one that holds nothing the others lack: `left` (decommissioned) or `dead` (its data already
   * re-replicated). Anything else may hold the only copy of a write, so it must be decommissioned first.
   */
  async remove(id: string): Promise<void> {
    const status = this.statusOfNode(this.find(id), Date.now());
    if (status !== 'left' && status !== 'dead') {
      throw new ShoalError('NODE_HOLDS_DATA', `node ${id} is ${status} and may hold the only copies of some files; decommission it first (POST /v1/nodes/${id}/decommission) and forget it once it has left`);
    }
    this.nodes.delete(id);
    this.statuses.delete(id);
    this.epoch++;
    this.logger.log({ nodeId: id }, 'node left');
    await this.persist();
  }

  membership(): MembershipDto {
    this.sweep(); // so a status and its epoch never disagree, even between sweeps
    const now = Date.now();
    const nodes = [...this.nodes.values()]
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((n): NodeRecordDto => ({
        id: n.id,
        url: n.url,
        ...(n.zone ? { zone: n.zone } : {}),
        status: this.statusOfNode(n, now),
        ...(n.decommission ? { decommission: decommissionView(n.decommission) } : {}),
        lastHeartbeatAt: new Date(n.lastHeartbeatAt).toISOString(),
        registeredAt: new Date(n.registeredAt).toISOString(),
        capacityBytes: n.capacityBytes,
        freeBytes: n.freeBytes,
        usedBytes: n.usedBytes,
        files: n.files,
        ...(n.clockOffsetMs !== undefined ? { clockOffsetMs: n.clockOffsetMs, clockSkewed: isClockSkewed(n.clockOffsetMs, this.config.maxClockSkewMs) } : {}),
      }));
    return { epoch: this.epoch, partitionBits: this.partitionBits, nodes };
  }

  summary(): ClusterSummaryDto {
    const m = this.membership();
    const live = m.nodes.filter((n) => n.status !== 'dead');
    return {
      epoch: m.epoch,
      nodes: countByStatus(m.nodes),
      capacityBytes: live.reduce((s, n) => s + n.capacityBytes, 0),
      freeBytes: live.reduce((s, n) => s + n.freeBytes, 0),
      usedBytes: live.reduce((s, n) => s + n.usedBytes, 0),
      files: live.reduce((s, n) => s + n.files, 0),
    };
  }

  private find(id: string): StoredNode {
    const node = this.nodes.get(id);
    if (!node) throw new ShoalError('NODE_NOT_FOUND', `node ${id} is not registered here`);
    return node;
  }

  private record(id: string): NodeRecordDto {
    return this.membership().nodes.find((n) => n.id === id)!;
  }

  private statusOfNode(n: StoredNode, now: number): NodeStatus {
    const lifecycle: Lifecycle = { stopped: n.stoppedAt !== undefined, ...decommissionPhase(n.decommission) };
    return statusOf(n.lastHeartbeatAt, now, this.config.nodeTtlMs, this.config.nodeDeadMs, lifecycle);
  }

  private liveCount(): number {
    return this.membership().nodes.filter((n) => n.status !== 'dead').length;
  }

  /** Re-judges every node; a status change moves the epoch so nodes notice it on their next heartbeat. */
  private sweep(): void {
    const now = Date.now();
    for (const n of this.nodes.values()) {
      const status = this.statusOfNode(n, now);
      const before = this.statuses.get(n.id);
      if (before !== status) {
        this.statuses.set(n.id, status);
        this.epoch++;
        if (before !== undefined) this.logger.warn({ nodeId: n.id, from: before, to: status }, 'node status changed');
      }
    }
  }

  private async load(): Promise<void> {
    const state = await this.file.load();
    if (!state) return;
    this.epoch = state.epoch;
    this.partitionBits = state.partitionBits;
    for (const n of state.nodes) this.nodes.set(n.id, n);
    this.logger.log({ nodes: this.nodes.size, epoch: this.epoch }, 'membership list loaded');
  }

  private schedulePersist(): void {
    this.dirty = true;
  }

  /** The save worker's step: writes the state if heartbeats changed it; a failed write is tried again. */
  private async flush(): Promise<'idle'> {
    if (!this.dirty) return 'idle';
    this.dirty = false;
    try {
      await this.persist();
    } catch (err) {
      this.dirty = true;
      throw err;
    }
    return 'idle';
  }

  private persist(): Promise<void> {
    return this.file.write(() => ({ version: 1, epoch: this.epoch, partitionBits: this.partitionBits, nodes: [...this.nodes.values()] }));
  }
}

function countByStatus(nodes: NodeRecordDto[]): Record<NodeStatus, number> {
  const counts = Object.fromEntries(NODE_STATUSES.map((s) => [s, 0])) as Record<NodeStatus, number>;
  for (const n of nodes) counts[n.status]++;
  return counts;
}
