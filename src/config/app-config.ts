import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { ENV_SCHEMA, type EnvVarName, type EnvVarSpec, type Role } from './env.schema.js';

export const APP_CONFIG = Symbol('APP_CONFIG');

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

interface CommonConfig {
  port: number;
  host: string;
  clusterToken: string;
  dataDir: string;
  logLevel: LogLevel;
  /** Largest tolerated offset between a node's wall clock and a registry's (DESIGN §3 Clocks). */
  maxClockSkewMs: number;
}

/** One S3 credential: an access key id and its secret (DESIGN §2 S3). */
export interface S3AccessKey {
  accessKeyId: string;
  secret: string;
}

export interface RegistryConfig extends CommonConfig {
  role: 'registry';
  nodeTtlMs: number;
  nodeDeadMs: number;
}

export interface NodeConfig extends CommonConfig {
  role: 'node';
  apiTokens: string[];
  apiReadTokens: string[];
  registryUrls: string[];
  /** Unset: generated once and kept in DATA_DIR/node-id. */
  nodeId?: string;
  advertiseUrl: string;
  /**
   * Local address that outgoing peer and registry connections are bound to (unset: the OS chooses). For multi-homed
   * hosts, and for the chaos suite's fault proxy, which tells nodes apart by it (test/support/fault-net.ts).
   */
  peerSourceAddress?: string;
  replicationFactor: number;
  writeQuorum: number;
  readQuorum: number;
  heartbeatIntervalMs: number;
  syncIntervalMs: number;
  tombstoneTtlMs: number;
  scrubBytesPerSec: number;
  partitionBits: number;
  maxObjectBytes?: number;
  /** Failure domain; empty when unset. */
  zone: string;
  s3: {
    /** Unset: the S3 API is off. */
    port?: number;
    accessKeys: S3AccessKey[];
    readAccessKeys: S3AccessKey[];
    region: string;
  };
}

export type AppConfig = RegistryConfig | NodeConfig;

