import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { GatewayError } from '../errors.js';
import { NO_MEDIA_SETTINGS } from '../sources/mediaSettings.js';
import { isSourceId } from '../sources/sourceId.js';

export const MANIFEST_SUFFIX = '.manifest.json';
const DUMP_SUFFIX = '.dump';

const tableSchema = z.object({ table: z.string(), rows: z.number().int().min(0), checksum: z.string().regex(/^[0-9a-f]{64}$/) });

const sourceSchema = z.object({
  // A manifest is a file anyone could have edited: its ids and names are held to the gateway's own rules.
  id: z.string().refine(isSourceId, 'not a valid source id'),
  label: z.string().nullable(),
  kind: z.string().nullable(),
  description: z.string().nullable(),
  enabled: z.boolean(),
  isDefault: z.boolean(),
  schemaName: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
  migrationVersion: z.number().int().nullable(),
  // Absent from backups taken before sources had media settings: such a source restores with the defaults.
  media: z
    .object({
      vaultRoot: z.string().nullable(),
      vaultRootWindows: z.string().nullable(),
      dataDir: z.string().nullable(),
      pathStyle: z.enum(['linux', 'windows']).nullable(),
      groupPrefix: z.string().nullable(),
    })
    .default(NO_MEDIA_SETTINGS),
  createdAt: z.string().nullable(),
  updatedAt: z.string().nullable(),
  tables: z.array(tableSchema),
});

