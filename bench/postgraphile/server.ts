import './runtime.js';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { postgraphile } from 'postgraphile';
import { grafserv } from 'postgraphile/grafserv/node';
import { makePreset } from './preset.js';
import { preparePostGraphileSchema } from './setup.js';

const HOST = '127.0.0.1';
/** How long requests already running may take to finish after SIGTERM. */
const SHUTDOWN_GRACE_MS = 5000;

function readOptions(): { dsn: string; schema: string; port: number } {
  const { values } = parseArgs({
    options: { dsn: { type: 'string' }, schema: { type: 'string' }, port: { type: 'string' } },
    strict: true,
  });
  const port = Number(values.port);
  if (!values.dsn || !values.schema || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error('usage: server.ts --dsn <postgres url> --schema <tenant schema> --port <port>');
  }
  return { dsn: values.dsn, schema: values.schema, port };
}

async function main(): Promise<void> {
  const options = readOptions();
  // PostGraphile reads the database once, at start: search_videos must exist before it looks.
  await preparePostGraphileSchema(options.dsn, options.schema);
  const preset = makePreset(options);
  const pgl = postgraphile(preset);
  // Build the schema before listening, so "listening" means the first request is answered without a wait.
  await pgl.getSchema();
  const serv = pgl.createServ(grafserv);
  const server = createServer();
  await serv.addTo(server, false);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  process.stdout.write(`listening http://${HOST}:${options.port}/graphql\n`);

  // PostGraphile releases its Grafserv itself, and insists on going first; the pools belong to the services.
  const shutDown = async (): Promise<void> => {
    await pgl.release();
    for (const service of preset.pgServices ?? []) await service.release?.();
  };
  let stopping = false;
  // Once stopping, every response closes its connection, so keep-alive clients (a load generator) let go after
  // their in-flight request instead of holding close() open or having it cut off mid-query.
  server.on('request', (_req, res) => {
    if (stopping) res.setHeader('connection', 'close');
  });
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    const deadline = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
    server.close(() => {
      clearTimeout(deadline);
      shutDown().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
    });
    server.closeIdleConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
