import { randomBytes } from 'node:crypto';

export type ExpectedBackend = 'sqlite' | 'postgres_mirror' | 'postgres_primary';
export const EXPECTED_BACKENDS: readonly ExpectedBackend[] = ['sqlite', 'postgres_mirror', 'postgres_primary'];

export interface SmokeCheck {
  name: 'health' | 'backend' | 'source' | 'items' | 'unmapped';
  passed: boolean;
  detail: string;
  durationMs: number;
}

export interface SmokeReport {
  url: string;
  sourceId: string;
  expectBackend: ExpectedBackend;
  passed: boolean;
  checks: SmokeCheck[];
  durationMs: number;
}

export interface SmokeOptions {
  /** The gateway's base URL; a trailing /graphql is accepted and dropped. */
  url: string;
  sourceId: string;
  expectBackend?: ExpectedBackend;
  /** Per request. */
  timeoutMs?: number;
  /** The id the `unmapped` check sends; by default one no deployment has. */
  unmappedSourceId?: string;
}

/** A check that could not reach the gateway: the later ones are not run, they would only say the same. */
class Unreachable extends Error {}

interface GraphQLAnswer {
  status: number;
  body: { data?: any; errors?: { message: string; extensions?: { code?: string } }[] };
}

/**
 * The seed's smoke checks, over HTTP as a client sees the gateway: /health answers ok, the backend is the
 * expected one, the source routes (to its schema in PostgreSQL), its items answer, and a source nobody mapped
 * gets HTTP 400 SOURCE_NOT_MAPPED. Reads only, so no admin rights are needed.
 */
