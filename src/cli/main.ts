import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_NODE_URL, DEFAULT_REGISTRY_URL } from './cli-config.js';
import { errorLine, EXIT, exitCodeFor, type ExitCode } from './cli-errors.js';
import { registerClusterCommands } from './cluster.commands.js';
import { registerNodeCommands } from './node.commands.js';
import { registerFileCommands } from './files.commands.js';
import type { CliIo } from './output.js';
import { registerTransferCommands } from './transfer.commands.js';

const PROCESS_IO: CliIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };

/** The `shoal` program: global options and every command. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('shoal')
    .description('Command-line client of a Shoal cluster (DESIGN.md §5)')
    .version(packageVersion(), '-V, --version')
    .addOption(new Option('--url <url>', `a node's base URL (env SHOAL_URL; default ${DEFAULT_NODE_URL})`))
    .addOption(new Option('--token <token>', 'bearer token for the client API (env SHOAL_TOKEN, which keeps it out of `ps`)'))
    .addOption(new Option('--registry <url>', `a registry's base URL, for nodes and status; comma-separated for several (env SHOAL_REGISTRY; default ${DEFAULT_REGISTRY_URL})`))
    .addOption(new Option('--cluster-token <token>', 'the CLUSTER_TOKEN, for node decommission (env SHOAL_CLUSTER_TOKEN, which keeps it out of `ps`)'))
    .option('--json', 'machine output: JSON on stdout, no progress')
    .option('-q, --quiet', 'no progress bars and no confirmations')
    .showSuggestionAfterError()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // Commander's own usage errors get the same one-line shape as every other error.
      outputError: (s, write) => write(`shoal: ${s.replace(/^error: /, '')}`),
    })
    .exitOverride();
  registerTransferCommands(program, io);
  registerFileCommands(program, io);
  registerNodeCommands(program, io);
  registerClusterCommands(program, io); // commands inherit exitOverride and the output configuration set above
  return program;
}

/** Runs one command line and returns its exit code; every error is reported as one line on stderr. */
export async function main(argv: readonly string[] = process.argv, io: CliIo = PROCESS_IO): Promise<ExitCode> {
  try {
    await buildProgram(io).parseAsync(argv);
    return EXIT.OK;
  } catch (err) {
    // Commander has already printed its message (and help/version are not errors).
    if (!(err instanceof CommanderError)) io.stderr.write(`${errorLine(err)}\n`);
    return exitCodeFor(err);
  }
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown'; // run from an unusual layout: the version is cosmetic
  }
}
