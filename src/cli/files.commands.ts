import { type Command, InvalidArgumentError } from 'commander';
import type { FileItem } from '../client/shoal-client.js';
import { commandContext, type CommandContext } from './command-context.js';
import { formatBytes, formatFields, formatTime, printJson, type CliIo } from './output.js';

interface LsOptions {
  limit?: number;
  local?: boolean;
}

/** `shoal rm`, `shoal ls` and `shoal stat`: the JSON calls of the client API. */
export function registerFileCommands(program: Command, io: CliIo): void {
  program
    .command('rm')
    .description('delete a file everywhere (a tombstone the cluster propagates)')
    .argument('<key>', 'the key to delete')
    .action((key: string, _options: unknown, cmd: Command) => rm(commandContext(cmd, io), key));

  program
    .command('ls')
    .description('list files in key order, following every page')
    .argument('[prefix]', 'only keys starting with this')
    .option('--limit <n>', 'files per page request (1–1000; the node defaults to 100)', parseLimit)
    .option('--local', "only the copies the node at --url holds on its own disk")
    .action((prefix: string | undefined, options: LsOptions, cmd: Command) => ls(commandContext(cmd, io), prefix, options));

  program
    .command('stat')
    .description("show a file's size, SHA-256, type and version (HEAD)")
    .argument('<key>', 'the key to look up')
    .action((key: string, _options: unknown, cmd: Command) => stat(commandContext(cmd, io), key));
}

async function rm(ctx: CommandContext, key: string): Promise<void> {
  await ctx.node().delete(key);
  if (ctx.config.json) printJson(ctx.io.stdout, { key, deleted: true });
  else if (!ctx.config.quiet) ctx.io.stdout.write(`deleted ${key}\n`);
}

/**
 * Pages are printed as they arrive, so a long listing starts at once and memory stays flat: the JSON array is written
 * item by item, and the human lines use fixed-width columns so pages line up without knowing what comes next.
 */
async function ls(ctx: CommandContext, prefix: string | undefined, options: LsOptions): Promise<void> {
  const { stdout } = ctx.io;
  const pages = ctx.node().pages({ prefix, limit: options.limit, local: options.local || undefined });
  if (ctx.config.json) {
    let first = true;
    stdout.write('[');
    for await (const page of pages) {
      for (const item of page.items) {
        stdout.write(`${first ? '\n' : ',\n'}  ${JSON.stringify(item)}`);
        first = false;
      }
    }
    stdout.write(first ? ']\n' : '\n]\n');
    return;
  }
  for await (const page of pages) stdout.write(page.items.map(lsLine).join(''));
}

function lsLine(item: FileItem): string {
  return `${formatBytes(item.size).padStart(10)}  ${formatTime(item.updatedAt).padEnd(20)}  ${item.key}\n`;
}

async function stat(ctx: CommandContext, key: string): Promise<void> {
  const info = await ctx.node().stat(key);
  if (ctx.config.json) {
    printJson(ctx.io.stdout, info);
    return;
  }
  ctx.io.stdout.write(
    formatFields([
      ['key', info.key],
      ['size', `${info.size} bytes (${formatBytes(info.size)})`],
      ['sha256', info.sha256],
      ['type', info.contentType],
      ['modified', info.lastModified ?? '-'],
      ['version', info.version ?? '-'],
    ]),
  );
}

function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new InvalidArgumentError('expected an integer from 1 to 1000');
  return n;
}
