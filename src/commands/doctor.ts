import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { runDoctor } from '../tasks/doctor.js';
import { EXIT_FAILED, printResult } from './shared.js';

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('Check the configuration, the stores, registry against schemas, migrations and tools (read-only)')
    .option('--json', 'print the report as one JSON object')
    .addHelpText('after', '\nExit code 1 when a check fails; warnings alone exit 0. Passwords in DSNs are shown as ***.')
    .action(async (options: { json?: boolean }) => {
      const report = await runDoctor(loadConfig());
      printResult(options.json, report, () => [
        ...report.checks.flatMap((c) => [`${c.status.toUpperCase().padEnd(4)} ${c.check.padEnd(10)} ${c.detail}`, ...(c.hint ? [`     ${''.padEnd(10)} → ${c.hint}`] : [])]),
        report.ok ? 'doctor: no failure' : 'doctor: FAILED',
      ]);
      if (!report.ok) process.exitCode = EXIT_FAILED;
    });
}
