import * as spawner from '../../src/tools/cluster/local-cluster.js';
import { type Env, type ShoalProcess, TEST_LAUNCH } from './processes.js';

/**
 * Test clusters: the shared spawner (src/tools/cluster/local-cluster.ts) with the test defaults and {@link TEST_LAUNCH}.
 * Fast failure detection so that tests about liveness take seconds, not the production 10 s.
 */
const REGISTRY_DEFAULTS: Env = { LOG_LEVEL: 'warn', NODE_TTL_MS: '1500' };
const NODE_DEFAULTS: Env = { LOG_LEVEL: 'warn', HEARTBEAT_INTERVAL_MS: '200' };

export { newClusterToken, type Cluster } from '../../src/tools/cluster/local-cluster.js';
export type StartOptions = Omit<spawner.StartOptions, 'defaults' | 'launch'>;
export type NodeOptions = Omit<spawner.NodeOptions, 'defaults' | 'launch'>;
export type ClusterOptions = Omit<spawner.ClusterOptions, 'registryDefaults' | 'nodeDefaults' | 'launch'>;

export function startRegistry(options: StartOptions & { logDir?: string }): Promise<ShoalProcess> {
  return spawner.startRegistry({ ...options, defaults: REGISTRY_DEFAULTS, launch: { ...TEST_LAUNCH, logDir: options.logDir } });
}

export function startNode(options: NodeOptions & { logDir?: string }): Promise<ShoalProcess> {
  return spawner.startNode({ ...options, defaults: NODE_DEFAULTS, launch: { ...TEST_LAUNCH, logDir: options.logDir } });
}

/** A running test cluster. `stop()` it in `afterAll`/`afterEach`. */
export function startCluster(options: ClusterOptions = {}): Promise<spawner.Cluster> {
  return spawner.startCluster({ ...options, registryDefaults: REGISTRY_DEFAULTS, nodeDefaults: NODE_DEFAULTS, launch: TEST_LAUNCH });
}

/** Stops the processes and removes their data dirs (kept when KEEP_TEST_DATA=1); for processes started on their own. */
export function stopAndRemove(procs: ShoalProcess[]): Promise<void> {
  return spawner.stopAndRemove(procs, TEST_LAUNCH.keepData);
}
