import { z } from 'zod';
import type { GatewayError } from './errors.js';
import { checkMediaSettings, NO_MEDIA_SETTINGS, type StoredMediaSettings } from './sources/mediaSettings.js';

/** How many schemas `migrate` works on at once unless told otherwise. */
export const DEFAULT_MIGRATION_CONCURRENCY = 4;

export const BACKEND_MODES = ['SQLITE', 'POSTGRES_MIRROR', 'POSTGRES_PRIMARY'] as const;
export type BackendMode = (typeof BACKEND_MODES)[number];

const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/;

const envSchema = z
  .object({
    SX_DB_BACKEND_MODE: z.enum(BACKEND_MODES).default('SQLITE'),
    SX_DB_PATH: z.string().min(1).default('data/sx_obsidian.db'),
    SX_POSTGRES_DSN: z
      .string()
      .refine((v) => v === 'embedded' || /^postgres(ql)?:\/\//.test(v), 'must be a postgres:// URL or "embedded"')
      .optional(),
    SX_POSTGRES_ADMIN_DSN: z
      .string()
      .refine((v) => /^postgres(ql)?:\/\//.test(v), 'must be a postgres:// URL')
      .optional(),
    SX_POSTGRES_SCHEMA_PREFIX: z
      .string()
      .regex(identifier, 'must match ^[A-Za-z_][A-Za-z0-9_]*$')
      .max(20, 'must be at most 20 characters, leaving room for the source id in 63 bytes')
      .default('sx'),
    SX_POSTGRES_REGISTRY_TABLE: z
      .string()
      .regex(identifier, 'must match ^[A-Za-z_][A-Za-z0-9_]*$')
      .max(63)
      .default('sx_source_registry'),
    SX_POSTGRES_POOL_MAX: z.coerce.number().int().min(1).max(1000).default(10),
    SX_POSTGRES_EMBEDDED_DIR: z.string().min(1).default('data/pg'),
    SX_POSTGRES_EMBEDDED_PORT: z.coerce.number().int().min(1).max(65535).default(54329),
    SX_API_HOST: z.string().min(1).default('127.0.0.1'),
    SX_API_PORT: z.coerce.number().int().min(0).max(65535).default(8123),
    SX_SHUTDOWN_GRACE_SEC: z.coerce.number().min(0).max(3600).default(25),
    SX_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    SX_REGISTRY_CACHE_TTL_SEC: z.coerce.number().min(0).default(30),
    SX_DB_BACKEND_SYNC_TTL_SEC: z.coerce.number().min(0).default(120),
    SX_BACKUP_DIR: z.string().min(1).default('data/backups'),
    SX_BACKUP_MAX_AGE_HOURS: z.coerce.number().positive().max(24 * 366).default(26),
    SX_DEMO_IMPORT: z.enum(['0', '1']).default('1'),
    SX_GRAPHQL_JIT: z.enum(['0', '1']).default('1'),
    SX_METRICS: z.enum(['0', '1']).default('1'),
    SX_API_REQUIRE_EXPLICIT_SOURCE: z.enum(['0', '1']).default('0'),
    SX_CORS_ORIGINS: z.string().default('app://obsidian.md'),
    SX_MAX_QUERY_DEPTH: z.coerce.number().int().min(2).max(100).default(10),
    SX_MAX_QUERY_COST: z.coerce.number().int().min(1).default(50_000),
    SX_MAX_QUERY_FIELDS: z.coerce.number().int().min(1).default(250),
    SX_MAX_ALIASES: z.coerce.number().int().min(0).default(15),
    SX_MAX_QUERY_TOKENS: z.coerce.number().int().min(100).default(4_000),
    SX_MAX_BATCH: z.coerce.number().int().min(0).max(100).default(5),
    SX_MAX_QUERY_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024),
    SX_MAX_UPLOAD_MB: z.coerce.number().int().min(1).max(4096).default(64),
    SX_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).default(30_000),
    SX_VAULT_ROOT: z.string().optional(),
    SX_VAULT_ROOT_WINDOWS: z.string().optional(),
    SX_MEDIA_DATA_DIR: z.string().min(1).default('data'),
    SX_PATH_STYLE: z.enum(['linux', 'windows']).default('linux'),
    SX_PATHLINKER_GROUP: z.string().optional(),
    SX_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  });

const MEDIA_SETTING_ENV: Record<string, string> = {
  vaultRoot: 'SX_VAULT_ROOT',
  vaultRootWindows: 'SX_VAULT_ROOT_WINDOWS',
  dataDir: 'SX_MEDIA_DATA_DIR',
  pathStyle: 'SX_PATH_STYLE',
  groupPrefix: 'SX_PATHLINKER_GROUP',
};

export interface GatewayConfig {
  mode: BackendMode;
  sqlitePath: string;
  postgres: {
    dsn: string | null;
    adminDsn: string | null;
    schemaPrefix: string;
    registryTable: string;
    poolMax: number;
    embeddedDir: string;
    embeddedPort: number;
  };
  api: { host: string; port: number };
  rest: {
    /** Refuse a REST request that names no source (the original's strict mode) instead of serving the default. */
    requireExplicitSource: boolean;
    /** Origins a browser may call from (CORS), for every route; `*` allows any. The Obsidian app's by default. */
    corsOrigins: string[];
  };
  /** On SIGTERM/SIGINT, how long running requests may take to finish before their connections are cut. */
  shutdownGraceMs: number;
  adminToken: string | null;
  registryCacheTtlMs: number;
  /** POSTGRES_MIRROR: how old a source's SQLite copy may be before a read pulls it again; 0 pulls before every operation. */
  mirrorSyncTtlMs: number;
  /** Where the createBackup mutation writes; the CLI's backup takes --out instead. */
  backupDir: string;
  /** POSTGRES_PRIMARY: health and doctor warn when the newest verified full backup in backupDir is older than this. */
  backupMaxAgeHours: number;
  demoImport: boolean;
  /** Execute operations through graphql-jit (compiled once per document) instead of graphql-js. */
  graphqlJit: boolean;
  /** Serve Prometheus metrics at /metrics (unauthenticated, as Prometheus scrapes expect). */
  metrics: boolean;
  logLevel: string;
  limits: RequestLimits;
  /** Media settings of every source that sets none of its own (see StoredMediaSettings). */
  media: StoredMediaSettings;
}

