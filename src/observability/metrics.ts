import { createCounter, createHistogram, usePrometheus, type FillLabelsFnParams } from '@graphql-yoga/plugin-prometheus';
import type { Plugin } from 'graphql-yoga';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { PoolStats, Store } from '../interfaces.js';
import { errorCodesOf } from './errorCodes.js';
import { IMPORT_OBSERVER, type ImportObserver } from './importObserver.js';

export const METRICS_PATH = '/metrics';

/**
 * Operation names come from clients, and every new one starts a series in each metric that carries it (a
 * histogram: one per bucket). Past this many distinct names, further ones are counted as OTHER_OPERATIONS.
 */
const MAX_OPERATION_NAMES = 200;
const OTHER_OPERATIONS = '(other)';
/** A GraphQL name of reasonable length; the `operationName` parameter is free text until validation. */
const OPERATION_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,99}$/;

/** Seconds. prom-client's defaults stop at 10 s; uploads and large pages take longer and belong in a bucket. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120];

const IMPORT_FILES = ['consolidated', 'authors', 'bookmarks'] as const;
const IMPORT_OUTCOMES = ['inserted', 'updated', 'skipped'] as const;

let processRegistry: Registry | undefined;

/**
 * The Node process's own metrics (CPU, memory, event loop, GC), collected once per process: they describe
 * the process, not a gateway, and collectDefaultMetrics installs observers that are never removed, which
 * would keep every gateway (and its store) alive in a process that starts many, as the tests do.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

function operationNameLabel(): (name: string | undefined) => string {
  const known = new Set<string>();
  return (name) => {
    if (!name) return 'Anonymous';
    if (known.has(name)) return name;
    if (!OPERATION_NAME.test(name) || known.size >= MAX_OPERATION_NAMES) return OTHER_OPERATIONS;
    known.add(name);
    return name;
  };
}

/** The newest verified backup of one kind (`all`, `source`), as the sx_backup_last_* gauges show it. */
export interface BackupGaugeValues {
  kind: string;
  timestampSeconds: number;
  bytes: number;
  /** Null for a backup whose manifest recorded no duration: the series is left out. */
  durationSeconds: number | null;
}

export interface GatewayMetricsOptions {
  /** POSTGRES_PRIMARY: reads the backup folder (cached by the reader) at each scrape. */
  backups?: () => Promise<BackupGaugeValues[]>;
}

export interface GatewayMetrics {
  /** This gateway's metrics; the process's default metrics are served beside them. */
  registry: Registry;
  plugins: Plugin[];
}

/**
 * Prometheus metrics of one gateway, on a registry of its own so that gateways sharing a process (tests) do
 * not count into each other. `/metrics` serves them with no authentication, as scrapers expect; SX_METRICS=0
 * leaves this out altogether.
 */
