import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useGraphQlJit } from '@envelop/graphql-jit';
import { createYoga, type GraphiQLOptions, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config.js';
import { ServerDrain, type DrainOutcome } from './gracefulShutdown.js';
import { ERROR_CODES } from './errors.js';
import type { Store } from './interfaces.js';
import { contextOfRequest, createContext, type GatewayContext } from './resolvers/context.js';
import { gatewayMetrics } from './observability/metrics.js';
import { requestLog } from './observability/requestLog.js';
import { requestLimitPlugins } from './requestLimits.js';
import { migrationHealthOf } from './schema/health.js';
import { schema } from './schema/index.js';
import { refuseNulCharacters } from './textInput.js';
import { version } from './schema/version.js';

type ServerContext = { req: IncomingMessage; res: ServerResponse };

// GraphiQL opens with these. totalCount and the first ids come first in DemoItems so they are on screen
// without scrolling the result pane (the browser test reads them there).
const EXAMPLE_QUERY = `# Several operations: the run button asks which one
# to run; Ctrl-Enter runs the one under the cursor.
#
# Reads and setItemMeta need no header. Admin
# mutations (bootstrapSource, upsertSource,
# activateSource, deleteSource, importCsv,
# createBackup, cutoverSource, migrateSchemas) need
# this one in the Headers tab below:
#   {"Authorization": "Bearer <SX_ADMIN_TOKEN>"}
# A server without SX_ADMIN_TOKEN takes clients on
# its own machine (loopback) as admins: no header.

# The demo source's newest items. Try
# filter: { bookmarkedOnly: true } or order: AUTHOR.
query DemoItems {
  source(sourceId: "demo") {
    items(first: 10) {
      totalCount
      nodes {
        id authorUniqueId caption bookmarked
        meta { status tags }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}

query Stats {
  source(sourceId: "demo") {
    stats {
      items bookmarked authors lastUpdatedAt
      searchIndex { engine ready indexedItems }
    }
    authors(first: 5) {
      totalCount
      nodes { authorUniqueId itemsCount bookmarkedCount }
    }
  }
}

query Search {
  source(sourceId: "demo") {
    search(query: "street piano", first: 5) {
      mode totalCount
      nodes { id authorUniqueId caption }
    }
  }
}

# Writes your meta of one item (no admin rights
# needed): uncomment, put in an id from DemoItems.
# mutation Tag {
#   setItemMeta(
#     sourceId: "demo"
#     itemId: "<an id from DemoItems>"
#     input: { rating: 4, statuses: ["reviewing"], tags: ["keep"] }
#   ) { status statuses tags rating }
# }

# An admin mutation (see the header above).
# mutation Bootstrap {
#   bootstrapSource(sourceId: "assets_1", label: "Mine") {
#     id label schemaName
#   }
# }
`;

// The page inlines GraphiQL, its CSS and the editor's workers (about 9 MB) so it works offline and behind
// a strict firewall (Yoga's default page loads them from a CDN). Built once per set of options and kept
// encoded, not per request; the bundle is loaded on the first GraphiQL request, never by CLI commands.
const graphiqlPages = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();

function renderGraphiQLPage(options: GraphiQLOptions): Promise<Uint8Array<ArrayBuffer>> {
  const key = JSON.stringify(options);
  let page = graphiqlPages.get(key);
  if (!page) {
    page = import('@graphql-yoga/render-graphiql').then(
      ({ renderGraphiQL }) => new TextEncoder().encode(renderGraphiQL(options)) as Uint8Array<ArrayBuffer>,
    );
    graphiqlPages.set(key, page);
    // A failed load is tried again by the next request rather than cached.
    page.catch(() => graphiqlPages.delete(key));
  }
  return page;
}

/**
 * The admin header is a placeholder, never the configured token: the page is served to anyone who can reach
 * the port. Headers are not persisted, so a real token typed in does not stay in the browser's storage.
 */
function graphiqlOptions(config: GatewayConfig): GraphiQLOptions {
  const options: GraphiQLOptions = { title: 'sx-gateway', defaultQuery: EXAMPLE_QUERY, shouldPersistHeaders: false };
  if (!config.adminToken) return options;
  const headers = JSON.stringify({ Authorization: 'Bearer <SX_ADMIN_TOKEN>' }, null, 2);
  return { ...options, headers, defaultHeaders: headers, defaultEditorToolsVisibility: 'headers' };
}

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
          await context.tenants.finishAll(ok);
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
      for (const context of contexts) void context.tenants.finishAll(false);
      response.headers.set('X-SX-Request-ID', contexts[0].requestId);
      const named = new Set(contexts.flatMap((context) => [...context.tenants.named]));
      if (named.size > 0) response.headers.set('X-SX-Source-ID', [...named].join(','));
    },
  };
}

function healthEndpoint(store: Store): Plugin {
  return {
    async onRequest({ url, endResponse, fetchAPI }) {
      if (url.pathname !== '/health') return;
      const [database, migrations] = await Promise.all([store.health(), migrationHealthOf(store)]);
      endResponse(
        fetchAPI.Response.json(
          // Schemas behind leave status ok and the answer 200: they still serve (see Health.migrations).
          { status: database.reachable ? 'ok' : 'degraded', version, backend: store.backendContext(null), database, migrations },
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
      ...(config.metrics ? gatewayMetrics(store).plugins : []),
      ...requestLimitPlugins(config.limits),
      refuseNulCharacters(),
      healthEndpoint(store),
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
