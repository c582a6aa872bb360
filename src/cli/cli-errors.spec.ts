import { CommanderError } from 'commander';
import { ShoalClientError } from '../client/client-error.js';
import { CliError, errorLine, EXIT, exitCodeFor, UsageError } from './cli-errors.js';

const problem = (status: number, code: string, detail = 'something') => new ShoalClientError({ status, code, detail });

describe('exit codes and error lines', () => {
  it.each([
    [problem(404, 'NOT_FOUND'), EXIT.NOT_FOUND],
    [problem(401, 'UNAUTHORIZED'), EXIT.AUTH],
    [problem(403, 'FORBIDDEN'), EXIT.AUTH],
    [problem(503, 'INSUFFICIENT_REPLICAS'), EXIT.UNAVAILABLE],
    [problem(0, 'NETWORK_ERROR'), EXIT.UNAVAILABLE],
    [problem(400, 'CHECKSUM_MISMATCH'), EXIT.ERROR],
    [problem(507, 'INSUFFICIENT_STORAGE'), EXIT.ERROR],
    [new UsageError('bad'), EXIT.USAGE],
    [new CommanderError(1, 'commander.missingArgument', 'missing'), EXIT.USAGE],
    [new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), EXIT.OK],
    [new CliError('mismatch', 'CHECKSUM_MISMATCH'), EXIT.ERROR],
    [Object.assign(new Error('ENOENT: no such file or directory, stat \'x\''), { code: 'ENOENT' }), EXIT.ERROR],
  ])('%s → %s', (err, code) => expect(exitCodeFor(err)).toBe(code));

  it('prints one line from the problem document', () => {
    expect(errorLine(problem(404, 'NOT_FOUND', 'no live version of "a"'))).toBe('shoal: no live version of "a" (NOT_FOUND, HTTP 404)');
    expect(errorLine(problem(0, 'NETWORK_ERROR', 'cannot reach http://127.0.0.1:1: ECONNREFUSED'))).toBe('shoal: cannot reach http://127.0.0.1:1: ECONNREFUSED (NETWORK_ERROR)');
    expect(errorLine(problem(400, 'BAD_REQUEST', 'two\nlines'))).toBe('shoal: two lines (BAD_REQUEST, HTTP 400)');
  });
});
