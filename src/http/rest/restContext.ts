import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../../config.js';
import { GatewayError } from '../../errors.js';
import { adminRequired, requestContext, type GatewayContext, type HeaderReader } from '../../graphql/context.js';
import type { BoundSource } from '../../graphql/operationSources.js';
import type { Store } from '../../interfaces.js';
import { assertProfileMatches, assertSourceId } from '../../sources/sourceId.js';

/** The app the routes register on, its schemas typed by TypeBox. */
export type RestApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

/** What a REST route needs besides its request: the store, the settings and the logger the gateway runs with. */
export interface RestDeps {
  store: Store;
  config: GatewayConfig;
  logger?: Logger;
}

/**
 * Per request: the same GatewayContext a GraphQL operation gets (admin rights, request id, the sources it binds
 * with their DataLoaders), and the source the original's selection chose.
 */
export interface RestState {
  context: GatewayContext;
  /** The effective source, once chosen; it goes into X-SX-Source-ID. */
  sourceId: string | null;
  /** The code of an error answer, for the request's log line. */
  errorCode?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    sx: RestState;
  }
}

export function headerReader(request: FastifyRequest): HeaderReader {
  return {
    get(name) {
      const value = request.headers[name.toLowerCase()];
      if (value === undefined) return null;
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

export function startRestRequest(deps: RestDeps, request: FastifyRequest): void {
  request.sx = {
    context: requestContext(deps.store, deps.config, headerReader(request), request.raw.socket.remoteAddress, deps.logger, request.id),
    sourceId: null,
  };
}

function requestedSource(request: FastifyRequest): string | null {
  const header = headerReader(request).get('x-sx-source-id')?.trim();
  if (header) return header;
  const query = (request.query as { source_id?: unknown } | undefined)?.source_id;
  return typeof query === 'string' && query.trim() !== '' ? query.trim() : null;
}

/**
 * The original's source selection: `X-SX-Source-ID`, then `?source_id`, then the default source. Unlike the
 * original, an invalid id is refused (never stripped into another one), and so is an unknown one, when the
 * route binds it (never registered by the request that names it). SX_API_REQUIRE_EXPLICIT_SOURCE=1 refuses a
 * request that names none, as the original's strict mode.
 */
export async function chooseSource(deps: RestDeps, request: FastifyRequest): Promise<string> {
  const requested = requestedSource(request);
  let sourceId: string;
  if (requested !== null) {
    sourceId = assertSourceId(requested);
  } else if (deps.config.rest.requireExplicitSource) {
    throw new GatewayError('SOURCE_ID_MISSING', 'Missing explicit source_id (query or X-SX-Source-ID)');
  } else {
    const fallback = (await deps.store.listSources()).find((source) => source.isDefault);
    if (!fallback) throw new GatewayError('SOURCE_ID_MISSING', 'Missing source_id (query or X-SX-Source-ID), and no source is the default');
    sourceId = fallback.id;
  }
  assertProfileMatches(sourceId, headerReader(request).get('x-sx-profile-index'));
  request.sx.sourceId = sourceId;
  return sourceId;
}

/** The chosen source bound for this request, as a GraphQL operation binds it (registry check, DataLoaders). */
export async function boundSource(deps: RestDeps, request: FastifyRequest): Promise<BoundSource> {
  return request.sx.context.sources.get(await chooseSource(deps, request));
}

/** The binding ends (COMMIT or ROLLBACK, client back to the pool) before the answer is written. */
export async function withBoundSource<T>(deps: RestDeps, request: FastifyRequest, read: (scope: BoundSource) => Promise<T>): Promise<T> {
  let ok = false;
  try {
    const result = await read(await boundSource(deps, request));
    ok = true;
    return result;
  } finally {
    await request.sx.context.sources.finishAll(ok);
  }
}

/** Admin routes: the admin token, or a loopback client when none is set, as for the admin mutations. */
export function requireAdmin(request: FastifyRequest): void {
  if (!request.sx.context.isAdmin) throw adminRequired();
}

/** The original's response headers, on every REST answer, errors included. */
export function stampHeaders(request: FastifyRequest, reply: FastifyReply, backend: string): void {
  reply.header('X-SX-Backend', backend);
  reply.header('X-SX-Request-ID', request.id);
  if (request.sx?.sourceId) reply.header('X-SX-Source-ID', request.sx.sourceId);
}

/** The original's timestamps: UTC, whole seconds, `Z`. */
export function originTimestamp(date: Date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
