import { type ChaosOptions, type ChaosReport, formatSummary, runChaos } from './chaos-runner.js';

/**
 * A chaos run as the jest suites do it: 4 clients, 45 s to converge, progress and the summary on stderr under
 * `[tag]`. The options given override those defaults.
 */
export async function runChaosInJest(tag: string, options: Omit<ChaosOptions, 'progress'>): Promise<ChaosReport> {
  const report = await runChaos({ clients: 4, convergenceTimeoutMs: 45_000, ...options, progress: (line) => process.stderr.write(`[${tag}] ${line}\n`) });
  process.stderr.write(`${formatSummary(report)}\n`);
  return report;
}

/** One line per violation, for `expect(...).toEqual([])`: a failure then lists them all. */
export function violationLines(report: ChaosReport): string[] {
  return report.violations.map((v) => `${v.kind}${v.key ? ` ${v.key}` : ''}${v.node ? ` via ${v.node}` : ''}: ${v.detail}`);
}
