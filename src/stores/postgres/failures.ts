import { GatewayError } from '../../errors.js';

// Error codes meaning "the server is not there", as opposed to "the statement is wrong".
const UNAVAILABLE = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND',
  '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006',
]);
// pg's own messages for a connection that is gone: it ended under a statement, was never made, or had already
// failed when the statement was sent ("Client has encountered a connection error and is not queryable").
const CONNECTION_LOST = /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED|is not queryable/i;
// The schema or its tables vanished under a cached registry entry (dropped by another gateway process).
const SCHEMA_GONE = new Set(['3F000', '42P01']);

export function isSchemaGone(error: unknown): boolean {
  return SCHEMA_GONE.has((error as { code?: string })?.code ?? '');
}

/**
 * A statement cancelled by the transaction's statement_timeout (57014) is the request-time limit doing its
 * job: the client hears which limit, not PostgreSQL's text.
 */
export function asStatementTimeout(error: unknown, timeoutMs: number): unknown {
  if ((error as { code?: string })?.code !== '57014') return error;
  return new GatewayError('QUERY_TIMEOUT', `The query ran longer than the ${timeoutMs} ms statement limit and was cancelled`, {
    timeoutMs,
  });
}

/** Turns a connection failure into DATABASE_UNAVAILABLE (HTTP 503); other errors pass through unchanged. */
export function asUnavailable(error: unknown): unknown {
  const code = (error as { code?: string })?.code;
  const message = error instanceof Error ? error.message : '';
  // Every pooled client busy for the pool's whole wait, or PgBouncer giving up on a free server connection:
  // the server is there, the capacity is not.
  if (/timeout exceeded when trying to connect|query_wait_timeout/i.test(message)) {
    return new GatewayError('DATABASE_UNAVAILABLE', 'No database connection could be had in time (all busy, or PostgreSQL slow to answer); try again shortly', { reason: 'connect_timeout' });
  }
  const connectionLost = error instanceof Error && CONNECTION_LOST.test(error.message);
  if ((code && UNAVAILABLE.has(code)) || connectionLost) {
    return new GatewayError('DATABASE_UNAVAILABLE', 'PostgreSQL is not reachable; try again shortly');
  }
  return error;
}
