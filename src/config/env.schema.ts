/**
 * Every environment variable Shoal reads (DESIGN.md §1), declared once. `loadConfig` validates them all and the
 * README test checks that each one is documented. Nothing outside `src/config` reads `process.env`.
 */
export type Role = 'registry' | 'node';

export interface EnvVarSpec {
  /** Roles that read it. */
  roles: readonly Role[];
  /** Default used when unset or empty; `undefined` means required (or optional, see `optional`). */
  default?: string | ((role: Role) => string);
  /** When true an unset value is fine and stays `undefined`. */
  optional?: boolean;
  kind: 'string' | 'int' | 'url-list' | 'token-list' | 'key-pairs' | 'role' | 'level' | 'url' | 'host' | 'ip';
  /** Inclusive bounds for ints. */
  min?: number;
  max?: number;
  doc: string;
}

const BOTH: readonly Role[] = ['registry', 'node'];
const NODE: readonly Role[] = ['node'];
const REGISTRY: readonly Role[] = ['registry'];

export const ENV_SCHEMA = {
  ROLE: { roles: BOTH, kind: 'role', doc: '`registry` or `node`' },
  PORT: { roles: BOTH, kind: 'int', min: 0, max: 65535, default: (r) => (r === 'registry' ? '3000' : '4000'), doc: 'listen port' },
  HOST: { roles: BOTH, kind: 'host', default: '0.0.0.0', doc: 'listen address' },
  CLUSTER_TOKEN: { roles: BOTH, kind: 'string', doc: 'shared secret for internal calls' },
  API_TOKENS: { roles: NODE, kind: 'token-list', default: '', doc: 'client bearer tokens (read/write)' },
  API_READ_TOKENS: { roles: NODE, kind: 'token-list', default: '', doc: 'client bearer tokens (read only)' },
  REGISTRY_URL: { roles: NODE, kind: 'url-list', doc: 'comma-separated registry base URLs' },
  NODE_ID: { roles: NODE, kind: 'string', optional: true, doc: 'stable node identity' },
  ADVERTISE_URL: { roles: NODE, kind: 'url', optional: true, doc: 'URL peers use to reach this node' },
  PEER_SOURCE_ADDRESS: { roles: NODE, kind: 'ip', optional: true, doc: 'local address of outgoing node↔node and node→registry connections' },
  DATA_DIR: { roles: BOTH, kind: 'string', default: './data', doc: 'where the role persists its state' },
  REPLICATION_FACTOR: { roles: NODE, kind: 'int', min: 1, max: 16, default: '3', doc: 'N' },
  WRITE_QUORUM: { roles: NODE, kind: 'int', min: 1, max: 16, default: '2', doc: 'W' },
  READ_QUORUM: { roles: NODE, kind: 'int', min: 1, max: 16, default: '2', doc: 'R' },
  HEARTBEAT_INTERVAL_MS: { roles: NODE, kind: 'int', min: 10, max: 3_600_000, default: '2000', doc: 'heartbeat period' },
  NODE_TTL_MS: { roles: REGISTRY, kind: 'int', min: 10, max: 86_400_000, default: '10000', doc: 'down after' },
  NODE_DEAD_MS: { roles: REGISTRY, kind: 'int', min: 10, max: 31_536_000_000, default: '600000', doc: 'dead after' },
  SYNC_INTERVAL_MS: { roles: NODE, kind: 'int', min: 10, max: 86_400_000, default: '30000', doc: 'anti-entropy period' },
  TOMBSTONE_TTL_MS: { roles: NODE, kind: 'int', min: 1, max: 315_360_000_000, default: '604800000', doc: 'tombstone lifetime' },
  SCRUB_BYTES_PER_SEC: { roles: NODE, kind: 'int', min: 0, max: 100_000_000_000, default: '50000000', doc: 'scrub rate, 0 = off' },
  PARTITION_BITS: { roles: NODE, kind: 'int', min: 1, max: 16, default: '10', doc: 'log2 of the partition count' },
  MAX_OBJECT_BYTES: { roles: NODE, kind: 'int', min: 1, max: Number.MAX_SAFE_INTEGER, optional: true, doc: 'upload size limit' },
  LOG_LEVEL: { roles: BOTH, kind: 'level', default: 'info', doc: 'pino level' },
  MAX_CLOCK_SKEW_MS: { roles: BOTH, kind: 'int', min: 1, max: 86_400_000, default: '500', doc: 'largest tolerated clock offset' },
  ZONE: { roles: NODE, kind: 'string', default: '', doc: 'failure domain of this node' },
  S3_PORT: { roles: NODE, kind: 'int', min: 0, max: 65535, optional: true, doc: 'S3 API port; unset = S3 off' },
  S3_ACCESS_KEYS: { roles: NODE, kind: 'key-pairs', default: '', doc: 'ACCESS_KEY_ID:SECRET pairs, read-write' },
  S3_READ_ACCESS_KEYS: { roles: NODE, kind: 'key-pairs', default: '', doc: 'ACCESS_KEY_ID:SECRET pairs, read-only' },
  S3_REGION: { roles: NODE, kind: 'string', default: 'us-east-1', doc: 'region SigV4 signatures must name' },
} as const satisfies Record<string, EnvVarSpec>;

export type EnvVarName = keyof typeof ENV_SCHEMA;
export const ENV_VAR_NAMES = Object.keys(ENV_SCHEMA) as EnvVarName[];
