import type { IncomingMessage, ServerResponse } from 'node:http';
import { useGraphQlJit } from '@envelop/graphql-jit';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { GraphQLError, type ExecutionResult } from 'graphql';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';
import { ERROR_CODES } from '../errors.js';
import { formPostGuard } from './formPostGuard.js';
import { graphiqlOptions, renderGraphiQLPage } from './graphiql.js';
import type { Store } from '../interfaces.js';
import { contextOfRequest, createContext, type GatewayContext } from '../graphql/context.js';
import { gatewayMetrics, type GatewayMetrics } from '../observability/metrics.js';
import { requestLog } from '../observability/requestLog.js';
import { requestLimitPlugins } from './requestLimits.js';
import { backupGaugesOf } from '../schema/health.js';
import { schema } from '../schema/index.js';
import { refuseNulCharacters } from './nulCharacterGuard.js';

type ServerContext = { req: IncomingMessage; res: ServerResponse };

/**
 * Ends the operation's source bindings when execution finishes: commit on success, roll back otherwise,
 * and the pooled clients go back to the pool whatever happened.
 */
function releaseBindings(): Plugin<GatewayContext> {
  // One hook object for every operation, rather than a closure made per operation.
  const done = {
    onExecuteDone: async ({ args, result }: { args: { contextValue: unknown }; result: unknown }) => {
      const ok = !(typeof result === 'object' && result !== null && 'errors' in result && (result as { errors?: unknown[] }).errors?.length);
      await (args.contextValue as GatewayContext).sources.finishAll(ok);
    },
  };
  return {
    onExecute() {
      return done;
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
  const coded = (error: GraphQLError) =>
    isVariableError(error)
      ? new GraphQLError(error.message, {
          nodes: error.nodes,
          extensions: { ...error.extensions, code: 'BAD_USER_INPUT', http: { status: ERROR_CODES.BAD_USER_INPUT } },
        })
      : error;
  // One hook object for every operation, rather than a closure made per operation.
  const done = {
    onExecuteDone({ result, setResult }: { result: unknown; setResult: (result: ExecutionResult) => void }) {
      const executed = result as ExecutionResult;
      if (!executed || typeof executed !== 'object' || !executed.errors?.some(isVariableError)) return;
      setResult({ ...executed, errors: executed.errors.map(coded) });
    },
  };
  return {
    onExecute() {
      return done;
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

/**
 * The GraphQL endpoint (with GraphiQL) and /metrics. Mounted under the HTTP app (app.ts), which answers /health,
 * the media routes and the REST face; also used on its own, in process, by a restore's verification.
 * `metrics` lets the app count its own routes into the same registry; by default Yoga makes its own.
 */
export function createGatewayYoga(
  store: Store,
  config: GatewayConfig,
  logger?: Logger,
  metrics: GatewayMetrics | null = config.metrics ? defaultMetrics(store, config) : null,
): YogaServerInstance<ServerContext, GatewayContext> {
  return createYoga<ServerContext, GatewayContext>({
    schema,
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/health/live',
    landingPage: false,
    // One CORS policy for every route, the app's (SX_CORS_ORIGINS); Yoga's own would allow any origin.
    cors: false,
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
      ...(metrics?.plugins ?? []),
      formPostGuard(),
      ...requestLimitPlugins(config.limits),
      refuseNulCharacters(),
      releaseBindings(),
      codeVariableErrors(),
      sourceHeaders(store),
      ...(config.graphqlJit ? [useGraphQlJit()] : []),
    ],
  });
}

/** The gateway's metrics registry and Yoga plugins; the backup gauges only where backups are watched. */
export function defaultMetrics(store: Store, config: GatewayConfig): GatewayMetrics {
  return gatewayMetrics(store, { backups: config.mode === 'POSTGRES_PRIMARY' ? () => backupGaugesOf(config) : undefined });
}
