import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ERROR_CODES, GatewayError, type ErrorCode } from '../../errors.js';

/**
 * Errors of the REST face in the original's shapes, each with the gateway's code beside `detail`:
 * - a handler's refusal: `{"detail": "<message>", "code"}` with the code's status;
 * - the source selection's refusal (invalid, unknown or missing source, profile mismatch): 400
 *   `{"ok": false, "detail", "request_id", "code"}`, as the original's selection layer answers;
 * - invalid parameters or body: 422 `{"detail": [{type, loc, msg, input}], "code": "BAD_USER_INPUT"}`.
 */

const SELECTION_CODES = new Set<ErrorCode>(['SOURCE_ID_INVALID', 'SOURCE_ID_MISSING', 'SOURCE_NOT_MAPPED', 'PROFILE_SOURCE_MISMATCH']);

/** The original's `detail` for a missing item is exactly this; the plugin looks for it (origin-rest.md section 10). */
const NOT_FOUND_DETAIL = 'Not found';

/** A refusal with a status and `detail` of the original's, raised by a route (not by the shared code). */
export class RestRefusal extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly code: ErrorCode,
  ) {
    super(detail);
    this.name = 'RestRefusal';
  }
}

export const notFound = () => new RestRefusal(404, NOT_FOUND_DETAIL, 'NOT_FOUND');

const LOCATION: Record<string, string> = { querystring: 'query', body: 'body', params: 'path', headers: 'header' };

interface AjvIssue {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

/** Ajv's errors in the original's (pydantic's) form: `type`, `loc`, `msg`, and `ctx` for bounds. */
function invalidParameters(error: FastifyError & { validation?: AjvIssue[]; validationContext?: string }, request: FastifyRequest) {
  const where = LOCATION[error.validationContext ?? 'body'] ?? 'body';
  const input = (where === 'query' ? request.query : where === 'body' ? request.body : where === 'path' ? request.params : request.headers) as
    | Record<string, unknown>
    | undefined;
  return (error.validation ?? []).map((issue) => {
    const path = issue.instancePath.split('/').filter(Boolean);
    if (issue.keyword === 'required') path.push(String(issue.params.missingProperty));
    const name = path[0];
    const detail: Record<string, unknown> = {
      type: issue.keyword === 'required' ? 'missing' : issue.keyword,
      loc: [where, ...path],
      msg: issue.message ?? 'Invalid value',
      input: name === undefined ? (input ?? null) : (input?.[name] ?? null),
    };
    if ('limit' in issue.params) detail.ctx = { limit: issue.params.limit };
    return detail;
  });
}

interface ErrorAnswer {
  status: number;
  body: { code: string } & Record<string, unknown>;
}

const answer = (status: number, body: ErrorAnswer['body']): ErrorAnswer => ({ status, body });

export function restErrorHandler(logger: Logger | undefined) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const { status, body } = errorAnswer(error, request, logger);
    if (request.sx) request.sx.errorCode = body.code;
    return reply.status(status).send(body);
  };
}

function errorAnswer(error: FastifyError, request: FastifyRequest, logger: Logger | undefined): ErrorAnswer {
  if (error instanceof RestRefusal) return answer(error.status, { detail: error.detail, code: error.code });
  if (error instanceof GatewayError) {
    if (SELECTION_CODES.has(error.code)) {
      return answer(400, { ok: false, detail: error.message, request_id: request.id, code: error.code });
    }
    const detail = error.code === 'NOT_FOUND' ? NOT_FOUND_DETAIL : error.message;
    return answer(ERROR_CODES[error.code], { detail, code: error.code, ...(detail !== error.message ? { message: error.message } : {}) });
  }
  if ((error as { validation?: unknown }).validation) {
    return answer(422, { detail: invalidParameters(error, request), code: 'BAD_USER_INPUT' });
  }
  // The framework's own refusals, before a route runs: broken or empty JSON, a body past the limit, a media type
  // the route does not read.
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return answer(413, { detail: `Request body too large: at most ${request.routeOptions.bodyLimit} bytes (SX_MAX_QUERY_BYTES)`, code: 'REQUEST_TOO_LARGE' });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return answer(415, { detail: `Unsupported Content-Type ${JSON.stringify(request.headers['content-type'] ?? '')}: send application/json`, code: 'BAD_USER_INPUT' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return answer(422, { detail: [{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }], code: 'BAD_USER_INPUT' });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return answer(422, { detail: [{ type: 'json_invalid', loc: ['body'], msg: `JSON decode error: ${error.message}`, input: {} }], code: 'BAD_USER_INPUT' });
  }
  if (error instanceof SyntaxError) {
    return answer(422, { detail: [{ type: 'json_invalid', loc: ['body'], msg: `JSON decode error: ${error.message}`, input: {} }], code: 'BAD_USER_INPUT' });
  }
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return answer(error.statusCode, { detail: error.message, code: 'BAD_USER_INPUT' });
  }
  logger?.error({ err: error, requestId: request.id, path: request.routeOptions.url }, 'request failed');
  return answer(500, { detail: 'Internal Server Error', code: 'INTERNAL_SERVER_ERROR' });
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply) {
  if (request.sx) request.sx.errorCode = 'NOT_FOUND';
  // The framework's wording, as the original's: "Not Found" for a path no route has.
  return reply.status(404).send({ detail: 'Not Found', code: 'NOT_FOUND' });
}
