import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GatewayError } from '../errors.js';
import { keepWarnings } from './backupStatus.js';

/** The templates are the files in docs/: what the README shows is what gets installed. */
const DOCS_DIR = fileURLToPath(new URL('../../docs/', import.meta.url));
const TEMPLATES = {
  service: { template: 'systemd/sx-gateway-backup.service', installAs: 'sx-gateway-backup.service' },
  timer: { template: 'systemd/sx-gateway-backup.timer', installAs: 'sx-gateway-backup.timer' },
  // cron.d ignores file names with a dot.
  cron: { template: 'cron/sx-gateway-backup', installAs: 'sx-gateway-backup' },
} as const;

/** The gateway's own entry point, run by the node that runs this process: both absolute, as systemd wants. */
export const DEFAULT_EXEC = `${process.execPath} ${fileURLToPath(new URL('../../bin/sx-gateway.js', import.meta.url))}`;
export const DEFAULT_ON_CALENDAR = '*-*-* 02:30';
export const DEFAULT_RANDOMIZED_DELAY = '30min';

export interface ScheduleOptions {
  /** systemd (service + timer) or one cron.d file. */
  flavour: 'systemd' | 'cron';
  /** The backup folder: `backup --out`; serve, health and doctor read it as SX_BACKUP_DIR. */
  outDir: string;
  envFile: string;
  workingDir: string;
  user: string;
  /** The command that runs sx-gateway: one or more words (`/usr/bin/node /opt/sx-gateway/bin/sx-gateway.js`). */
  exec: string;
  onCalendar: string;
  randomizedDelay: string;
  keep: number;
}

export interface ScheduleFile {
  /** The installed file's name (`sx-gateway-backup.timer`). */
  name: string;
  contents: string;
}

export interface RenderedSchedule {
  files: ScheduleFile[];
  warnings: string[];
}

// Values go into unit files and a shell line unquoted: only characters that mean nothing to systemd (no `%`
// specifiers, no `$` expansion, no quotes) and nothing to sh are accepted, rather than escaped two ways.
const SAFE_PATH = /^\/[A-Za-z0-9_@+=:,./-]*$/;
const SAFE_WORD = /^[A-Za-z0-9_@+=:,./-]+$/;
const SAFE_USER = /^[a-z_][a-z0-9_-]*[$]?$/i;
const SAFE_CALENDAR = /^[A-Za-z0-9*:,./~ -]+$/;
const SAFE_DELAY = /^[0-9a-z ]+$/;

function refuse(option: string, value: string, why: string): never {
  throw new GatewayError('BAD_USER_INPUT', `${option} ${JSON.stringify(value)}: ${why}`, { option });
}

function checkPath(option: string, value: string): string {
  if (!SAFE_PATH.test(value)) refuse(option, value, 'must be an absolute path of letters, digits and _@+=:,./- (no spaces, %, $ or quotes)');
  return value;
}

/**
 * `*-*-* 02:30` (or `02:30`, `daily`) as cron's five fields. Other calendar expressions have no faithful cron
 * form, and a schedule that silently means something else is worse than a refusal.
 */
export function cronScheduleOf(onCalendar: string): string {
  const spec = onCalendar.trim();
  if (spec === 'daily') return '0 0 * * *';
  const match = /^(?:\*-\*-\*\s+)?(\d{1,2}):(\d{2})(?::00)?$/.exec(spec);
  if (!match || Number(match[1]) > 23 || Number(match[2]) > 59) {
    refuse('--on-calendar', onCalendar, "has no cron form: --cron takes a daily time ('*-*-* HH:MM', 'HH:MM' or 'daily')");
  }
  return `${Number(match[2])} ${Number(match[1])} * * *`;
}

function fill(templateName: string, values: Record<string, string>): string {
  const text = readFileSync(path.join(DOCS_DIR, templateName), 'utf8');
  const filled = text.replace(/\{\{([A-Z_]+)\}\}/g, (whole, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`template ${templateName}: no value for ${whole}`);
    return value;
  });
  return filled;
}

/** The files `backup-schedule install` writes, from the templates in docs/. Pure but for reading the templates. */
export function renderSchedule(options: ScheduleOptions): RenderedSchedule {
  const exec = options.exec.trim().split(/\s+/);
  checkPath('--exec', exec[0]!);
  for (const word of exec.slice(1)) if (!SAFE_WORD.test(word)) refuse('--exec', word, 'has a character other than letters, digits and _@+=:,./-');
  if (!SAFE_USER.test(options.user)) refuse('--user', options.user, 'is not a user name');
  if (!SAFE_CALENDAR.test(options.onCalendar)) refuse('--on-calendar', options.onCalendar, 'is not a systemd calendar expression');
  if (!SAFE_DELAY.test(options.randomizedDelay)) refuse('--randomized-delay', options.randomizedDelay, "is not a systemd time span ('30min')");
  if (!Number.isInteger(options.keep) || options.keep < 1) refuse('--keep', String(options.keep), 'must be a positive integer');
  const values: Record<string, string> = {
    EXEC: exec.join(' '),
    OUT_DIR: checkPath('--out-dir', options.outDir),
    ENV_FILE: checkPath('--environment-file', options.envFile),
    WORKING_DIR: checkPath('--working-dir', options.workingDir),
    DOCS: DOCS_DIR.replace(/\/$/, ''),
    USER: options.user,
    KEEP: String(options.keep),
    ON_CALENDAR: options.onCalendar.trim(),
    RANDOMIZED_DELAY: options.randomizedDelay.trim(),
  };
  const kinds = options.flavour === 'cron' ? (['cron'] as const) : (['service', 'timer'] as const);
  if (options.flavour === 'cron') values.CRON_SCHEDULE = cronScheduleOf(options.onCalendar);
  return {
    files: kinds.map((kind) => ({ name: TEMPLATES[kind].installAs, contents: fill(TEMPLATES[kind].template, values) })),
    warnings: keepWarnings(options.keep),
  };
}

/** Each file is written beside its place and renamed: a timer never reads half a unit. Returns the paths. */
export async function writeSchedule(files: ScheduleFile[], unitDir: string): Promise<string[]> {
  await mkdir(unitDir, { recursive: true });
  const written: string[] = [];
  for (const file of files) {
    const target = path.join(unitDir, file.name);
    const partial = `${target}.partial`;
    await writeFile(partial, file.contents, { mode: 0o644 });
    await rename(partial, target);
    written.push(target);
  }
  return written;
}

/**
 * SX_BACKUP_DIR as an EnvironmentFile sets it (`KEY=value`, optionally quoted), or null when the file cannot be
 * read or does not set it: the install command compares it with --out-dir, since serve watches that folder.
 */
export async function backupDirInEnvFile(envFile: string): Promise<string | null> {
  const text = await readFile(envFile, 'utf8').catch(() => null);
  if (text === null) return null;
  let found: string | null = null;
  for (const line of text.split('\n')) {
    const match = /^\s*(?:export\s+)?SX_BACKUP_DIR\s*=\s*(.*?)\s*$/.exec(line);
    if (match) found = match[1]!.replace(/^(["'])(.*)\1$/, '$2');
  }
  return found;
}