export async function smoke(options: SmokeOptions): Promise<SmokeReport> {
  const started = performance.now();
  const base = options.url.replace(/\/+$/, '').replace(/\/graphql$/, '');
  const expectBackend = options.expectBackend ?? 'postgres_primary';
  const timeoutMs = options.timeoutMs ?? 10_000;
  const unmapped = options.unmappedSourceId ?? `smoke-unmapped-${randomBytes(6).toString('hex')}`;
  const { sourceId } = options;

  const request = async (path: string, init: RequestInit = {}): Promise<Response> => {
    try {
      return await fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw new Unreachable(describeFetchFailure(error, base, timeoutMs));
    }
  };
  const graphql = async (query: string, variables: Record<string, unknown>): Promise<GraphQLAnswer> => {
    const response = await request('/graphql', {
      method: 'POST',
      // graphql-response+json first: errors then carry their HTTP status instead of a blanket 200.
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
      body: JSON.stringify({ query, variables }),
    });
    const text = await response.text();
    try {
      return { status: response.status, body: JSON.parse(text) as GraphQLAnswer['body'] };
    } catch {
      throw new Error(`HTTP ${response.status} with a body that is not JSON: ${text.slice(0, 120)}`);
    }
  };

  const checks: SmokeCheck[] = [];
  let unreachable: string | null = null;
  const check = async (name: SmokeCheck['name'], run: () => Promise<string>) => {
    const checkStarted = performance.now();
    let passed = false;
    let detail: string;
    if (unreachable) {
      detail = `not run: ${unreachable}`;
    } else {
      try {
        detail = await run();
        passed = true;
      } catch (error) {
        detail = (error as Error).message;
        if (error instanceof Unreachable) unreachable = detail;
      }
    }
    checks.push({ name, passed, detail, durationMs: Math.round(performance.now() - checkStarted) });
  };

  await check('health', async () => {
    const response = await request('/health');
    const body = (await response.json().catch(() => null)) as { status?: string; version?: string; backend?: { backend?: string } } | null;
    if (response.status !== 200 || body?.status !== 'ok') {
      throw new Error(`/health answered HTTP ${response.status}, status ${JSON.stringify(body?.status ?? null)}; expected 200 and "ok"`);
    }
    return `/health answered 200, status ok (version ${body.version ?? '?'}, backend ${body.backend?.backend ?? '?'})`;
  });

  await check('backend', async () => {
    const answer = await graphql('{ health { mode backend { backend } } }', {});
    const backend = answer.body.data?.health?.backend?.backend as string | undefined;
    if (answer.body.errors?.length || backend === undefined) throw new Error(`health query failed: ${errorsOf(answer)}`);
    if (backend !== expectBackend) throw new Error(`backend is ${backend} (mode ${answer.body.data.health.mode}), expected ${expectBackend}`);
    return `backend ${backend} (mode ${answer.body.data.health.mode})`;
  });

  await check('source', async () => {
    const answer = await graphql(
      'query Source($sourceId: ID!) { source(sourceId: $sourceId) { sourceId backend { backend schema searchPath } } }',
      { sourceId },
    );
    const scope = answer.body.data?.source as { sourceId: string; backend: { backend: string; schema: string | null; searchPath: string | null } } | null;
    if (answer.body.errors?.length || !scope) throw new Error(`source ${sourceId} does not route: ${errorsOf(answer)}`);
    if (scope.sourceId !== sourceId) throw new Error(`asked for source ${sourceId}, the answer names ${scope.sourceId}`);
    // In PostgreSQL a routed source has a schema; SQLite has none to name.
    if (expectBackend === 'postgres_primary' && !scope.backend.schema) {
      throw new Error(`source ${sourceId} answered without a schema (backend ${scope.backend.backend}): not routed to PostgreSQL`);
    }
    return scope.backend.schema
      ? `source ${sourceId} routes to schema ${scope.backend.schema} (search_path ${scope.backend.searchPath})`
      : `source ${sourceId} answers (backend ${scope.backend.backend}, no schema)`;
  });

  await check('items', async () => {
    const answer = await graphql(
      'query Items($sourceId: ID!) { source(sourceId: $sourceId) { items(first: 1) { totalCount nodes { id } } } }',
      { sourceId },
    );
    const items = answer.body.data?.source?.items as { totalCount: number; nodes: { id: string }[] } | undefined;
    if (answer.body.errors?.length || !items) throw new Error(`items of ${sourceId} failed: ${errorsOf(answer)}`);
    return items.totalCount === 0 ? `items answer: the source holds none` : `items answer: ${items.totalCount} in all, first ${items.nodes[0]?.id}`;
  });

  await check('unmapped', async () => {
    const answer = await graphql('query Unmapped($sourceId: ID!) { source(sourceId: $sourceId) { sourceId } }', { sourceId: unmapped });
    const code = answer.body.errors?.[0]?.extensions?.code;
    if (answer.status !== 400 || code !== 'SOURCE_NOT_MAPPED') {
      throw new Error(
        `source ${unmapped} answered HTTP ${answer.status} with ${code ? `code ${code}` : answer.body.data?.source ? 'data' : 'no error code'}; ` +
          'expected 400 SOURCE_NOT_MAPPED (no fallback to another source)',
      );
    }
    return `source ${unmapped} answered 400 SOURCE_NOT_MAPPED`;
  });

  return {
    url: base,
    sourceId,
    expectBackend,
    passed: checks.every((c) => c.passed),
    checks,
    durationMs: Math.round(performance.now() - started),
  };
}

function errorsOf(answer: GraphQLAnswer): string {
  const errors = answer.body.errors ?? [];
  if (errors.length === 0) return `HTTP ${answer.status}, no data`;
  return `HTTP ${answer.status}, ${errors.map((e) => `${e.extensions?.code ?? 'error'}: ${e.message}`).join('; ')}`;
}

/** fetch says "fetch failed" for everything; the cause says which. */
function describeFetchFailure(error: unknown, base: string, timeoutMs: number): string {
  const name = (error as Error)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return `no answer from ${base} within ${timeoutMs} ms`;
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  switch (cause?.code) {
    case 'ECONNREFUSED':
      return `connection refused at ${base}: is the gateway running there?`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host of ${base} not found`;
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return `connection to ${base} closed before an answer`;
    default:
      return `could not reach ${base}: ${cause?.message ?? (error as Error)?.message ?? String(error)}`;
  }
}
