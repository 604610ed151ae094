import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { GatewayConfig } from '../config.js';
import { MANIFEST_SUFFIX, type BackupManifest } from './backupManifest.js';

/** The plan's retention: "Keep at least 7 rolling backups". */
export const PLAN_MINIMUM_KEEP = 7;

/** What `backup --keep N` and the createBackup mutation say when N is below the plan's minimum; they still run. */
export function keepWarnings(keep: number | undefined): string[] {
  if (keep === undefined || keep >= PLAN_MINIMUM_KEEP) return [];
  return [
    `keep ${keep} is below the plan's minimum of ${PLAN_MINIMUM_KEEP} rolling backups ` +
      `(POSTGRES_PRIMARY_MIGRATION: "Keep at least ${PLAN_MINIMUM_KEEP} rolling backups"): backups beyond the newest ${keep} are removed`,
  ];
}

/**
 * The manifest as the backup task writes it, with how long the backup took. `durationMs` is absent from
 * manifests written before it was recorded; readers that do not know it ignore it.
 */
export type TimedBackupManifest = BackupManifest & { durationMs?: number };

/** One backup that is whole: its manifest parses and its dump lies beside it with the size the manifest records. */
export interface VerifiedBackup {
  kind: 'all' | 'source';
  /** The source of a per-source backup; null for a full one. */
  sourceId: string | null;
  /** When the snapshot it holds was taken (the manifest's createdAt). */
  createdAt: Date;
  bytes: number;
  /** Null for a manifest written before durations were recorded. */
  durationMs: number | null;
  /** The manifest's file name, without its folder: a probe must not publish the server's paths. */
  name: string;
}

export interface NewestBackups {
  all: VerifiedBackup | null;
  source: VerifiedBackup | null;
}

// Only what the status needs; a restore checks the whole manifest and the dump's SHA-256 (loadBackup).
const statusManifest = z.object({
  format: z.literal('sx-gateway-backup'),
  formatVersion: z.literal(1),
  kind: z.enum(['all', 'source']),
  createdAt: z.string().datetime({ offset: true }),
  dump: z.object({ file: z.string().min(1), bytes: z.number().int().min(0) }),
  sources: z.array(z.object({ id: z.string() })),
  durationMs: z.number().min(0).optional(),
});

/** `sx-all-<stamp>.manifest.json` / `sx-source-<id>-<stamp>.manifest.json`, as backupBaseName names them. */
const MANIFEST_NAME = /^sx-(all|source)-(?:.+-)?(\d{8}T\d{9}Z)\.manifest\.json$/;

async function verified(dir: string, name: string, kind: 'all' | 'source'): Promise<VerifiedBackup | null> {
  const parsed = statusManifest.safeParse(await readFile(path.join(dir, name), 'utf8').then(JSON.parse).catch(() => null));
  if (!parsed.success || parsed.data.kind !== kind) return null;
  const manifest = parsed.data;
  // The manifest is renamed into place after its dump: a dump of another size is damaged or not this backup's.
  const dump = await stat(path.join(dir, path.basename(manifest.dump.file))).catch(() => null);
  if (!dump?.isFile() || dump.size !== manifest.dump.bytes) return null;
  return {
    kind,
    sourceId: kind === 'source' ? (manifest.sources[0]?.id ?? null) : null,
    createdAt: new Date(manifest.createdAt),
    bytes: manifest.dump.bytes,
    durationMs: manifest.durationMs ?? null,
    name,
  };
}

/**
 * The newest whole backup of each kind in a folder. Names sort by time, so the manifests are read newest first
 * and reading stops at the first whole one: a scrape reads one or two small files, not every manifest.
 */
