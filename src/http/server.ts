import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';
import type { Store } from '../interfaces.js';
import { createGatewayApp } from './app.js';
import type { DrainOutcome } from './gracefulShutdown.js';

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
  const { app, server, drain } = await createGatewayApp(store, config, options.logger);
  await app.listen({ port: options.port ?? config.api.port, host: options.host ?? config.api.host });
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
