/**
 * The `shoal` CLI's environment: SHOAL_URL, SHOAL_TOKEN, SHOAL_REGISTRY and SHOAL_CLUSTER_TOKEN. The CLI is a separate program from the
 * server roles (these variables mean nothing to a registry or a node), but like theirs its environment is read here,
 * in src/config, once, and handed down typed.
 */
export interface CliEnv {
  SHOAL_URL?: string;
  SHOAL_TOKEN?: string;
  SHOAL_REGISTRY?: string;
  /** The cluster's CLUSTER_TOKEN, for `shoal node decommission` (it changes the membership). */
  SHOAL_CLUSTER_TOKEN?: string;
}

/** The CLI's variables, as set (an empty value counts as unset). */
export function readCliEnv(env: NodeJS.ProcessEnv = process.env): CliEnv {
  const pick = (name: keyof CliEnv) => (env[name] ? env[name] : undefined);
  return { SHOAL_URL: pick('SHOAL_URL'), SHOAL_TOKEN: pick('SHOAL_TOKEN'), SHOAL_REGISTRY: pick('SHOAL_REGISTRY'), SHOAL_CLUSTER_TOKEN: pick('SHOAL_CLUSTER_TOKEN') };
}