export function gatewayMetrics(store: Store, options: GatewayMetricsOptions = {}): GatewayMetrics {
  const registry = new Registry();
  const shared = processMetrics();
  const operationName = operationNameLabel();
  const operationLabels = (params: FillLabelsFnParams) => ({
    operationName: operationName(params.operationName),
    operationType: params.operationType ?? 'unknown',
  });

  const errorsByCode = new Counter({
    name: 'sx_graphql_errors_total',
    help: 'Errors in GraphQL responses by extensions.code (UNKNOWN: no code), whatever phase raised them',
    labelNames: ['code'],
    registers: [registry],
  });

  const importRows = new Counter({
    name: 'sx_import_rows_total',
    help: 'CSV rows read by importCsv mutations that committed, by file',
    labelNames: ['file'],
    registers: [registry],
  });
  const importItems = new Counter({
    name: 'sx_import_items_total',
    help: 'Items of committed importCsv mutations: inserted, updated, or skipped (unchanged or without id)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const imports = new Counter({ name: 'sx_imports_total', help: 'importCsv mutations that committed', registers: [registry] });
  // Zero from the start, so a rate over the first import has a base to start from.
  for (const file of IMPORT_FILES) importRows.inc({ file }, 0);
  for (const outcome of IMPORT_OUTCOMES) importItems.inc({ outcome }, 0);
  const observer: ImportObserver = (summary) => {
    imports.inc();
    for (const file of IMPORT_FILES) importRows.inc({ file }, summary.rows[file]);
    for (const outcome of IMPORT_OUTCOMES) importItems.inc({ outcome }, summary[outcome]);
  };

  if (store.poolStats) {
    const poolStats = store.poolStats.bind(store);
    // Read when scraped, from the pools' own counters: no query, no client taken from a pool.
    const poolGauge = (name: string, help: string, value: (stats: PoolStats) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['pool'],
        registers: [registry],
        collect() {
          for (const stats of poolStats()) this.set({ pool: stats.pool }, value(stats));
        },
      });
    poolGauge('sx_pg_pool_max_connections', 'PostgreSQL pool size limit', (s) => s.max);
    poolGauge('sx_pg_pool_connections', 'PostgreSQL connections open in the pool, idle or checked out', (s) => s.total);
    poolGauge('sx_pg_pool_idle_connections', 'PostgreSQL connections open and idle in the pool', (s) => s.idle);
    poolGauge('sx_pg_pool_waiting_requests', 'Callers waiting for a PostgreSQL client from the pool', (s) => s.waiting);
  }

  if (options.backups) {
    const readBackups = options.backups;
    const backupGauge = (name: string, help: string, value: (backup: BackupGaugeValues) => number | null, whenNone?: number) =>
      new Gauge({
        name,
        help,
        labelNames: ['kind'],
        registers: [registry],
        async collect() {
          const backups = await readBackups().catch(() => [] as BackupGaugeValues[]);
          this.reset();
          for (const backup of backups) {
            const v = value(backup);
            if (v !== null) this.set({ kind: backup.kind }, v);
          }
          // A full backup that never ran must still be a series, or `time() - …` in an alert has nothing to fire on.
          if (whenNone !== undefined && !backups.some((b) => b.kind === 'all')) this.set({ kind: 'all' }, whenNone);
        },
      });
    backupGauge(
      'sx_backup_last_success_timestamp_seconds',
      'Snapshot time of the newest verified backup in SX_BACKUP_DIR by kind (all: backup --all; source: per source); 0 when there is no full one',
      (b) => b.timestampSeconds,
      0,
    );
    backupGauge('sx_backup_last_size_bytes', 'Size of the dump of the newest verified backup by kind', (b) => b.bytes);
    backupGauge('sx_backup_last_duration_seconds', 'How long the newest verified backup by kind took (snapshot to manifest)', (b) => b.durationSeconds);
  }

  const prometheus = usePrometheus({
    registry,
    // Served below, together with the process's metrics.
    endpoint: false,
    metrics: {
      graphql_envelop_request_duration: createHistogram({
        registry,
        histogram: {
          name: 'graphql_envelop_request_duration',
          help: 'Time of one GraphQL operation from parse to the end of execution (seconds)',
          labelNames: ['operationName', 'operationType'],
          buckets: DURATION_BUCKETS,
        },
        fillLabelsFn: operationLabels,
      }),
      graphql_envelop_request: createCounter({
        registry,
        counter: {
          name: 'graphql_envelop_request',
          help: 'GraphQL operations executed',
          labelNames: ['operationName', 'operationType'],
        },
        fillLabelsFn: operationLabels,
      }),
      // The plugin's own error counter, by phase. Its `path` label is left out: it holds list indexes, so
      // every page would add series.
      graphql_envelop_error_result: createCounter({
        registry,
        counter: {
          name: 'graphql_envelop_error_result',
          help: 'Errors by GraphQL phase (parse, validate, context, execute)',
          labelNames: ['operationName', 'operationType', 'phase'],
        },
        fillLabelsFn: (params: FillLabelsFnParams) => ({ ...operationLabels(params), phase: params.errorPhase ?? 'unknown' }),
      }),
      graphql_yoga_http_duration: createHistogram({
        registry,
        histogram: {
          name: 'graphql_yoga_http_duration',
          help: 'Time of a GraphQL HTTP request, from its arrival to its response (seconds)',
          labelNames: ['operationName', 'operationType', 'method', 'statusCode'],
          buckets: DURATION_BUCKETS,
        },
        // The plugin's default labels include the whole URL, where a GET request carries its query and
        // variables: unbounded, and the client's data in the metrics.
        fillLabelsFn: (params: FillLabelsFnParams & { request: Request; response: Response }) => ({
          ...operationLabels(params),
          method: params.request.method,
          statusCode: params.response.status,
        }),
      }),
      // Left out: the per-phase histograms repeat the request duration with parse and validate cached to
      // microseconds; the summary repeats the histogram and cannot be aggregated across instances; the schema
      // never changes and has no deprecated fields; there are no subscriptions.
      graphql_envelop_request_time_summary: false,
      graphql_envelop_phase_parse: false,
      graphql_envelop_phase_validate: false,
      graphql_envelop_phase_context: false,
      graphql_envelop_phase_execute: false,
      graphql_envelop_phase_subscribe: false,
      graphql_envelop_deprecated_field: false,
      graphql_envelop_schema_change: false,
      graphql_envelop_execute_resolver: false,
    },
  });

  const ownHooks: Plugin = {
    onRequest({ request, url, endResponse, fetchAPI }) {
      if (url.pathname !== METRICS_PATH || request.method !== 'GET') return undefined;
      return Promise.all([shared.metrics(), registry.metrics()]).then(([own, gateway]) => {
        endResponse(new fetchAPI.Response(`${own}\n${gateway}`, { headers: { 'content-type': registry.contentType } }));
      });
    },
    onContextBuilding({ extendContext }) {
      extendContext({ [IMPORT_OBSERVER]: observer } as Record<string, unknown>);
    },
    onResultProcess({ result }) {
      for (const code of errorCodesOf(result)) errorsByCode.inc({ code });
    },
  };

  return { registry, plugins: [prometheus, ownHooks] };
}
