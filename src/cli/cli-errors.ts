import { CommanderError } from 'commander';
import { ShoalClientError } from '../client/client-error.js';

/** The `shoal` exit codes (scripts rely on them). */
export const EXIT = {
  OK: 0,
  ERROR: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  AUTH: 4,
  UNAVAILABLE: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A command line that cannot work as given (missing key for stdin, bad URL): exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure the CLI found itself (checksum mismatch, short download), with the code it reports it under. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly exitCode: ExitCode = EXIT.ERROR,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof UsageError) return EXIT.USAGE;
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  if (err instanceof ShoalClientError) {
    const { status } = err;
    if (status === 404) return EXIT.NOT_FOUND;
    if (status === 401 || status === 403) return EXIT.AUTH;
    if (status === 503 || status === 0) return EXIT.UNAVAILABLE; // 0: no answer at all (refused, reset, timeout)
    return EXIT.ERROR;
  }
  return EXIT.ERROR;
}

/** The one line printed on stderr: `shoal: <detail> (<code>, HTTP <status>)`. */
export function errorLine(err: unknown): string {
  if (err instanceof ShoalClientError) {
    const where = err.status ? `${err.code}, HTTP ${err.status}` : err.code;
    return `shoal: ${oneLine(err.detail)} (${where})`;
  }
  if (err instanceof CliError) return `shoal: ${oneLine(err.message)} (${err.code})`;
  if (err instanceof UsageError) return `shoal: ${oneLine(err.message)} (see shoal --help)`;
  const e = err as NodeJS.ErrnoException;
  // Local I/O errors (ENOENT, EACCES, EISDIR): Node's message already names the path.
  if (e instanceof Error) return `shoal: ${oneLine(e.message)}${e.code && !e.message.includes(e.code) ? ` (${e.code})` : ''}`;
  return `shoal: ${oneLine(String(err))}`;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
