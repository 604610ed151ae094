import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useGraphQlJit } from '@envelop/graphql-jit';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';
import { ServerDrain, type DrainOutcome } from './gracefulShutdown.js';
import { ERROR_CODES } from '../errors.js';
import { formPostGuard } from './formPostGuard.js';
import { mediaRoutes } from './mediaRoutes.js';
import { graphiqlOptions, renderGraphiQLPage } from './graphiql.js';
import type { Store } from '../interfaces.js';
import { contextOfRequest, createContext, type GatewayContext } from '../graphql/context.js';
import { gatewayMetrics } from '../observability/metrics.js';
import { requestLog } from '../observability/requestLog.js';
import { requestLimitPlugins } from './requestLimits.js';
import { backupGaugesOf, backupHealthOf, migrationHealthOf } from '../schema/health.js';
import { schema } from '../schema/index.js';
import { refuseNulCharacters } from './nulCharacterGuard.js';
import { version } from '../packageVersion.js';

type ServerContext = { req: IncomingMessage; res: ServerResponse };

/**
 * Ends the operation's source bindings when execution finishes: commit on success, roll back otherwise,
 * and the pooled clients go back to the pool whatever happened.
 */
function releaseBindings(): Plugin<GatewayContext> {
  return {
    onExecute({ args }) {
      const context = args.contextValue as GatewayContext;
      return {
        onExecuteDone: async ({ result }) => {
          const ok = !('errors' in result && result.errors && result.errors.length > 0);
          await context.sources.finishAll(ok);
        },
      };
    },
  };
}

/**
 * Variable values that do not fit their declared types are refused by GraphQL before any resolver runs, with
 * no code. Clients match on codes, so they get the one every other input error carries.
 */
function codeVariableErrors(): Plugin {
  const isVariableError = (error: GraphQLError) =>
    error.extensions?.code === undefined && error.path === undefined && /^Variable "\$/.test(error.message);
  return {
    onExecute() {
      return {
        onExecuteDone({ result, setResult }) {
          if (!('errors' in result) || !result.errors?.some(isVariableError)) return;
          setResult({
            ...result,
            errors: result.errors.map((error) =>
              isVariableError(error)
                ? new GraphQLError(error.message, {
                    nodes: error.nodes,
                    extensions: { ...error.extensions, code: 'BAD_USER_INPUT', http: { status: ERROR_CODES.BAD_USER_INPUT } },
                  })
                : error,
            ),
          });
        },
      };
    },
  };
}

/** The original's response headers: which request, which store, which source(s) answered. */
function sourceHeaders(store: Store): Plugin {
  const backend = store.backendContext(null).backend;
  return {
    onResponse({ request, response }) {
      response.headers.set('X-SX-Backend', backend);
      const contexts = contextOfRequest.get(request);
      if (!contexts) return;
      // Normally a no-op: execution already ended the bindings. It catches an operation that threw before
      // its done-hook ran, so no pooled client outlives its request.
      for (const context of contexts) void context.sources.finishAll(false);
      response.headers.set('X-SX-Request-ID', contexts[0].requestId);
      const named = new Set(contexts.flatMap((context) => [...context.sources.named]));
      if (named.size > 0) response.headers.set('X-SX-Source-ID', [...named].join(','));
    },
  };
}

function healthEndpoint(store: Store, config: GatewayConfig): Plugin {
  return {
    async onRequest({ url, endResponse, fetchAPI }) {
      if (url.pathname !== '/health') return;
      const [database, migrations, backup] = await Promise.all([store.health(), migrationHealthOf(store), backupHealthOf(config)]);
      endResponse(
        fetchAPI.Response.json(
          // Schemas behind and a stale backup leave status ok and the answer 200: the gateway still serves
          // (see Health.migrations and Health.backup).
          { status: database.reachable ? 'ok' : 'degraded', version, backend: store.backendContext(null), database, migrations, backup },
          { status: database.reachable ? 200 : 503 },
        ),
      );
    },
  };
}

export function createGatewayYoga(store: Store, config: GatewayConfig, logger?: Logger): YogaServerInstance<ServerContext, GatewayContext> {
  return createYoga<ServerContext, GatewayContext>({
    schema,
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/health/live',
    landingPage: false,
    graphiql: graphiqlOptions(config),
    renderGraphiQL: renderGraphiQLPage,
    logging: logger
      ? {
          debug: (...args) => logger.debug(args.map(String).join(' ')),
          info: (...args) => logger.info(args.map(String).join(' ')),
          warn: (...args) => logger.warn(args.map(String).join(' ')),
          error: (...args) => logger.error({ err: args[0] }, 'request failed'),
        }
      : false,
    context: ({ request, req }) => createContext(store, config, request, req, logger),
    // Each operation of a batch gets its own context, bindings and loaders; the batch size is a limit.
    batching: config.limits.batch > 0 ? { limit: config.limits.batch } : false,
    // Yoga's streaming limit is the backstop for bodies without a Content-Length; the limits plugins refuse
    // a declared oversize first, with a code and the setting to change.
    maxRequestBodySize: config.limits.uploadBytes,
    plugins: [
      // First, so a request refused by a later plugin is still logged and counted.
      ...(logger ? [requestLog(logger, store)] : []),
      ...(config.metrics
        ? gatewayMetrics(store, { backups: config.mode === 'POSTGRES_PRIMARY' ? () => backupGaugesOf(config) : undefined }).plugins
        : []),
      formPostGuard(),
      ...requestLimitPlugins(config.limits),
      refuseNulCharacters(),
      healthEndpoint(store, config),
      mediaRoutes(store, config, logger),
      releaseBindings(),
      codeVariableErrors(),
      sourceHeaders(store),
      ...(config.graphqlJit ? [useGraphQlJit()] : []),
    ],
  });
}

export interface RunningGateway {
  url: string;
  server: Server;
  /**
   * Graceful stop: refuses new connections at once, answers requests arriving on kept-alive sockets with 503
   * `SHUTTING_DOWN`, lets running requests finish, and cuts what is still open after `graceMs`
   * (default `SX_SHUTDOWN_GRACE_SEC`). The store stays open: the caller closes it afterwards.
   */
  shutdown(graceMs?: number): Promise<DrainOutcome>;
  /** `shutdown()` with the configured grace period. */
  close(): Promise<void>;
}

export async function listen(
  store: Store,
  config: GatewayConfig,
  options: { host?: string; port?: number; logger?: Logger } = {},
): Promise<RunningGateway> {
  const yoga = createGatewayYoga(store, config, options.logger);
  const server = createServer();
  const drain = new ServerDrain(server);
  server.on('request', drain.guard(yoga));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? config.api.port, options.host ?? config.api.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const shutdown = (graceMs = config.shutdownGraceMs) => drain.drain(graceMs);
  return {
    url: `http://${host}:${address.port}`,
    server,
    shutdown,
    close: async () => {
      await shutdown();
    },
  };
}