/** What one request may ask for; every limit is checked before the request reaches a database. */
export interface RequestLimits {
  /** Nesting of selections, fragments expanded. */
  depth: number;
  /** Estimated rows × fields: every field costs 1, a page multiplies what it selects by its size. */
  cost: number;
  /** Fields selected in all, aliases and fragments expanded. */
  fields: number;
  aliases: number;
  /** Lexical tokens of the document, checked while parsing. */
  tokens: number;
  /** Operations in one batched request; 0 turns batching off. */
  batch: number;
  /** Body of a request that is not a file upload (JSON or GET query). */
  queryBytes: number;
  /** Body of a multipart request (file uploads), which is held in memory while it is read. */
  uploadBytes: number;
  /** PostgreSQL statement_timeout of every read and write transaction; 0 turns it off. Imports are exempt. */
  statementTimeoutMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads and validates the environment; every bad value is named in one error. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  // Empty strings are treated as unset, as a shell `VAR=` usually means "no value".
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  // The seed forbids a silent fallback: PRIMARY without a DSN must not quietly serve SQLite.
  // MIRROR pulls every source it serves from PostgreSQL: without a DSN it would be SQLITE under another name.
  const mode = present.SX_DB_BACKEND_MODE;
  if ((mode === 'POSTGRES_PRIMARY' || mode === 'POSTGRES_MIRROR') && !present.SX_POSTGRES_DSN) {
    problems.push(`SX_POSTGRES_DSN: is required when SX_DB_BACKEND_MODE=${mode} (a postgres:// URL or "embedded")`);
  }
  if (!parsed.success || problems.length) throw new ConfigError(problems);
  const e = parsed.data;
  let media: StoredMediaSettings;
  try {
    media = {
      ...NO_MEDIA_SETTINGS,
      ...checkMediaSettings({
        vaultRoot: e.SX_VAULT_ROOT,
        vaultRootWindows: e.SX_VAULT_ROOT_WINDOWS,
        dataDir: e.SX_MEDIA_DATA_DIR,
        pathStyle: e.SX_PATH_STYLE,
        groupPrefix: e.SX_PATHLINKER_GROUP,
      }),
    };
  } catch (error) {
    const field = String((error as GatewayError).extensions.field);
    throw new ConfigError([`${MEDIA_SETTING_ENV[field] ?? field}: ${(error as Error).message}`]);
  }
  return {
    mode: e.SX_DB_BACKEND_MODE,
    sqlitePath: e.SX_DB_PATH,
    postgres: {
      dsn: e.SX_POSTGRES_DSN ?? null,
      adminDsn: e.SX_POSTGRES_ADMIN_DSN ?? null,
      schemaPrefix: e.SX_POSTGRES_SCHEMA_PREFIX,
      registryTable: e.SX_POSTGRES_REGISTRY_TABLE,
      poolMax: e.SX_POSTGRES_POOL_MAX,
      embeddedDir: e.SX_POSTGRES_EMBEDDED_DIR,
      embeddedPort: e.SX_POSTGRES_EMBEDDED_PORT,
    },
    api: { host: e.SX_API_HOST, port: e.SX_API_PORT },
    rest: {
      requireExplicitSource: e.SX_API_REQUIRE_EXPLICIT_SOURCE === '1',
      corsOrigins: e.SX_CORS_ORIGINS.split(',').map((origin) => origin.trim()).filter(Boolean),
    },
    shutdownGraceMs: e.SX_SHUTDOWN_GRACE_SEC * 1000,
    adminToken: e.SX_ADMIN_TOKEN ?? null,
    registryCacheTtlMs: e.SX_REGISTRY_CACHE_TTL_SEC * 1000,
    mirrorSyncTtlMs: e.SX_DB_BACKEND_SYNC_TTL_SEC * 1000,
    backupDir: e.SX_BACKUP_DIR,
    backupMaxAgeHours: e.SX_BACKUP_MAX_AGE_HOURS,
    demoImport: e.SX_DEMO_IMPORT === '1',
    graphqlJit: e.SX_GRAPHQL_JIT === '1',
    metrics: e.SX_METRICS === '1',
    logLevel: e.SX_LOG_LEVEL,
    limits: {
      depth: e.SX_MAX_QUERY_DEPTH,
      cost: e.SX_MAX_QUERY_COST,
      fields: e.SX_MAX_QUERY_FIELDS,
      aliases: e.SX_MAX_ALIASES,
      tokens: e.SX_MAX_QUERY_TOKENS,
      batch: e.SX_MAX_BATCH,
      queryBytes: e.SX_MAX_QUERY_BYTES,
      uploadBytes: e.SX_MAX_UPLOAD_MB * 1024 * 1024,
      statementTimeoutMs: e.SX_STATEMENT_TIMEOUT_MS,
    },
    media,
  };
}