export async function readNewestBackups(dir: string): Promise<NewestBackups> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const byKind: Record<'all' | 'source', { name: string; stamp: string }[]> = { all: [], source: [] };
  for (const name of names) {
    if (!name.endsWith(MANIFEST_SUFFIX)) continue;
    const match = MANIFEST_NAME.exec(name);
    if (match) byKind[match[1] as 'all' | 'source'].push({ name, stamp: match[2]! });
  }
  const newest = async (kind: 'all' | 'source'): Promise<VerifiedBackup | null> => {
    for (const { name } of byKind[kind].sort((a, b) => (a.stamp < b.stamp ? 1 : a.stamp > b.stamp ? -1 : 0))) {
      const backup = await verified(dir, name, kind);
      if (backup) return backup;
    }
    return null;
  };
  const [all, source] = await Promise.all([newest('all'), newest('source')]);
  return { all, source };
}

/** How long a folder's answer is reused when the folder itself has not changed. */
const STATUS_CACHE_MS = 30_000;
const statusCache = new Map<string, { folderMtimeMs: number; readAt: number; newest: Promise<NewestBackups> }>();

/**
 * readNewestBackups, cached per folder for the probes and scrapes that ask every few seconds. A backup adds its
 * manifest by a rename, which changes the folder's mtime: a new backup is seen at once, the cache only spares
 * re-reading an unchanged folder.
 */
export async function cachedNewestBackups(dir: string, now = Date.now()): Promise<NewestBackups> {
  const key = path.resolve(dir);
  const folderMtimeMs = (await stat(key).catch(() => null))?.mtimeMs ?? -1;
  const cached = statusCache.get(key);
  if (cached && cached.folderMtimeMs === folderMtimeMs && now - cached.readAt < STATUS_CACHE_MS) return cached.newest;
  const newest = readNewestBackups(key);
  statusCache.set(key, { folderMtimeMs, readAt: now, newest });
  newest.catch(() => statusCache.delete(key));
  return newest;
}

export type BackupFreshnessStatus = 'ok' | 'warn' | 'not_applicable';

/** Whether the nightly full backup is running: what health, doctor and their readers say about it. */
export interface BackupFreshness {
  status: BackupFreshnessStatus;
  /** SX_BACKUP_MAX_AGE_HOURS. */
  maxAgeHours: number;
  /** The newest whole full backup (`backup --all`) in SX_BACKUP_DIR; null when there is none or not applicable. */
  newest: VerifiedBackup | null;
  ageHours: number | null;
  /** Why the status is warn, or why it is not applicable; null when ok. */
  message: string | null;
}

/**
 * Only a full backup counts: the plan's nightly backup is `backup --all`, and a per-source backup before a risky
 * change protects one source, not the database. Only POSTGRES_PRIMARY has PostgreSQL backups to watch: in the
 * other modes PostgreSQL is not where the data lives, so the check says not applicable.
 */
export async function backupFreshness(config: GatewayConfig, now = new Date()): Promise<BackupFreshness> {
  const maxAgeHours = config.backupMaxAgeHours;
  if (config.mode !== 'POSTGRES_PRIMARY') {
    return { status: 'not_applicable', maxAgeHours, newest: null, ageHours: null, message: `not applicable in ${config.mode}: backups are watched in POSTGRES_PRIMARY` };
  }
  const { all } = await cachedNewestBackups(config.backupDir, now.getTime());
  if (!all) {
    return {
      status: 'warn',
      maxAgeHours,
      newest: null,
      ageHours: null,
      message: `no verified full backup in SX_BACKUP_DIR (${config.backupDir})`,
    };
  }
  const ageHours = (now.getTime() - all.createdAt.getTime()) / 3_600_000;
  const stale = ageHours > maxAgeHours;
  return {
    status: stale ? 'warn' : 'ok',
    maxAgeHours,
    newest: all,
    ageHours,
    message: stale
      ? `the newest verified full backup (${all.name}) is ${ageHours.toFixed(1)} h old, older than SX_BACKUP_MAX_AGE_HOURS=${maxAgeHours}`
      : null,
  };
}
