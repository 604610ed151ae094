import type { Command } from 'commander';
import {
  EXPECTED_BACKENDS,
  smoke,
  smokeAll,
  type ExpectedBackend,
  type SmokeAllReport,
  type SmokeCheck,
  type SmokeReport,
} from '../tasks/smoke.js';
import { EXIT_FAILED, positiveInteger, printResult, usageError } from './shared.js';

interface SmokeCommandOptions {
  url: string;
  source?: string;
  all?: boolean;
  json?: boolean;
  expectBackend: string;
  timeoutMs: number;
  concurrency: number;
}

export function registerSmokeCommand(program: Command): void {
  program
    .command('smoke')
    .description("Check a running gateway over HTTP: the seed's validation pass over every source (or one), PASS/FAIL lines")
    .requiredOption('--url <url>', 'base URL of the gateway, e.g. http://127.0.0.1:8123')
    .option('--all', 'check every source the gateway lists (the default without --source)')
    .option('--source <id>', 'check this one source only, one line per check')
    .option('--expect-backend <backend>', `backend the gateway must report: ${EXPECTED_BACKENDS.join(' | ')}`, 'postgres_primary')
    .option('--timeout-ms <ms>', 'limit for each request', positiveInteger('--timeout-ms'), 10_000)
    .option('--concurrency <n>', 'with --all: sources checked at once', positiveInteger('--concurrency'), 4)
    .option('--json', 'print the report as one JSON object (with --all: the gateway checks and one entry per source)')
    .addHelpText(
      'after',
      '\nGateway checks: health (/health answers 200, status ok), backend (GraphQL health names the expected\n' +
        'backend), sources (with --all: the gateway lists its sources), unmapped (a source id nobody mapped gets\n' +
        'HTTP 400 SOURCE_NOT_MAPPED). Per source: source (it routes; in postgres_primary to its schema), stats and\n' +
        'items (they answer, asked as fields of `source(sourceId)` over GraphQL), rest (the plugin\'s GET /items of\n' +
        'the source answers, stamped with its id).\n\n' +
        'With --all (the default): one line per gateway check, one line per source, then a summary line. With\n' +
        '--source S: one line per check. Exit code 0 when all pass, 1 when one fails.',
    )
    .action(async (options: SmokeCommandOptions) => {
      if (options.all && options.source !== undefined) throw usageError('--all and --source exclude each other');
      if (!(EXPECTED_BACKENDS as readonly string[]).includes(options.expectBackend)) {
        throw usageError(`--expect-backend must be one of ${EXPECTED_BACKENDS.join(', ')}, got ${JSON.stringify(options.expectBackend)}`);
      }
      let url: URL;
      try {
        url = new URL(options.url);
      } catch {
        throw usageError(`--url is not a URL: ${JSON.stringify(options.url)}`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(`--url must be http:// or https://, got ${url.protocol}`);
      const connection = { url: options.url, expectBackend: options.expectBackend as ExpectedBackend, timeoutMs: options.timeoutMs };
      if (options.source !== undefined) {
        const report = await smoke({ ...connection, sourceId: options.source });
        printResult(options.json, report, () => reportLines(report));
        if (!report.passed) process.exitCode = EXIT_FAILED;
        return;
      }
      const report = await smokeAll({ ...connection, concurrency: options.concurrency });
      printResult(options.json, report, () => allReportLines(report));
      if (!report.passed) process.exitCode = EXIT_FAILED;
    });
}

const verdict = (passed: boolean) => (passed ? 'PASS' : 'FAIL');

function checkLines(checks: SmokeCheck[]): string[] {
  const width = Math.max(...checks.map((check) => check.name.length));
  return checks.map((check) => `${verdict(check.passed)} ${check.name.padEnd(width)}  ${check.detail}`);
}

function reportLines(report: SmokeReport): string[] {
  const passed = report.checks.filter((check) => check.passed).length;
  return [
    ...checkLines(report.checks),
    `smoke ${report.passed ? 'passed' : 'FAILED'}: ${passed} of ${report.checks.length} checks passed against ${report.url} ` +
      `(source ${report.sourceId}, ${(report.durationMs / 1000).toFixed(2)} s)`,
  ];
}

/**
 * One line per source: what each check found when all pass, else only the checks that failed (a failed routing
 * makes stats and items fail for the same reason, so the first failure is the one to read).
 */
function allReportLines(report: SmokeAllReport): string[] {
  const width = Math.max(0, ...report.sources.map((source) => source.sourceId.length));
  const sourceLines = report.sources.map((source) => {
    const shown = source.passed ? source.checks : source.checks.filter((check) => !check.passed);
    const details = shown.map((check) => (source.passed ? check.detail : `${check.name}: ${check.detail}`));
    return `${verdict(source.passed)} source ${source.sourceId.padEnd(width)}  ${details.join('; ')}`;
  });
  const gatewayPassed = report.gateway.filter((check) => check.passed).length;
  const sourcesPassed = report.sources.filter((source) => source.passed).length;
  return [
    ...checkLines(report.gateway),
    ...sourceLines,
    `smoke ${report.passed ? 'passed' : 'FAILED'}: ${sourcesPassed} of ${report.sources.length} sources passed, ` +
      `${gatewayPassed} of ${report.gateway.length} gateway checks passed against ${report.url} (${(report.durationMs / 1000).toFixed(2)} s)`,
  ];
}
