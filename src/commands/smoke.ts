import type { Command } from 'commander';
import { EXPECTED_BACKENDS, smoke, type ExpectedBackend, type SmokeReport } from '../tasks/smoke.js';
import { EXIT_FAILED, positiveInteger, printResult, usageError } from './shared.js';

interface SmokeCommandOptions {
  url: string;
  source: string;
  json?: boolean;
  expectBackend: string;
  timeoutMs: number;
}

export function registerSmokeCommand(program: Command): void {
  program
    .command('smoke')
    .description("Check a running gateway over HTTP: the seed's smoke checks, one PASS/FAIL line each")
    .requiredOption('--url <url>', 'base URL of the gateway, e.g. http://127.0.0.1:8123')
    .requiredOption('--source <id>', 'a source the gateway should serve')
    .option('--expect-backend <backend>', `backend the gateway must report: ${EXPECTED_BACKENDS.join(' | ')}`, 'postgres_primary')
    .option('--timeout-ms <ms>', 'limit for each request', positiveInteger('--timeout-ms'), 10_000)
    .option('--json', 'print the checks as one JSON object')
    .addHelpText(
      'after',
      '\nChecks: health (/health answers 200, status ok), backend (GraphQL health names the expected backend),\n' +
        'source (the source routes; in postgres_primary to a schema), items (its items answer), unmapped (a\n' +
        'source id nobody mapped gets HTTP 400 SOURCE_NOT_MAPPED). Exit code 0 when all pass, 1 when one fails.',
    )
    .action(async (options: SmokeCommandOptions) => {
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
      const report = await smoke({
        url: options.url,
        sourceId: options.source,
        expectBackend: options.expectBackend as ExpectedBackend,
        timeoutMs: options.timeoutMs,
      });
      printResult(options.json, report, () => reportLines(report));
      if (!report.passed) process.exitCode = EXIT_FAILED;
    });
}

function reportLines(report: SmokeReport): string[] {
  const width = Math.max(...report.checks.map((check) => check.name.length));
  const passed = report.checks.filter((check) => check.passed).length;
  return [
    ...report.checks.map((check) => `${check.passed ? 'PASS' : 'FAIL'} ${check.name.padEnd(width)}  ${check.detail}`),
    `smoke ${report.passed ? 'passed' : 'FAILED'}: ${passed} of ${report.checks.length} checks passed against ${report.url} ` +
      `(source ${report.sourceId}, ${(report.durationMs / 1000).toFixed(2)} s)`,
  ];
}
