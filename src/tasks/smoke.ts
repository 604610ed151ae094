import { randomBytes } from 'node:crypto';

export type ExpectedBackend = 'sqlite' | 'postgres_mirror' | 'postgres_primary';
export const EXPECTED_BACKENDS: readonly ExpectedBackend[] = ['sqlite', 'postgres_mirror', 'postgres_primary'];

export interface SmokeCheck {
  name: 'health' | 'backend' | 'sources' | 'source' | 'stats' | 'items' | 'rest' | 'unmapped';
  passed: boolean;
  detail: string;
  durationMs: number;
}

/** One source's smoke with `--source`: every check, the gateway-wide ones too. */
export interface SmokeReport {
  url: string;
  sourceId: string;
  expectBackend: ExpectedBackend;
  passed: boolean;
  checks: SmokeCheck[];
  durationMs: number;
}

/** One source of an every-source smoke: its own checks (source, stats, items). */
export interface SourceSmoke {
  sourceId: string;
  /** As the gateway lists it; null when no schema is mapped (or in SQLite). */
  schemaName: string | null;
  passed: boolean;
  checks: SmokeCheck[];
}

/** The smoke of every source the gateway lists: the gateway-wide checks once, then each source's. */
export interface SmokeAllReport {
  url: string;
  expectBackend: ExpectedBackend;
  passed: boolean;
  /** health, backend, sources (the listing), unmapped. */
  gateway: SmokeCheck[];
  sources: SourceSmoke[];
  durationMs: number;
}

export interface SmokeConnection {
  /** The gateway's base URL; a trailing /graphql is accepted and dropped. */
  url: string;
  expectBackend?: ExpectedBackend;
  /** Per request. */
  timeoutMs?: number;
  /** The id the `unmapped` check sends; by default one no deployment has. */
  unmappedSourceId?: string;
}

export interface SmokeOptions extends SmokeConnection {
  sourceId: string;
}

export interface SmokeAllOptions extends SmokeConnection {
  /** Sources checked at once; their lines are still printed in the listing's order. */
  concurrency?: number;
}

/** A check that could not reach the gateway: the later ones are not run, they would only say the same. */
class Unreachable extends Error {}

interface GraphQLAnswer {
  status: number;
  body: { data?: any; errors?: { message: string; extensions?: { code?: string } }[] };
}

interface ListedSource {
  id: string;
  schemaName: string | null;
}

/**
 * The seed's validation pass over HTTP, as a client sees the gateway: `/health`, then per source its routing,
 * `stats` and `items`, asked as the GraphQL fields of `source(sourceId)`, then the plugin's REST face (`rest`:
 * GET /items of the source). Reads only, so no admin rights are needed.
 */
class SmokeProbe {
  readonly base: string;
  readonly expectBackend: ExpectedBackend;
  private readonly timeoutMs: number;
  private readonly unmapped: string;
  /** Set by the first check that cannot reach the gateway; every later check says so instead of waiting again. */
  private unreachable: string | null = null;

