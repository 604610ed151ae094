import { userInfo } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { isGatewayError } from '../errors.js';
import {
  backupDirInEnvFile,
  DEFAULT_EXEC,
  DEFAULT_ON_CALENDAR,
  DEFAULT_RANDOMIZED_DELAY,
  renderSchedule,
  writeSchedule,
} from '../tasks/backupSchedule.js';
import { PLAN_MINIMUM_KEEP } from '../tasks/backupStatus.js';
import { positiveInteger, printResult, usageError } from './shared.js';

const DEFAULT_ENV_FILE = '/etc/sx-gateway/sx-gateway.env';
// Not --env-file: Node 20 takes that flag from anywhere on its command line, even after the script's name.

interface InstallOptions {
  outDir?: string;
  unitDir?: string;
  environmentFile: string;
  onCalendar: string;
  randomizedDelay: string;
  user: string;
  exec: string;
  workingDir: string;
  keep: number;
  cron?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

/** A value the templates cannot take is the operator's option to change: a usage error (exit 2), naming it. */
function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (isGatewayError(error) && error.code === 'BAD_USER_INPUT') throw usageError(`backup-schedule install: ${error.message}`);
    throw error;
  }
}

export function registerBackupScheduleCommand(program: Command): void {
  const schedule = program
    .command('backup-schedule')
    .description("The plan's nightly full backup as a systemd service + timer (or a cron.d line), from the templates in docs/");

  schedule
    .command('install')
    .description('Render the backup service and timer (or with --cron the cron.d file) and write them into --unit-dir')
    .option('--out-dir <dir>', 'the backup folder (backup --out); default: SX_BACKUP_DIR from --environment-file, else from the environment')
    .option('--unit-dir <dir>', 'where to write: /etc/systemd/system (or /etc/cron.d with --cron); required unless --dry-run')
    .option('--environment-file <file>', 'EnvironmentFile with SX_POSTGRES_DSN, SX_BACKUP_DIR, SX_PG_BIN_DIR …', DEFAULT_ENV_FILE)
    .option('--on-calendar <spec>', "systemd OnCalendar= (with --cron: a daily 'HH:MM')", DEFAULT_ON_CALENDAR)
    .option('--randomized-delay <span>', 'systemd RandomizedDelaySec=', DEFAULT_RANDOMIZED_DELAY)
    .option('--user <name>', 'the user the backup runs as', userInfo().username)
    .option('--exec <command>', 'the command that runs sx-gateway (absolute path first)', DEFAULT_EXEC)
    .option('--working-dir <dir>', 'where relative paths of the environment file resolve', process.cwd())
    .option('--keep <n>', `rolling backups to keep (the plan: at least ${PLAN_MINIMUM_KEEP})`, positiveInteger('--keep'), PLAN_MINIMUM_KEEP)
    .option('--cron', 'write one cron.d line instead of the systemd service and timer')
    .option('--dry-run', 'print the rendered files; write nothing')
    .option('--json', 'print {"files":[{"name","path","contents"}],"written","warnings","next"} as one JSON object')
    .addHelpText(
      'after',
      '\nThe files are the templates in docs/systemd/ and docs/cron/ with the values filled in; change a value by\n' +
        'running install again, not by editing the installed file. systemd: afterwards\n' +
        '  systemctl daemon-reload && systemctl enable --now sx-gateway-backup.timer\n' +
        'serve, health, /metrics and doctor watch SX_BACKUP_DIR: it must name the --out-dir folder.',
    )
    .action(async (options: InstallOptions) => {
      if (!options.dryRun && !options.unitDir) throw usageError('backup-schedule install: give --unit-dir <dir> (or --dry-run to print the files)');
      const envFile = path.resolve(options.environmentFile);
      const inEnvFile = await backupDirInEnvFile(envFile);
      const outDir = path.resolve(options.workingDir, options.outDir ?? inEnvFile ?? loadConfig().backupDir);
      const rendered = asUsage(() => renderSchedule({
        flavour: options.cron ? 'cron' : 'systemd',
        outDir,
        envFile,
        workingDir: path.resolve(options.workingDir),
        user: options.user,
        exec: options.exec,
        onCalendar: options.onCalendar,
        randomizedDelay: options.randomizedDelay,
        keep: options.keep,
      }));
      const warnings = [...rendered.warnings];
      if (inEnvFile === null) {
        warnings.push(`${envFile} does not set SX_BACKUP_DIR (or cannot be read here): set SX_BACKUP_DIR=${outDir} in it, or health and doctor watch another folder`);
      } else if (path.resolve(options.workingDir, inEnvFile) !== outDir) {
        warnings.push(`${envFile} sets SX_BACKUP_DIR=${inEnvFile}, but the backups go to ${outDir}: health and doctor would watch the wrong folder`);
      }
      const unitDir = options.unitDir ? path.resolve(options.unitDir) : null;
      const written = options.dryRun || !unitDir ? [] : await writeSchedule(rendered.files, unitDir);
      const next = options.cron
        ? ['cron reads /etc/cron.d by itself; check with: grep sx-gateway /var/log/syslog (or journalctl -t CRON)']
        : ['systemctl daemon-reload', 'systemctl enable --now sx-gateway-backup.timer', 'systemctl list-timers sx-gateway-backup.timer'];
      for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
      const files = rendered.files.map((file) => ({ name: file.name, path: unitDir ? path.join(unitDir, file.name) : null, contents: file.contents }));
      printResult(options.json, { files, written: written.length > 0, warnings, next }, () =>
        options.dryRun
          ? files.flatMap((file) => [`# ${file.path ?? file.name}`, ...file.contents.trimEnd().split('\n'), ''])
          : [...written.map((file) => `wrote ${file}`), 'then:', ...next.map((line) => `  ${line}`)],
      );
    });
}
