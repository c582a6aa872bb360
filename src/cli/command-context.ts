import type { Command } from 'commander';
import { ShoalClient, ShoalRegistryClient } from '../client/shoal-client.js';
import { type CliConfig, type GlobalOptions, resolveCliConfig } from './cli-config.js';
import type { CliIo } from './output.js';

/** What a command's action runs with: the resolved configuration, its streams, and clients built from both. */
export interface CommandContext {
  config: CliConfig;
  io: CliIo;
  node(): ShoalClient;
  registry(): ShoalRegistryClient;
  /** One client per registry listed, with the cluster token: for the calls that change the membership. */
  registries(): ShoalRegistryClient[];
}

export function commandContext(cmd: Command, io: CliIo): CommandContext {
  const config = resolveCliConfig(cmd.optsWithGlobals<GlobalOptions>());
  return {
    config,
    io,
    node: () => new ShoalClient({ url: config.url, token: config.token }),
    registry: () => new ShoalRegistryClient({ url: config.registryUrl }),
    registries: () => config.registryUrls.map((url) => new ShoalRegistryClient({ url, clusterToken: config.clusterToken })),
  };
}
