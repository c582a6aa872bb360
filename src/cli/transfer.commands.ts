import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, fstatSync, rmSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { commandContext, type CommandContext } from './command-context.js';
import { CliError, EXIT, UsageError } from './cli-errors.js';
import { contentTypeFor } from './content-type.js';
import { formatBytes, printJson, type CliIo } from './output.js';
import { createProgress, type Progress } from './progress.js';

interface PutOptions {
  contentType?: string;
  verify?: boolean;
}

/** `shoal put` and `shoal get`: streamed in both directions, so memory stays flat whatever the file size. */
export function registerTransferCommands(program: Command, io: CliIo): void {
  program
    .command('put')
    .description('upload a file, or stdin with -')
    .argument('<file>', 'the file to upload, or - for stdin')
    .argument('[key]', 'the key to store it under (default: the file name; required with -)')
    .option('--content-type <type>', 'Content-Type to store (default: from the file extension)')
    .option('--verify', 'hash the file before sending and have the node check it (X-Content-SHA256); reads the file twice')
    .action((file: string, key: string | undefined, options: PutOptions, cmd: Command) => put(commandContext(cmd, io), file, key, options));

  program
    .command('get')
    .description("download a file; its SHA-256 is checked against the ETag")
    .argument('<key>', 'the key to download')
    .argument('[file]', "where to write: a file or directory (default: the key's base name here), or - for stdout")
    .action((key: string, file: string | undefined, _options: unknown, cmd: Command) => get(commandContext(cmd, io), key, file));
}

async function put(ctx: CommandContext, file: string, keyArg: string | undefined, options: PutOptions): Promise<void> {
  const { config, io } = ctx;
  const fromStdin = file === '-';
  if (fromStdin && !keyArg) throw new UsageError('put - reads stdin and needs a key: shoal put - <key>');
  if (fromStdin && options.verify) throw new UsageError('--verify needs a file: stdin cannot be read twice');
  const key = keyArg ?? path.basename(file);

  let source: Readable;
  let size: number | undefined;
  if (fromStdin) {
    source = io.stdin as Readable;
    size = regularFileSize(io.stdin.fd); // `< file` is a regular file: its size is known, so no chunked encoding
  } else {
    const info = await stat(file);
    if (info.isDirectory()) throw new UsageError(`${file} is a directory`);
    size = info.isFile() ? info.size : undefined; // a FIFO or /dev/stdin streams like stdin
    if (options.verify && size === undefined) throw new UsageError(`--verify needs a regular file: ${file} cannot be read twice`);
    source = createReadStream(file);
  }
  // Read ahead of the upload (the stream above has not started reading yet): the node then refuses other bytes.
  const sha256 = options.verify ? await hashFile(file) : undefined;
  const contentType = options.contentType ?? contentTypeFor(fromStdin ? key : file);

  const progress = createProgress(config, io, `put ${shorten(key)}`, size);
  // After the last byte the node still streams the file to the owners and waits for W fsyncs: say so, or the bar
  // would sit at 100% with nothing happening (a minute for 1 GiB on a slow disk).
  source.once('end', () => progress.note('sent; waiting for the copies to be stored'));
  const dispose = onInterrupt(() => progress.stop('interrupted'));
  const info = await withProgress(progress, () => ctx.node().upload(key, source, { size, contentType, sha256, onProgress: (n) => progress.update(n) })).finally(dispose);
  if (config.json) printJson(io.stdout, info);
  else if (!config.quiet) {
    io.stdout.write(`stored ${info.key} (${formatBytes(info.size)}, sha256 ${info.sha256}) on ${info.replicas} node${info.replicas === 1 ? '' : 's'}: ${info.nodes.join(', ')}\n`);
  }
}

async function get(ctx: CommandContext, key: string, fileArg: string | undefined): Promise<void> {
  const { config, io } = ctx;
  const toStdout = fileArg === '-';
  const target = toStdout ? '-' : await targetPath(key, fileArg);

  let progress: Progress | undefined;
  const download = await ctx.node().download(key, { onProgress: (n) => progress?.update(n) });
  const expected = download.sha256;
  if (!expected) {
    download.body.destroy();
    throw new CliError('the answer has no ETag holding a SHA-256: nothing to verify the download against', 'NO_CHECKSUM');
  }
  progress = createProgress(config, io, `get ${shorten(key)}`, download.size);
  const hash = createHash('sha256');
  let received = 0;
  const hasher = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      received += chunk.length;
      callback(null, chunk);
    },
  });
  const check = () => {
    if (download.size !== undefined && received !== download.size) {
      throw new CliError(`the download ended after ${received} of ${download.size} bytes`, 'INCOMPLETE_DOWNLOAD', EXIT.UNAVAILABLE);
    }
    const actual = hash.digest('hex');
    if (actual !== expected) {
      const what = toStdout ? 'the output written is corrupt' : 'nothing was saved';
      throw new CliError(`checksum mismatch: received sha256 ${actual}, the ETag says ${expected}; ${what}`, 'CHECKSUM_MISMATCH');
    }
  };

  if (toStdout) {
    await withProgress(progress, () => pipeline(download.body, hasher, io.stdout));
    check();
    return;
  }
  // Written beside the target and renamed only once verified: the target never holds a partial or corrupt file.
  const part = `${target}.part`;
  const dispose = onInterrupt(() => {
    progress?.stop('interrupted');
    rmSync(part, { force: true });
  });
  try {
    await withProgress(progress, () => pipeline(download.body, hasher, createWriteStream(part)));
    check();
    await rename(part, target);
  } catch (err) {
    await rm(part, { force: true });
    throw err;
  } finally {
    dispose();
  }
  if (config.json) printJson(io.stdout, { key, file: target, size: received, sha256: expected, contentType: download.contentType, version: download.version });
  else if (!config.quiet) io.stdout.write(`saved ${key} to ${target} (${formatBytes(received)}, sha256 verified)\n`);
}

/** The file `get` writes: the key's base name in the current directory by default, or inside a named directory. */
async function targetPath(key: string, file: string | undefined): Promise<string> {
  const isDir = file !== undefined && (await stat(file).then((s) => s.isDirectory(), () => false));
  if (file !== undefined && !isDir) return file;
  const base = path.posix.basename(key);
  if (base === '' || base === '.' || base === '..') throw new UsageError(`"${key}" has no usable file name: give one, e.g. shoal get '${key}' out.bin`);
  return path.join(file ?? '.', base);
}

/** Ctrl-C during a transfer: finish the progress line and remove what is half-written, then exit 130 as shells expect. */
function onInterrupt(cleanup: () => void): () => void {
  const handler = () => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', handler);
  return () => process.removeListener('SIGINT', handler);
}

async function withProgress<T>(progress: Progress, run: () => Promise<T>): Promise<T> {
  try {
    const result = await run();
    progress.stop();
    return result;
  } catch (err) {
    progress.stop('failed');
    throw err;
  }
}

function regularFileSize(fd: number | undefined): number | undefined {
  if (fd === undefined) return undefined;
  const s = fstatSync(fd);
  return s.isFile() ? s.size : undefined;
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Progress labels stay short; the key is printed in full when the transfer is done. */
function shorten(key: string): string {
  return key.length <= 24 ? key : `…${key.slice(-23)}`;
}
