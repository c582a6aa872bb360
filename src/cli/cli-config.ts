import { readCliEnv, type CliEnv } from '../config/cli-env.js';
import { UsageError } from './cli-errors.js';

export const DEFAULT_NODE_URL = 'http://127.0.0.1:4001';
export const DEFAULT_REGISTRY_URL = 'http://127.0.0.1:3000';

/** The global options as commander parsed them. */
export interface GlobalOptions {
  url?: string;
  token?: string;
  registry?: string;
  clusterToken?: string;
  json?: boolean;
  quiet?: boolean;
}

/** What every command runs with: an option wins over its variable, which wins over the default. */
export interface CliConfig {
  /** A node's base URL (`--url`, SHOAL_URL). */
  url: string;
  /** Bearer token for the client API (`--token`, SHOAL_TOKEN). */
  token?: string;
  /** A registry's base URL (`--registry`, SHOAL_REGISTRY), for `nodes` and `status`: the first one listed. */
  registryUrl: string;
  /** Every registry listed (comma-separated): a decommission is sent to each, since registries share nothing. */
  registryUrls: string[];
  /** CLUSTER_TOKEN (`--cluster-token`, SHOAL_CLUSTER_TOKEN), for the calls that change the membership. */
  clusterToken?: string;
  /** Machine output: JSON on stdout, no progress bars. */
  json: boolean;
  /** No progress bars and no confirmations; results and errors are still printed. */
  quiet: boolean;
}

export function resolveCliConfig(options: GlobalOptions, env: CliEnv = readCliEnv()): CliConfig {
  const registrySource = options.registry ? '--registry' : 'SHOAL_REGISTRY';
  const registryUrls = (options.registry ?? env.SHOAL_REGISTRY ?? DEFAULT_REGISTRY_URL)
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u.length > 0)
    .map((u) => checkUrl(u, registrySource));
  if (registryUrls.length === 0) throw new UsageError(`${registrySource} names no registry`);
  return {
    url: checkUrl(options.url ?? env.SHOAL_URL ?? DEFAULT_NODE_URL, options.url ? '--url' : 'SHOAL_URL'),
    token: options.token || env.SHOAL_TOKEN,
    registryUrl: registryUrls[0],
    registryUrls,
    clusterToken: options.clusterToken || env.SHOAL_CLUSTER_TOKEN,
    json: options.json ?? false,
    quiet: options.quiet ?? false,
  };
}

function checkUrl(value: string, source: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${source} is not a URL: ${value}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${source} must be an http: or https: URL, not ${value}`);
  return value;
}
