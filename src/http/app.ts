import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import cors from '@fastify/cors';
import { Ajv } from 'ajv';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';
import { GatewayError } from '../errors.js';
import type { Store } from '../interfaces.js';
import { httpMetrics } from '../observability/httpMetrics.js';
import { writeRequestLog } from '../observability/requestLog.js';
import { version } from '../packageVersion.js';
import { ServerDrain } from './gracefulShutdown.js';
import { GraphqlJsonPost, takesBufferedJson } from './graphqlPost.js';
import { hasNul } from './nulCharacterGuard.js';
import { registerRestRoutes } from './rest/index.js';
import { startRestRequest, stampHeaders, type RestDeps } from './rest/restContext.js';
import { notFoundHandler, restErrorHandler, RestRefusal } from './rest/restErrors.js';
import { createGatewayYoga, defaultMetrics } from './yoga.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A route handed to Yoga: it logs, counts and heads its own answers. */
    yoga?: boolean;
  }
}

/** Paths Yoga answers itself: the GraphQL endpoint with GraphiQL, its liveness probe, and Prometheus's scrape. */
const YOGA_PATHS = ['/graphql', '/health/live', '/metrics'] as const;

export interface GatewayApp {
  app: FastifyInstance;
  server: Server;
  drain: ServerDrain;
}

/** A request id as the original's: 32 hex digits; a client's own X-Request-ID is kept when it sends one. */
function requestIdOf(request: { headers: Record<string, string | string[] | undefined> }): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && /^[\x21-\x7e]{1,128}$/.test(given) ? given : randomUUID().replaceAll('-', '');
}

/**
 * The gateway's HTTP face: Fastify routes the REST face (the original's routes, with OpenAPI at /openapi.json
 * and its page at /docs), /health and the media files, and hands /graphql, /health/live and /metrics to Yoga
 * untouched (their bodies unread), so the GraphQL limits, guards and logs stay Yoga's.
 */
