import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Injectable, Logger, Optional, type BeforeApplicationShutdown, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { BehaviorSubject, type Observable } from 'rxjs';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { atomicWriteFile } from '../../common/fs/atomic-write.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { WorkerRunnerService } from '../../common/workers/worker-runner.service.js';
import type { Worker, WorkerSchedule, WorkResult } from '../../common/workers/worker.js';
import { NODE_STATUSES, OWNING_STATUSES, type HeartbeatDto, type MembershipDto, type NodeStatus } from '../../common/protocol/membership.dto.js';
import { NodeStateService } from '../state/node-state.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import { mergeMemberships, sameMembers, type Member } from './merge.js';
import { NODE_STATS, type NodeStatsSource } from '../storage/node-stats.js';
import { connectRegistry, REGISTRY_CONNECTOR, type RegistryConnector, type RegistryPort } from './registry-client.js';
import { judgeOwnClock, type ClockReport } from '../../common/protocol/clock-offset.js';

interface RegistryState {
  client: RegistryPort;
  registered: boolean;
  /** round trip of the last heartbeat (monotonic clock), sent with the next so the registry can correct for it */
  rttMs?: number;
  last?: MembershipDto;
  lastOkAt?: number;
  lastError?: string;
}

/**
 * This node's view of the cluster. It registers with every registry, heartbeats each of them, merges their answers
 * (DESIGN §2) and publishes the merged list on {@link changes}. With no registry reachable it keeps the last list —
 * also across restarts, from DATA_DIR/membership.json — so a registry outage never stops the data path.
 */
@Injectable()
export class MembershipService implements Worker, OnModuleInit, OnModuleDestroy, BeforeApplicationShutdown {
  readonly name = 'heartbeat';
  readonly schedule: WorkerSchedule;
  private readonly logger = new Logger(MembershipService.name);
  private readonly registries: RegistryState[];
  private readonly subject = new BehaviorSubject<Member[]>([]);
  private readonly file: string;
  private known = false;
  private stopped = false;

