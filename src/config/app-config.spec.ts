import { ConfigError, loadConfig, type NodeConfig, type RegistryConfig } from './app-config.js';

const node = { ROLE: 'node', CLUSTER_TOKEN: 's3cret', REGISTRY_URL: 'http://127.0.0.1:3000' };

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('loadConfig', () => {
  it('applies the defaults of DESIGN §1 for a node', () => {
    const cfg = loadConfig(node) as NodeConfig;
    expect(cfg).toMatchObject({
      role: 'node', port: 4000, host: '0.0.0.0', dataDir: './data', replicationFactor: 3, writeQuorum: 2, readQuorum: 2,
      heartbeatIntervalMs: 2000, syncIntervalMs: 30000, tombstoneTtlMs: 604800000, scrubBytesPerSec: 50000000,
      partitionBits: 10, apiTokens: [], apiReadTokens: [], registryUrls: ['http://127.0.0.1:3000'], logLevel: 'info',
    });
    expect(cfg.maxObjectBytes).toBeUndefined();
    expect(cfg.advertiseUrl).toMatch(/^http:\/\/.+:4000$/);
  });

  it('applies the registry defaults', () => {
    const cfg = loadConfig({ ROLE: 'registry', CLUSTER_TOKEN: 'x' }) as RegistryConfig;
    expect(cfg).toMatchObject({ role: 'registry', port: 3000, nodeTtlMs: 10000, nodeDeadMs: 600000 });
  });

  it('parses lists and numbers', () => {
    const cfg = loadConfig({ ...node, REGISTRY_URL: 'http://a:3000/, http://b:3000', API_TOKENS: 'x, y,', MAX_OBJECT_BYTES: '1048576', ADVERTISE_URL: 'http://10.0.0.1:4000/' }) as NodeConfig;
    expect(cfg.registryUrls).toEqual(['http://a:3000', 'http://b:3000']);
    expect(cfg.apiTokens).toEqual(['x', 'y']);
    expect(cfg.maxObjectBytes).toBe(1048576);
    expect(cfg.advertiseUrl).toBe('http://10.0.0.1:4000');
  });

  it('takes PEER_SOURCE_ADDRESS as an IP address, unset by default', () => {
    expect((loadConfig(node) as NodeConfig).peerSourceAddress).toBeUndefined();
    expect((loadConfig({ ...node, PEER_SOURCE_ADDRESS: ' 127.0.0.12 ' }) as NodeConfig).peerSourceAddress).toBe('127.0.0.12');
    expect((loadConfig({ ...node, PEER_SOURCE_ADDRESS: '::1' }) as NodeConfig).peerSourceAddress).toBe('::1');
  });

  it.each([
    [{}, /ROLE is required/],
    [{ ROLE: 'storage' }, /ROLE must be/],
    [{ ROLE: 'registry' }, /CLUSTER_TOKEN is required/],
    [{ ROLE: 'node', CLUSTER_TOKEN: 'x' }, /REGISTRY_URL is required/],
    [{ ...node, PORT: 'eighty' }, /PORT must be a non-negative integer/],
    [{ ...node, PORT: '70000' }, /PORT must be between/],
    [{ ...node, REGISTRY_URL: 'ftp://x' }, /REGISTRY_URL must be an http/],
    [{ ...node, LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ ...node, PARTITION_BITS: '0' }, /PARTITION_BITS must be between/],
    [{ ...node, WRITE_QUORUM: '4' }, /WRITE_QUORUM \(4\) must not exceed REPLICATION_FACTOR/],
    [{ ...node, NODE_ID: 'a b' }, /NODE_ID must be/],
    [{ ...node, TOMBSTONE_TTL_MS: '50000', SYNC_INTERVAL_MS: '30000' }, /TOMBSTONE_TTL_MS \(50000\) must be at least twice SYNC_INTERVAL_MS/],
    [{ ROLE: 'registry', CLUSTER_TOKEN: 'x', NODE_TTL_MS: '5000', NODE_DEAD_MS: '1000' }, /NODE_DEAD_MS/],
    [{ ...node, S3_ACCESS_KEYS: 'nocolon' }, /S3_ACCESS_KEYS must be ACCESS_KEY_ID:SECRET pairs/],
    [{ ...node, S3_READ_ACCESS_KEYS: 'AK:short' }, /S3_READ_ACCESS_KEYS must be/],
    [{ ...node, PORT: '4000', S3_PORT: '4000' }, /S3_PORT \(4000\) must differ from PORT/],
    [{ ...node, MAX_CLOCK_SKEW_MS: '0' }, /MAX_CLOCK_SKEW_MS must be between/],
    [{ ...node, PEER_SOURCE_ADDRESS: 'node-1.local' }, /PEER_SOURCE_ADDRESS must be an IPv4 or IPv6 address/],
  ])('refuses %j', (env, message) => {
    expect(problems(env as Record<string, string>).join('; ')).toMatch(message);
  });

  it('names every bad variable at once', () => {
    expect(problems({ ROLE: 'node', PORT: 'x', SYNC_INTERVAL_MS: '-1' })).toEqual([
      'PORT must be a non-negative integer, got "x"',
      'CLUSTER_TOKEN is required',
      'REGISTRY_URL is required',
      'SYNC_INTERVAL_MS must be a non-negative integer, got "-1"',
    ]);
  });

  it('parses the S3, zone and clock settings', () => {
    const cfg = loadConfig({ ...node, S3_PORT: '9001', S3_ACCESS_KEYS: 'AKIDEXAMPLE:wJalrXUtnFEMI, AK2:secret-two', ZONE: 'rack-a', MAX_CLOCK_SKEW_MS: '250' }) as NodeConfig;
    expect(cfg.s3).toEqual({ port: 9001, accessKeys: [{ accessKeyId: 'AKIDEXAMPLE', secret: 'wJalrXUtnFEMI' }, { accessKeyId: 'AK2', secret: 'secret-two' }], readAccessKeys: [], region: 'us-east-1' });
    expect(cfg.zone).toBe('rack-a');
    expect(cfg.maxClockSkewMs).toBe(250);
    const plain = loadConfig(node) as NodeConfig;
    expect(plain.s3.port).toBeUndefined();
    expect(plain.zone).toBe('');
    expect(plain.maxClockSkewMs).toBe(500);
  });

  it('ignores the variables of the other role', () => {
    expect(() => loadConfig({ ROLE: 'registry', CLUSTER_TOKEN: 'x', REPLICATION_FACTOR: 'lots' })).not.toThrow();
  });
});
