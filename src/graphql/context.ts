import { timingSafeEqual, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';
import type { Store } from '../interfaces.js';
import { GatewayError } from '../errors.js';
import { OperationSources } from './operationSources.js';

export interface GatewayContext {
  store: Store;
  config: GatewayConfig;
  requestId: string;
  isAdmin: boolean;
  sources: OperationSources;
  /** The server's logger, when it has one (tests run without). */
  logger?: Logger;
}

/** What the context reads of a request's headers: a fetch `Headers`, or an adapter over node's. */
export interface HeaderReader {
  get(name: string): string | null;
}

/** The refusal of an admin-only field or route to a client without admin rights. */
export function adminRequired(): GatewayError {
  return new GatewayError('FORBIDDEN', 'Admin rights required: send Authorization: Bearer <SX_ADMIN_TOKEN>');
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Admin rights: the bearer token when SX_ADMIN_TOKEN is set; with no token configured, only clients on this
 * machine (so a gateway that is bound to a public address by mistake does not hand out bootstrap rights).
 */
export function isAdminRequest(config: GatewayConfig, request: { headers: HeaderReader }, remoteAddress: string | undefined): boolean {
  if (config.adminToken) {
    const header = request.headers.get('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    return match !== null && sameSecret(match[1].trim(), config.adminToken);
  }
  return remoteAddress !== undefined && LOOPBACK.test(remoteAddress);
}

/** The contexts of each request (one per operation of a batch), for the response hook, which sees only the request. */
export const contextOfRequest = new WeakMap<Request, GatewayContext[]>();

/** A context of its own for one request of any face (GraphQL operation, REST route). */
export function requestContext(
  store: Store,
  config: GatewayConfig,
  headers: HeaderReader,
  remoteAddress: string | undefined,
  logger?: Logger,
  requestId: string = headers.get('x-request-id') ?? randomUUID(),
): GatewayContext {
  return {
    store,
    config,
    logger,
    requestId,
    isAdmin: isAdminRequest(config, { headers }, remoteAddress),
    sources: new OperationSources(store, headers.get('x-sx-profile-index'), config.media),
  };
}

export function createContext(
  store: Store,
  config: GatewayConfig,
  request: Request,
  nodeRequest: IncomingMessage | undefined,
  logger?: Logger,
): GatewayContext {
  const context = requestContext(store, config, request.headers, nodeRequest?.socket.remoteAddress, logger);
  const contexts = contextOfRequest.get(request);
  if (contexts) {
    context.requestId = contexts[0].requestId;
    contexts.push(context);
  } else {
    contextOfRequest.set(request, [context]);
  }
  return context;
}