export async function createGatewayApp(store: Store, config: GatewayConfig, logger?: Logger): Promise<GatewayApp> {
  let drain: ServerDrain | undefined;
  let server: Server | undefined;
  const app = Fastify({
    serverFactory: (handler, options) => {
      server = createServer();
      // What Fastify sets on a server it creates itself, and not on one from a factory: without it Node closes an
      // idle keep-alive connection after 5 s, shorter than the idle timeout of the proxies and clients in front
      // (60 s is common), which then send a request on a connection the server is closing and get ECONNRESET.
      server.keepAliveTimeout = (options as { keepAliveTimeout: number }).keepAliveTimeout;
      drain = new ServerDrain(server);
      server.on('request', drain.guard(handler));
      return server;
    },
    // A JSON body of a REST route is bounded as a GraphQL request's is.
    bodyLimit: config.limits.queryBytes,
    genReqId: requestIdOf,
    // No logger is given to Fastify: the one log line per request is written below, as for GraphQL requests.
    // A path parameter past this length (an item id no export has) is answered 404 by the router.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 500 },
    // The router's own refusals, in the REST face's shape: a path parameter past that length names no item,
    // a malformed percent-encoding no path.
    frameworkErrors: (error, _request, untyped) => {
      const reply = untyped as unknown as FastifyReply;
      if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') return reply.status(404).send({ detail: 'Not Found', code: 'NOT_FOUND' });
      return reply.status(400).send({ detail: `Malformed request: ${error.message}`, code: 'BAD_USER_INPUT' });
    },
  });
  // Query strings and paths are text: their numbers and booleans are read from it. A JSON body carries types of its
  // own, and a number where a string belongs (`"statuses": [1, 2]`) is an error, not a string to store.
  const textAjv = new Ajv({ coerceTypes: 'array', useDefaults: true, strict: false });
  const bodyAjv = new Ajv({ coerceTypes: false, useDefaults: true, strict: false });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : textAjv).compile(schema));

  const metrics = config.metrics ? defaultMetrics(store, config) : null;
  const yoga = createGatewayYoga(store, config, logger, metrics);
  const jsonPost = new GraphqlJsonPost(yoga);
  const restMetrics = metrics ? httpMetrics(metrics.registry) : null;
  const backend = store.backendContext(null).backend;
  const deps: RestDeps = { store, config, logger };

  // Every path's methods, so a known path asked with another method answers 405 with Allow (as the original).
  const methodsOf = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    if (route.url === '*' || route.url.includes('*')) return;
    const methods = methodsOf.get(route.url) ?? new Set<string>();
    for (const method of [route.method].flat()) methods.add(method);
    methodsOf.set(route.url, methods);
  });

  const origins = config.rest.corsOrigins.filter((origin) => origin !== 'none');
  if (origins.length > 0) {
    await app.register(cors, {
      origin: origins.includes('*') ? '*' : origins,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      exposedHeaders: ['X-SX-Source-ID', 'X-SX-Backend', 'X-SX-Request-ID', 'Content-Range', 'Accept-Ranges', 'Content-Length'],
      maxAge: 600,
    });
  }

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'sx-gateway REST API',
        version,
        description:
          "The original sx_db API's routes, served over the same query code as the GraphQL endpoint (/graphql). " +
          'A route picks its source from X-SX-Source-ID, then ?source_id, then the default source.',
      },
      components: {
        securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'SX_ADMIN_TOKEN; without one, loopback clients are admins' } },
      },
    },
  });
  // The page reads the same document at /docs/json; /openapi.json is its address for clients.
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: false } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  // An empty JSON body is no body (a POST with no payload, as the plugin's activate sends); a route that needs one
  // then says so with a 422, located at `body`.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (String(body).trim() === '') return done(null, undefined);
    // The framework's parser, which refuses __proto__ and constructor keys.
    parseJson(request, String(body), done);
  });

  app.addHook('onRequest', async (request, reply) => {
    if (isYogaRoute(request)) return;
    // The plugin opens /docs?source_id=…; the page finds its document relative to its own address, query included,
    // so it is served from its plain address (it needs no source).
    if (/^\/docs\/?\?/.test(request.url)) return reply.redirect('/docs/', 302);
    startRestRequest(deps, request);
    reply.header('X-SX-Request-ID', request.id);
  });
  // As for GraphQL (nulCharacterGuard.ts): PostgreSQL text cannot hold U+0000, so both stores refuse it up front.
  // The source id is left to the source selection, which refuses it as every invalid id.
  app.addHook('preValidation', async (request) => {
    if (isYogaRoute(request)) return;
    // An id with a NUL names no item: the same 404 as any unknown id, in both stores.
    if (hasNul(request.params)) throw new RestRefusal(404, 'Not found', 'NOT_FOUND');
    const { source_id: _sourceId, ...query } = (request.query ?? {}) as Record<string, unknown>;
    for (const [where, value] of [['query', query], ['body', request.body]] as const) {
      if (hasNul(value)) throw new GatewayError('BAD_USER_INPUT', `A NUL character (U+0000) in the ${where}: no field can hold one`);
    }
  });
  app.addHook('onSend', async (request, reply) => {
    if (!isYogaRoute(request)) stampHeaders(request, reply, backend);
  });
  app.addHook('onResponse', async (request, reply) => {
    if (isYogaRoute(request)) return;
    const route = request.routeOptions.url ?? '(unmatched)';
    const durationMs = reply.elapsedTime;
    restMetrics?.observe(request.method, route, reply.statusCode, durationMs / 1000);
    if (logger) {
      writeRequestLog(logger, {
        requestId: request.id,
        method: request.method,
        path: request.url.split('?')[0]!,
        status: reply.statusCode,
        durationMs: Math.round(durationMs * 10) / 10,
        operationNames: [],
        sourceIds: request.sx?.sourceId ? [request.sx.sourceId] : [],
        codes: [reply.statusCode < 400 ? 'OK' : (request.sx?.errorCode ?? 'UNKNOWN')],
        backend,
      });
    }
  });
  app.setErrorHandler(restErrorHandler(logger));
  app.setNotFoundHandler(notFoundHandler);

  // Yoga reads its own bodies (multipart uploads, its size limits, the form-POST guard): no parser runs here.
  await app.register(async (yogaScope) => {
    yogaScope.removeAllContentTypeParsers();
    yogaScope.addContentTypeParser('*', (_request, _payload, done) => done(null));
    const handOver = async (request: FastifyRequest, reply: FastifyReply) => {
      reply.hijack();
      // Headers set by the hooks above (CORS) would otherwise be lost: Yoga writes the response itself.
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value);
      if (takesBufferedJson(request.raw, config.limits)) await jsonPost.serve(request.raw, reply.raw);
      else await yoga.requestListener(request.raw, reply.raw);
    };
    for (const url of YOGA_PATHS) {
      yogaScope.route({
        method: url === '/graphql' ? ['GET', 'POST'] : ['GET'],
        url,
        bodyLimit: Math.max(config.limits.queryBytes, config.limits.uploadBytes),
        schema: { hide: true },
        config: { yoga: true },
        handler: handOver,
      });
    }
  });

  await registerRestRoutes(app, deps);
  for (const [url, methods] of [...methodsOf]) {
    const allow = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'].filter((method) => methods.has(method) || (method === 'HEAD' && methods.has('GET')));
    const others = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].filter((method) => !allow.includes(method));
    if (others.length === 0) continue;
    app.route({
      method: others,
      url,
      schema: { hide: true },
      exposeHeadRoute: false,
      handler: async (request, reply) => {
        if (request.sx) request.sx.errorCode = 'METHOD_NOT_ALLOWED';
        return reply.status(405).header('Allow', allow.join(', ')).send({ detail: 'Method Not Allowed', code: 'METHOD_NOT_ALLOWED' });
      },
    });
  }
  await app.ready();
  if (!server || !drain) throw new Error('the HTTP server was not created');
  return { app, server, drain };
}

function isYogaRoute(request: FastifyRequest): boolean {
  return request.routeOptions.config?.yoga === true;
}