/** One error for every bad variable, so an operator fixes them all in one go. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
  }
}

type Env = Record<string, string | undefined>;
type Parsed = string | number | string[] | S3AccessKey[] | undefined;

function parseValue(name: string, spec: EnvVarSpec, raw: string): Parsed {
  switch (spec.kind) {
    case 'int': {
      if (!/^\d+$/.test(raw)) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
      const n = Number(raw);
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        throw new Error(`${name} must be between ${spec.min} and ${spec.max}, got ${n}`);
      }
      return n;
    }
    case 'role':
      if (raw !== 'registry' && raw !== 'node') throw new Error(`${name} must be "registry" or "node", got "${raw}"`);
      return raw;
    case 'level':
      if (!(LOG_LEVELS as readonly string[]).includes(raw)) throw new Error(`${name} must be one of ${LOG_LEVELS.join('|')}`);
      return raw;
    case 'url':
      return checkUrl(name, raw).replace(/\/+$/, '');
    case 'url-list': {
      const urls = raw.split(',').map((s) => s.trim()).filter(Boolean);
      if (urls.length === 0) throw new Error(`${name} must list at least one URL`);
      return urls.map((u) => checkUrl(name, u).replace(/\/+$/, ''));
    }
    case 'token-list':
      return raw.split(',').map((s) => s.trim()).filter(Boolean);
    case 'key-pairs':
      return raw.split(',').map((s) => s.trim()).filter(Boolean).map((pair) => {
        const m = /^([A-Za-z0-9]{3,128}):(\S{8,})$/.exec(pair);
        if (!m) throw new Error(`${name} must be ACCESS_KEY_ID:SECRET pairs (id 3-128 letters/digits, secret 8+ characters)`);
        return { accessKeyId: m[1], secret: m[2] };
      });
    case 'ip':
      if (isIP(raw) === 0) throw new Error(`${name} must be an IPv4 or IPv6 address, got "${raw}"`);
      return raw;
    case 'host':
    case 'string':
      return raw;
  }
}

function checkUrl(name: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${name} must be an http(s) URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${name} must be an http(s) URL, got "${raw}"`);
  return raw;
}

/** Reads and validates the environment once. Throws a {@link ConfigError} naming every bad variable. */
export function loadConfig(env: Env): AppConfig {
  const problems: string[] = [];
  const roleRaw = env.ROLE?.trim();
  if (roleRaw !== 'registry' && roleRaw !== 'node') {
    throw new ConfigError([roleRaw ? `ROLE must be "registry" or "node", got "${roleRaw}"` : 'ROLE is required (registry or node)']);
  }
  const role: Role = roleRaw;
  const v: Partial<Record<EnvVarName, Parsed>> = {};
  for (const [name, spec] of Object.entries(ENV_SCHEMA) as [EnvVarName, EnvVarSpec][]) {
    if (!spec.roles.includes(role)) continue;
    let raw = env[name]?.trim();
    if (raw === undefined || raw === '') {
      const dflt = typeof spec.default === 'function' ? spec.default(role) : spec.default;
      if (dflt === undefined) {
        if (!spec.optional) problems.push(`${name} is required`);
        continue;
      }
      raw = dflt;
    }
    try {
      v[name] = parseValue(name, spec, raw);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const common: CommonConfig = {
    port: v.PORT as number,
    host: v.HOST as string,
    clusterToken: v.CLUSTER_TOKEN as string,
    dataDir: v.DATA_DIR as string,
    logLevel: v.LOG_LEVEL as LogLevel,
    maxClockSkewMs: v.MAX_CLOCK_SKEW_MS as number,
  };
  if (role === 'registry') {
    const cfg: RegistryConfig = { ...common, role, nodeTtlMs: v.NODE_TTL_MS as number, nodeDeadMs: v.NODE_DEAD_MS as number };
    if (cfg.nodeDeadMs < cfg.nodeTtlMs) throw new ConfigError([`NODE_DEAD_MS (${cfg.nodeDeadMs}) must not be below NODE_TTL_MS (${cfg.nodeTtlMs})`]);
    return cfg;
  }
  const cfg: NodeConfig = {
    ...common,
    role,
    apiTokens: v.API_TOKENS as string[],
    apiReadTokens: v.API_READ_TOKENS as string[],
    registryUrls: v.REGISTRY_URL as string[],
    nodeId: v.NODE_ID as string | undefined,
    advertiseUrl: (v.ADVERTISE_URL as string | undefined) ?? `http://${hostname()}:${common.port}`,
    peerSourceAddress: v.PEER_SOURCE_ADDRESS as string | undefined,
    replicationFactor: v.REPLICATION_FACTOR as number,
    writeQuorum: v.WRITE_QUORUM as number,
    readQuorum: v.READ_QUORUM as number,
    heartbeatIntervalMs: v.HEARTBEAT_INTERVAL_MS as number,
    syncIntervalMs: v.SYNC_INTERVAL_MS as number,
    tombstoneTtlMs: v.TOMBSTONE_TTL_MS as number,
    scrubBytesPerSec: v.SCRUB_BYTES_PER_SEC as number,
    partitionBits: v.PARTITION_BITS as number,
    maxObjectBytes: v.MAX_OBJECT_BYTES as number | undefined,
    zone: v.ZONE as string,
    s3: {
      port: v.S3_PORT as number | undefined,
      accessKeys: v.S3_ACCESS_KEYS as S3AccessKey[],
      readAccessKeys: v.S3_READ_ACCESS_KEYS as S3AccessKey[],
      region: v.S3_REGION as string,
    },
  };
  if (cfg.writeQuorum > cfg.replicationFactor) problems.push(`WRITE_QUORUM (${cfg.writeQuorum}) must not exceed REPLICATION_FACTOR (${cfg.replicationFactor})`);
  if (cfg.readQuorum > cfg.replicationFactor) problems.push(`READ_QUORUM (${cfg.readQuorum}) must not exceed REPLICATION_FACTOR (${cfg.replicationFactor})`);
  // A tombstone must outlive a few sync rounds to reach every replica before it is purged, or a delete can come back.
  if (cfg.tombstoneTtlMs < 2 * cfg.syncIntervalMs) problems.push(`TOMBSTONE_TTL_MS (${cfg.tombstoneTtlMs}) must be at least twice SYNC_INTERVAL_MS (${cfg.syncIntervalMs})`);
  if (cfg.nodeId !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(cfg.nodeId)) problems.push('NODE_ID must be 1-64 characters of A-Z a-z 0-9 . _ -');
  if (cfg.s3.port !== undefined && cfg.s3.port !== 0 && cfg.s3.port === cfg.port) problems.push(`S3_PORT (${cfg.s3.port}) must differ from PORT`);
  if (problems.length > 0) throw new ConfigError(problems);
  return cfg;
}

/** The only place that touches `process.env`. */
export function loadConfigFromProcess(): AppConfig {
  return loadConfig(process.env);
}