  /** Emits the merged member list whenever an id, url or status changes. */
  readonly changes: Observable<Member[]> = this.subject.asObservable();

  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    private readonly self: NodeIdentity,
    @Inject(NODE_STATS) private readonly statsSource: NodeStatsSource,
    private readonly state: NodeStateService,
    metrics: MetricsService,
    private readonly runner: WorkerRunnerService,
    @Optional() @Inject(REGISTRY_CONNECTOR) connect: RegistryConnector = connectRegistry,
  ) {
    const timeout = Math.max(1000, Math.min(5000, config.heartbeatIntervalMs * 2));
    this.registries = config.registryUrls.map((url) => ({ client: connect(url, config.clusterToken, timeout, config.peerSourceAddress), registered: false }));
    // The first beat at bootstrap, not awaited: the HTTP server starts listening meanwhile, and a registry that is
    // down must not block start-up. Then one every HEARTBEAT_INTERVAL_MS from the start of the last, never two at once.
    this.schedule = { firstDelayMs: 0, idleDelayMs: config.heartbeatIntervalMs, fixedRate: true };
    runner.register(this);
    this.file = join(config.dataDir, 'membership.json');
    const members = () => this.subject.value;
    const registries = () => this.registries;
    metrics.gauge({
      name: 'shoal_node_members',
      help: 'cluster members as this node sees them, by status',
      labelNames: ['status'],
      collect() {
        for (const s of NODE_STATUSES) this.set({ status: s }, members().filter((m) => m.status === s).length);
      },
    });
    const holdings = () => (this.selfStatus() === 'leaving' ? this.statsSource.holdings() : { partitions: 0, entries: 0, bytes: 0 });
    metrics.gauge({
      name: 'shoal_decommission_partitions_left',
      help: 'while this node is leaving: partitions it still holds (0 otherwise)',
      collect() { this.set(holdings().partitions); },
    });
    metrics.gauge({
      name: 'shoal_decommission_entries_left',
      help: 'while this node is leaving: entries not yet confirmed on their owners (0 otherwise)',
      collect() { this.set(holdings().entries); },
    });
    metrics.gauge({
      name: 'shoal_decommission_bytes_left',
      help: 'while this node is leaving: bytes of file data not yet handed over (0 otherwise)',
      collect() { this.set(holdings().bytes); },
    });
    metrics.gauge({
      name: 'shoal_node_registries_reachable',
      help: 'registries that answered the last heartbeat',
      collect() {
        this.set(registries().filter((r) => r.registered && r.lastError === undefined).length);
      },
    });
  }

  async onModuleInit(): Promise<void> {
    await mkdir(this.config.dataDir, { recursive: true });
    try {
      const saved = JSON.parse(await readFile(this.file, 'utf8')) as Member[];
      this.subject.next(saved);
      this.known = saved.length > 0;
      this.notePhase(saved);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn({ err }, 'ignoring an unreadable membership.json');
    }
  }

  /**
   * SIGTERM, first of all: Nest runs every onModuleDestroy before any beforeApplicationShutdown, and those run level by
   * level (the sync scheduler, high in the dependency tree, waits for its round before this service's turn comes). So
   * `stopping` is set here, for readiness to fail at once and the rounds in flight (anti-entropy, handover) to stop
   * early instead of running to their end.
   */
  onModuleDestroy(): void {
    this.state.markStopping();
  }

  /**
   * SIGTERM is a stop, not a leave (DESIGN §3 Lifecycle): readiness fails at once (a Service stops routing here), then
   * every registry is told the node is `stopped`, so peers hint for it at once instead of after NODE_TTL_MS. It keeps
   * its place in the placement: a restart moves no data. Nest then closes the HTTP server (requests in flight finish)
   * and only then the store.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.state.markStopping();
    this.stopped = true;
    // A heartbeat still in flight must reach the registries before the stop notice: after it, it would make the node
    // `up` again although it is going.
    await this.runner.stop(this.name);
    await Promise.allSettled(
      this.registries.map((r) =>
        r.client.stop(this.self.id).then(
          () => this.logger.log({ registry: r.client.baseUrl }, 'told the registry this node is stopping'),
          (err: Error) => this.logger.warn({ registry: r.client.baseUrl, err: err.message }, 'could not tell the registry this node is stopping; it will judge it down after NODE_TTL_MS'),
        ),
      ),
    );
  }

  /** The merged list: every node any registry knows, with its best status. */
  members(): Member[] {
    return this.subject.value;
  }

  /** Members that own data (DESIGN §3): up, down or stopped — not dead, leaving or left. */
  placementMembers(): Member[] {
    return this.subject.value.filter((m) => OWNING_STATUSES.has(m.status));
  }

  /** This node's status as the registries see it (merged); `undefined` before any list names it. */
  selfStatus(): NodeStatus | undefined {
    return this.subject.value.find((m) => m.id === this.self.id)?.status;
  }

  isKnown(): boolean {
    return this.known;
  }

  registryStatus(): { url: string; registered: boolean; lastOkAt?: string; lastError?: string }[] {
    return this.registries.map((r) => ({
      url: r.client.baseUrl,
      registered: r.registered,
      ...(r.lastOkAt ? { lastOkAt: new Date(r.lastOkAt).toISOString() } : {}),
      ...(r.lastError ? { lastError: r.lastError } : {}),
    }));
  }

  /** One heartbeat to every registry. Never rejects: a failure is logged and the next round tries again. */
  async work(): Promise<WorkResult> {
    await this.beatRound();
    return 'idle';
  }

  private async beatRound(): Promise<void> {
    try {
      const stats = await this.statsSource.stats();
      await Promise.all(this.registries.map((r) => this.beatOne(r, stats)));
      const answers = this.registries.flatMap((r) => (r.last && r.lastError === undefined ? [r.last] : []));
      if (answers.length > 0) {
        this.judgeClock(answers);
        await this.publish(mergeMemberships(answers));
      }
    } catch (err) {
      this.logger.error({ err }, 'heartbeat round failed');
    }
  }

  private async beatOne(r: RegistryState, stats: Awaited<ReturnType<NodeStatsSource['stats']>>): Promise<void> {
    try {
      const sent = performance.now();
      const clock = { wallClockMs: Date.now(), ...(r.rttMs !== undefined ? { rttMs: Math.round(r.rttMs) } : {}) };
      let answer = r.registered ? await r.client.heartbeat(this.self.id, { ...this.heartbeatBody(stats), ...clock }) : undefined;
      if (answer) r.rttMs = performance.now() - sent;
      if (!answer) {
        if (this.stopped) return; // leaving: never register again on the way out
        answer = await r.client.register({
          id: this.self.id,
          url: this.self.url,
          ...(this.config.zone ? { zone: this.config.zone } : {}),
          capacityBytes: stats.capacityBytes,
          freeBytes: stats.freeBytes,
          partitionBits: this.config.partitionBits,
        });
        if (!r.registered) this.logger.log({ registry: r.client.baseUrl, nodeId: this.self.id }, 'registered');
        r.registered = true;
      }
      if (r.lastError) this.logger.log({ registry: r.client.baseUrl }, 'registry reachable again');
      r.last = answer;
      r.lastOkAt = Date.now();
      r.lastError = undefined;
    } catch (err) {
      const message = describe(err);
      if (r.lastError !== message) this.logger.warn({ registry: r.client.baseUrl, err: message }, 'registry unreachable; keeping the last membership list');
      r.lastError = message;
      // A registry that lost its state answers 404 on heartbeat; one that refused us must be retried from scratch.
      if (/\b409\b/.test(message)) r.registered = false;
    }
  }

  /** A leaving node reports what it still holds: its progress, and (at zero) the signal that it has left. */
  private heartbeatBody(stats: Awaited<ReturnType<NodeStatsSource['stats']>>): HeartbeatDto {
    const body: HeartbeatDto = { freeBytes: stats.freeBytes, files: stats.files, usedBytes: stats.usedBytes };
    if (this.selfStatus() !== 'leaving') return body;
    const h = this.statsSource.holdings();
    return { ...body, partitionsLeft: h.partitions, entriesLeft: h.entries, bytesLeft: h.bytes };
  }

  private notePhase(members: Member[]): void {
    const status = members.find((m) => m.id === this.self.id)?.status;
    this.state.setMembershipPhase(status === 'left' ? 'left' : status === 'leaving' ? 'leaving' : 'member');
  }

  /** DESIGN §3 Clocks: off by more than MAX_CLOCK_SKEW_MS by every registry that answered ⇒ coordinate no writes. */
  private judgeClock(answers: MembershipDto[]): void {
    const reports: ClockReport[] = answers.map((a) => a.nodes.find((n) => n.id === this.self.id) ?? {});
    const skewed = judgeOwnClock(reports, this.state.clockSkewed);
    const offsets = reports.flatMap((r) => (r.clockOffsetMs !== undefined ? [r.clockOffsetMs] : []));
    if (skewed !== this.state.clockSkewed) {
      if (skewed) this.logger.error({ clockOffsetMs: offsets, maxClockSkewMs: this.config.maxClockSkewMs }, 'this node\'s clock is off by more than MAX_CLOCK_SKEW_MS by every registry; refusing to coordinate writes until it is back');
      else this.logger.log({ clockOffsetMs: offsets }, 'clock back within MAX_CLOCK_SKEW_MS; coordinating writes again');
    }
    this.state.setClock(skewed, offsets);
  }

  private async publish(members: Member[]): Promise<void> {
    this.known = true;
    this.notePhase(members);
    if (sameMembers(members, this.subject.value)) {
      this.subject.value.splice(0, this.subject.value.length, ...members); // fresher details, no event
      return;
    }
    this.logger.log({ members: members.map((m) => `${m.id}:${m.status}`) }, 'membership changed');
    this.subject.next(members);
    await atomicWriteFile(this.file, JSON.stringify(members)).catch((err: unknown) => this.logger.warn({ err }, 'could not save membership.json'));
  }
}

function describe(err: unknown): string {
  const e = err as { response?: { status?: number; data?: { code?: string; detail?: string } }; code?: string; message?: string };
  if (e.response?.status) return `HTTP ${e.response.status}${e.response.data?.code ? ` ${e.response.data.code}` : ''}${e.response.data?.detail ? `: ${e.response.data.detail}` : ''}`;
  return e.code ?? e.message ?? String(err);
}
