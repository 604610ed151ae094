import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ERROR_CODES } from '../errors.js';

/** How a drain ended. */
export interface DrainOutcome {
  /** The grace period ran out and the connections still open were cut. */
  forced: boolean;
  /** Requests that were running when the drain began. */
  inFlight: number;
  /** Connections cut when the grace period ran out (0 unless forced). */
  cutConnections: number;
  durationMs: number;
}

/**
 * Lets an HTTP server stop the way a load balancer expects: the listening socket closes at once (new
 * connections are refused), requests already running finish, and every response from then on carries
 * `Connection: close` so no client keeps a socket to a process that is leaving. A request that still arrives
 * on a kept-alive socket is answered 503 `SHUTTING_DOWN`, never half served. After the grace period the
 * remaining connections are cut, so a stuck client cannot hold the process.
 */
export class ServerDrain {
  private draining: Promise<DrainOutcome> | null = null;
  private readonly running = new Set<ServerResponse>();
  private readonly sockets = new Set<Socket>();

  constructor(private readonly server: Server) {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** The request listener to give the server: `handler` runs only while the server is not draining. */
  guard(handler: (req: IncomingMessage, res: ServerResponse) => unknown): RequestListener {
    return (req, res) => {
      if (this.draining) {
        refuse(res);
        return;
      }
      this.running.add(res);
      res.once('close', () => {
        this.running.delete(res);
        // The socket of a response that finished during the drain is idle now: close it rather than wait for
        // the client, whose keep-alive timeout may be longer than the grace period.
        if (this.draining) setImmediate(() => this.server.closeIdleConnections());
      });
      handler(req, res);
    };
  }

  /** Starts the drain (once; later calls get the same outcome). */
  drain(graceMs: number): Promise<DrainOutcome> {
    this.draining ??= new Promise<DrainOutcome>((resolve) => {
      const started = performance.now();
      const inFlight = this.running.size;
      const finish = (forced: boolean, cutConnections: number) => {
        clearTimeout(timer);
        resolve({ forced, inFlight, cutConnections, durationMs: performance.now() - started });
      };
      for (const res of this.running) if (!res.headersSent) res.setHeader('Connection', 'close');
      const timer = setTimeout(() => {
        const open = this.sockets.size;
        for (const socket of this.sockets) socket.destroy();
        finish(true, open);
      }, graceMs);
      // close() stops listening, closes idle kept-alive sockets, and calls back once the last connection ended.
      this.server.close(() => finish(false, 0));
      this.server.closeIdleConnections();
    });
    return this.draining;
  }
}

function refuse(res: ServerResponse): void {
  const status = ERROR_CODES.SHUTTING_DOWN;
  const body = JSON.stringify({
    errors: [{ message: 'The gateway is shutting down; send the request again', extensions: { code: 'SHUTTING_DOWN' } }],
  });
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
    'Retry-After': '1',
  });
  res.end(body);
}
