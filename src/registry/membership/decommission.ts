import type { MetricsService } from '../../common/metrics/metrics.service.js';
import type { DecommissionDto, HeartbeatDto } from '../../common/protocol/membership.dto.js';
import type { Lifecycle } from './liveness.js';

/** A planned removal as the registry persists it (times in ms since the epoch). */
export interface StoredDecommission {
  requestedAt: number;
  /** Set once the node reported that nothing it held is unconfirmed on its owners: it has `left`. */
  leftAt?: number;
  partitionsLeft?: number;
  entriesLeft?: number;
  bytesLeft?: number;
}

export function decommissionView(d: StoredDecommission): DecommissionDto {
  return {
    requestedAt: new Date(d.requestedAt).toISOString(),
    ...(d.leftAt !== undefined ? { leftAt: new Date(d.leftAt).toISOString(), partitionsLeft: 0, entriesLeft: 0, bytesLeft: 0 } : {}),
    ...(d.leftAt === undefined && d.partitionsLeft !== undefined ? { partitionsLeft: d.partitionsLeft } : {}),
    ...(d.leftAt === undefined && d.entriesLeft !== undefined ? { entriesLeft: d.entriesLeft } : {}),
    ...(d.leftAt === undefined && d.bytesLeft !== undefined ? { bytesLeft: d.bytesLeft } : {}),
  };
}

export function decommissionPhase(d: StoredDecommission | undefined): Pick<Lifecycle, 'decommission'> {
  return d ? { decommission: d.leftAt === undefined ? 'leaving' : 'left' } : {};
}

/**
 * Progress a leaving node reports in its heartbeats. It is `left` once it reports no entry left: each one was dropped
 * only after every current owner confirmed it. A heartbeat without a report (sent before the node knew) changes nothing.
 */
export function recordDrain(d: StoredDecommission, dto: HeartbeatDto, now: number): 'left' | undefined {
  if (d.leftAt !== undefined || dto.entriesLeft === undefined) return undefined;
  d.partitionsLeft = dto.partitionsLeft ?? d.partitionsLeft;
  d.entriesLeft = dto.entriesLeft;
  d.bytesLeft = dto.bytesLeft ?? d.bytesLeft;
  if (dto.entriesLeft > 0) return undefined;
  d.leftAt = now;
  return 'left';
}

/** Gauges of every leaving node's progress, refreshed on scrape. */
export function registerDecommissionGauges(metrics: MetricsService, nodes: () => Iterable<{ id: string; decommission?: StoredDecommission }>): void {
  const leaving = () => [...nodes()].filter((n) => n.decommission && n.decommission.leftAt === undefined);
  metrics.gauge({
    name: 'shoal_registry_decommission_bytes_left',
    help: 'bytes a leaving node has not yet handed over, as it last reported',
    labelNames: ['node'],
    collect() {
      this.reset();
      for (const n of leaving()) this.set({ node: n.id }, n.decommission?.bytesLeft ?? 0);
    },
  });
  metrics.gauge({
    name: 'shoal_registry_decommission_partitions_left',
    help: 'partitions a leaving node still holds, as it last reported',
    labelNames: ['node'],
    collect() {
      this.reset();
      for (const n of leaving()) this.set({ node: n.id }, n.decommission?.partitionsLeft ?? 0);
    },
  });
}