  constructor(options: SmokeConnection) {
    this.base = options.url.replace(/\/+$/, '').replace(/\/graphql$/, '');
    this.expectBackend = options.expectBackend ?? 'postgres_primary';
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.unmapped = options.unmappedSourceId ?? `smoke-unmapped-${randomBytes(6).toString('hex')}`;
  }

  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(`${this.base}${path}`, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      throw new Unreachable(describeFetchFailure(error, this.base, this.timeoutMs));
    }
  }

  private async graphql(query: string, variables: Record<string, unknown>): Promise<GraphQLAnswer> {
    const response = await this.request('/graphql', {
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
  }

  private async check(name: SmokeCheck['name'], run: () => Promise<string>): Promise<SmokeCheck> {
    const started = performance.now();
    let passed = false;
    let detail: string;
    if (this.unreachable) {
      detail = `not run: ${this.unreachable}`;
    } else {
      try {
        detail = await run();
        passed = true;
      } catch (error) {
        detail = (error as Error).message;
        if (error instanceof Unreachable) this.unreachable ??= detail;
      }
    }
    return { name, passed, detail, durationMs: Math.round(performance.now() - started) };
  }

  health(): Promise<SmokeCheck> {
    return this.check('health', async () => {
      const response = await this.request('/health');
      const body = (await response.json().catch(() => null)) as { status?: string; version?: string; backend?: { backend?: string } } | null;
      if (response.status !== 200 || body?.status !== 'ok') {
        throw new Error(`/health answered HTTP ${response.status}, status ${JSON.stringify(body?.status ?? null)}; expected 200 and "ok"`);
      }
      return `/health answered 200, status ok (version ${body.version ?? '?'}, backend ${body.backend?.backend ?? '?'})`;
    });
  }

  backend(): Promise<SmokeCheck> {
    return this.check('backend', async () => {
      const answer = await this.graphql('{ health { mode backend { backend } } }', {});
      const backend = answer.body.data?.health?.backend?.backend as string | undefined;
      if (answer.body.errors?.length || backend === undefined) throw new Error(`health query failed: ${errorsOf(answer)}`);
      if (backend !== this.expectBackend) {
        throw new Error(`backend is ${backend} (mode ${answer.body.data.health.mode}), expected ${this.expectBackend}`);
      }
      return `backend ${backend} (mode ${answer.body.data.health.mode})`;
    });
  }

  /** The gateway's own list of sources: what an every-source smoke checks. */
  async sources(): Promise<{ check: SmokeCheck; sources: ListedSource[] }> {
    let sources: ListedSource[] = [];
    const check = await this.check('sources', async () => {
      const answer = await this.graphql('{ sources { id schemaName } }', {});
      const listed = answer.body.data?.sources as ListedSource[] | undefined;
      if (answer.body.errors?.length || !listed) throw new Error(`sources query failed: ${errorsOf(answer)}`);
      // Nothing to validate is a failure: after a cutover or a restore the gateway must serve sources.
      if (listed.length === 0) throw new Error('the gateway lists no source: nothing to validate');
      sources = listed;
      return `${listed.length} source(s) listed`;
    });
    return { check, sources };
  }

  /** The source routes (in PostgreSQL to a schema; to the listed one when the listing names it). */
  source(sourceId: string, listedSchema?: string | null): Promise<SmokeCheck> {
    return this.check('source', async () => {
      const answer = await this.graphql(
        'query Source($sourceId: ID!) { source(sourceId: $sourceId) { sourceId backend { backend schema searchPath } } }',
        { sourceId },
      );
      const scope = answer.body.data?.source as { sourceId: string; backend: { backend: string; schema: string | null; searchPath: string | null } } | null;
      if (answer.body.errors?.length || !scope) throw new Error(`source ${sourceId} does not route: ${errorsOf(answer)}`);
      if (scope.sourceId !== sourceId) throw new Error(`asked for source ${sourceId}, the answer names ${scope.sourceId}`);
      // In PostgreSQL a routed source has a schema; SQLite has none to name.
      if (this.expectBackend === 'postgres_primary' && !scope.backend.schema) {
        throw new Error(`source ${sourceId} answered without a schema (backend ${scope.backend.backend}): not routed to PostgreSQL`);
      }
      if (listedSchema && scope.backend.schema && listedSchema !== scope.backend.schema) {
        throw new Error(`source ${sourceId} routes to schema ${scope.backend.schema}, the source list names ${listedSchema}`);
      }
      return scope.backend.schema
        ? `source ${sourceId} routes to schema ${scope.backend.schema} (search_path ${scope.backend.searchPath})`
        : `source ${sourceId} answers (backend ${scope.backend.backend}, no schema)`;
    });
  }

  stats(sourceId: string): Promise<SmokeCheck> {
    return this.check('stats', async () => {
      const answer = await this.graphql(
        'query Stats($sourceId: ID!) { source(sourceId: $sourceId) { stats { items bookmarked authors } } }',
        { sourceId },
      );
      const stats = answer.body.data?.source?.stats as { items: number; bookmarked: number; authors: number } | undefined;
      if (answer.body.errors?.length || !stats) throw new Error(`stats of ${sourceId} failed: ${errorsOf(answer)}`);
      return `stats answer: ${stats.items} items, ${stats.bookmarked} bookmarked, ${stats.authors} authors`;
    });
  }

  items(sourceId: string): Promise<SmokeCheck> {
    return this.check('items', async () => {
      const answer = await this.graphql(
        'query Items($sourceId: ID!) { source(sourceId: $sourceId) { items(first: 1) { totalCount nodes { id } } } }',
        { sourceId },
      );
      const items = answer.body.data?.source?.items as { totalCount: number; nodes: { id: string }[] } | undefined;
      if (answer.body.errors?.length || !items) throw new Error(`items of ${sourceId} failed: ${errorsOf(answer)}`);
      return items.totalCount === 0 ? `items answer: the source holds none` : `items answer: ${items.totalCount} in all, first ${items.nodes[0]?.id}`;
    });
  }

  /** The plugin's face: GET /items of the source over REST answers its items, stamped with its id. */
  rest(sourceId: string): Promise<SmokeCheck> {
    return this.check('rest', async () => {
      const response = await this.request(`/items?limit=1&source_id=${encodeURIComponent(sourceId)}`, { headers: { 'X-SX-Source-ID': sourceId } });
      const body = (await response.json().catch(() => null)) as { total?: number; items?: { id: string }[]; detail?: unknown } | null;
      if (response.status !== 200 || typeof body?.total !== 'number') {
        throw new Error(`GET /items of ${sourceId} answered HTTP ${response.status}: ${JSON.stringify(body?.detail ?? body)}`);
      }
      const stamped = response.headers.get('x-sx-source-id');
      if (stamped !== sourceId) throw new Error(`GET /items of ${sourceId} answered for source ${stamped}`);
      return `GET /items answer: total ${body.total}`;
    });
  }

  unmappedSource(): Promise<SmokeCheck> {
    return this.check('unmapped', async () => {
      const answer = await this.graphql('query Unmapped($sourceId: ID!) { source(sourceId: $sourceId) { sourceId } }', { sourceId: this.unmapped });
      const code = answer.body.errors?.[0]?.extensions?.code;
      if (answer.status !== 400 || code !== 'SOURCE_NOT_MAPPED') {
        throw new Error(
          `source ${this.unmapped} answered HTTP ${answer.status} with ${code ? `code ${code}` : answer.body.data?.source ? 'data' : 'no error code'}; ` +
            'expected 400 SOURCE_NOT_MAPPED (no fallback to another source)',
        );
      }
      return `source ${this.unmapped} answered 400 SOURCE_NOT_MAPPED`;
    });
  }

  /** The checks of one source, in the seed's order: it routes, then stats, then items; then the REST face. */
  async sourceChecks(sourceId: string, listedSchema?: string | null): Promise<SmokeCheck[]> {
    return [await this.source(sourceId, listedSchema), await this.stats(sourceId), await this.items(sourceId), await this.rest(sourceId)];
  }
}

/**
 * The smoke of one source: /health answers ok, the backend is the expected one, the source routes (to its
 * schema in PostgreSQL), its stats and items answer, and a source nobody mapped gets HTTP 400 SOURCE_NOT_MAPPED.
 */
export async function smoke(options: SmokeOptions): Promise<SmokeReport> {
  const started = performance.now();
  const probe = new SmokeProbe(options);
  const checks = [await probe.health(), await probe.backend(), ...(await probe.sourceChecks(options.sourceId)), await probe.unmappedSource()];
  return {
    url: probe.base,
    sourceId: options.sourceId,
    expectBackend: probe.expectBackend,
    passed: checks.every((c) => c.passed),
    checks,
    durationMs: Math.round(performance.now() - started),
  };
}

/**
 * The seed's validation pass over every source the gateway lists: the gateway-wide checks once (health,
 * backend, the listing, an unmapped source refused), then each source's routing, stats and items. A source the
 * listing names but the gateway cannot serve (no mapping, a schema gone) fails on its own; the others still run.
 */
export async function smokeAll(options: SmokeAllOptions): Promise<SmokeAllReport> {
  const started = performance.now();
  const probe = new SmokeProbe(options);
  const gateway = [await probe.health(), await probe.backend()];
  const listing = await probe.sources();
  gateway.push(listing.check, await probe.unmappedSource());
  const sources: SourceSmoke[] = new Array(listing.sources.length);
  let next = 0;
  const worker = async () => {
    while (next < listing.sources.length) {
      const index = next++;
      const listed = listing.sources[index]!;
      const checks = await probe.sourceChecks(listed.id, listed.schemaName);
      sources[index] = { sourceId: listed.id, schemaName: listed.schemaName, passed: checks.every((c) => c.passed), checks };
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
  return {
    url: probe.base,
    expectBackend: probe.expectBackend,
    passed: gateway.every((c) => c.passed) && sources.every((s) => s.passed),
    gateway,
    sources,
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