const manifestSchema = z.object({
  format: z.literal('sx-gateway-backup'),
  formatVersion: z.literal(1),
  /** `all`: the whole database; `source`: one source's schema (an export is one too). */
  kind: z.enum(['all', 'source']),
  createdAt: z.string(),
  gatewayVersion: z.string(),
  server: z.object({ version: z.string(), versionNum: z.number().int(), database: z.string() }),
  tool: z.object({ name: z.string(), version: z.string() }),
  dump: z.object({ file: z.string(), bytes: z.number().int(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  registryTable: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
  latestMigration: z.number().int(),
  sources: z.array(sourceSchema),
});

export type BackupManifest = z.infer<typeof manifestSchema>;
export type ManifestSource = z.infer<typeof sourceSchema>;

/** A source's entry held to the manifest's rules, wherever it was read from (a dump alone carries its globals). */
export function parseManifestSource(value: unknown, from: string): ManifestSource {
  const result = sourceSchema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  throw new GatewayError('BACKUP_INVALID', `The source's global rows in ${from} are not valid: ${problems.join('; ')}`, { file: from });
}

/** `sx-all-20261125T104500123Z` / `sx-source-assets_1-20261125T104500123Z`: sortable, and says what it holds. */
export function backupBaseName(kind: 'all' | 'source', createdAt: Date, sourceId?: string): string {
  const stamp = createdAt.toISOString().replace(/[-:.]/g, '');
  return kind === 'all' ? `sx-all-${stamp}` : `sx-source-${sourceId}-${stamp}`;
}

export function dumpPathOf(dir: string, baseName: string): string {
  return path.join(dir, `${baseName}${DUMP_SUFFIX}`);
}

export function manifestPathOf(dir: string, baseName: string): string {
  return path.join(dir, `${baseName}${MANIFEST_SUFFIX}`);
}

export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Written beside the dump under a temporary name, then renamed: a manifest on disk is always whole. */
export async function writeManifest(file: string, manifest: BackupManifest): Promise<void> {
  const partial = `${file}.partial`;
  await writeFile(partial, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(partial, file);
}

export interface LoadedBackup {
  manifest: BackupManifest;
  manifestFile: string;
  dumpFile: string;
}

/** Where the manifest of a backup named by its dump (or by the manifest itself) lies. */
function manifestPathBeside(file: string): string {
  if (file.endsWith(MANIFEST_SUFFIX)) return file;
  return file.endsWith(DUMP_SUFFIX) ? `${file.slice(0, -DUMP_SUFFIX.length)}${MANIFEST_SUFFIX}` : `${file}${MANIFEST_SUFFIX}`;
}

/**
 * A dump named without a manifest beside it: restored from the global rows it carries itself (a per-source dump),
 * with what cannot be checked then said. A manifest named on its own, or a file that is not there, is not one.
 */
export async function isDumpWithoutManifest(file: string): Promise<boolean> {
  if (file.endsWith(MANIFEST_SUFFIX)) return false;
  const isFile = (name: string) => stat(name).then((s) => s.isFile(), () => false);
  return (await isFile(file)) && !(await isFile(manifestPathBeside(file)));
}

/**
 * A backup named by its dump or its manifest. The manifest must parse and the dump must be the very file it
 * describes (its SHA-256): a truncated copy or a dump paired with another backup's manifest is refused
 * before anything is restored.
 */
export async function loadBackup(file: string): Promise<LoadedBackup> {
  const manifestFile = manifestPathBeside(file);
  let text: string;
  try {
    text = await readFile(manifestFile, 'utf8');
  } catch {
    throw new GatewayError('BACKUP_INVALID', `No manifest ${manifestFile} beside the backup ${file}: a backup is a .dump with its ${MANIFEST_SUFFIX}`, {
      file,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new GatewayError('BACKUP_INVALID', `Manifest ${manifestFile} is not JSON: ${(error as Error).message}`, { file: manifestFile });
  }
  const result = manifestSchema.safeParse(parsed);
  if (!result.success) {
    const problems = result.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new GatewayError('BACKUP_INVALID', `Manifest ${manifestFile} is not an sx-gateway backup manifest: ${problems.join('; ')}`, {
      file: manifestFile,
    });
  }
  const manifest = result.data;
  // The dump named on the command line is the one checked and restored; a manifest alone names its own.
  const dumpFile = file.endsWith(DUMP_SUFFIX) ? file : path.join(path.dirname(manifestFile), path.basename(manifest.dump.file));
  let digest: string;
  try {
    digest = await sha256OfFile(dumpFile);
  } catch {
    throw new GatewayError('BACKUP_INVALID', `The dump ${dumpFile} named by ${manifestFile} is missing or unreadable`, { file: dumpFile });
  }
  if (digest !== manifest.dump.sha256) {
    throw new GatewayError(
      'BACKUP_INVALID',
      `The dump ${dumpFile} does not match its manifest (SHA-256 ${digest.slice(0, 12)}…, expected ${manifest.dump.sha256.slice(0, 12)}…): ` +
        'it is damaged, truncated or belongs to another backup',
      { file: dumpFile },
    );
  }
  return { manifest, manifestFile, dumpFile };
}

/** The backups of one kind (and source) in a folder, newest first. Files that are not ours are left alone. */
export async function listBackups(dir: string, kind: 'all' | 'source', sourceId?: string): Promise<{ base: string; manifest: BackupManifest }[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const found: { base: string; manifest: BackupManifest }[] = [];
  for (const name of names) {
    if (!name.endsWith(MANIFEST_SUFFIX)) continue;
    const parsed = manifestSchema.safeParse(await readFile(path.join(dir, name), 'utf8').then(JSON.parse).catch(() => null));
    if (!parsed.success || parsed.data.kind !== kind) continue;
    if (kind === 'source' && parsed.data.sources[0]?.id !== sourceId) continue;
    found.push({ base: name.slice(0, -MANIFEST_SUFFIX.length), manifest: parsed.data });
  }
  return found.sort((a, b) => (a.manifest.createdAt < b.manifest.createdAt ? 1 : a.manifest.createdAt > b.manifest.createdAt ? -1 : 0));
}

/** Keeps the `keep` newest backups of this kind (and source); removes the dump and the manifest of the rest. */
export async function pruneBackups(dir: string, keep: number, kind: 'all' | 'source', sourceId?: string): Promise<string[]> {
  const backups = await listBackups(dir, kind, sourceId);
  const removed: string[] = [];
  for (const old of backups.slice(keep)) {
    // The manifest goes last: a dump without one is an unfinished backup to any later run, never a restore point.
    await rm(path.join(dir, path.basename(old.manifest.dump.file)), { force: true });
    await rm(path.join(dir, `${old.base}${MANIFEST_SUFFIX}`), { force: true });
    removed.push(old.base);
  }
  return removed;
}
