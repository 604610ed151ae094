import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { Store } from '../interfaces.js';
import { contextOfRequest } from '../graphql/context.js';
import { errorCodesOf } from './errorCodes.js';

/** Probes poll every few seconds: at info they would bury the requests people read the log for. */
const PROBE_PATHS = new Set(['/health', '/health/live', '/metrics']);

interface RequestTrace {
  started: number;
  operationNames: string[];
  codes: Set<string>;
  /** A GraphQL result was produced (the codes describe it); false for probes, GraphiQL, 404s. */
  graphql: boolean;
}

/** What one request's log line carries; nothing here may hold a secret or a client's data. */
export interface RequestLogFields {
  requestId: string | null;
  method: string;
  /** Without the query string: a GET operation carries its query and variables there. */
  path: string;
  status: number;
  durationMs: number | null;
  /** Names of the request's named operations (a batch has several); anonymous ones are left out. */
  operationNames: string[];
  /** The sources the operations named, as in X-SX-Source-ID. */
  sourceIds: string[];
  /** Distinct `extensions.code` of the errors, or `OK`; empty for a non-GraphQL answer that failed (404, 415). */
  codes: string[];
  backend: string;
}

/**
 * One log line per HTTP request, written when the response is ready. Headers, variables and bodies are never
 * read into it, so the Authorization header, the admin token and the user's data stay out of the log.
 */
export function requestLog(logger: Logger, store: Store): Plugin {
  const backend = store.backendContext(null).backend;
  const traces = new WeakMap<Request, RequestTrace>();
  const traceOf = (request: Request): RequestTrace => {
    let trace = traces.get(request);
    if (!trace) {
      trace = { started: performance.now(), operationNames: [], codes: new Set(), graphql: false };
      traces.set(request, trace);
    }
    return trace;
  };
  return {
    // Instrumentation wraps every hook, Yoga's own included: the clock starts before the built-in handlers
    // (GraphiQL, /health/live) can answer, which an onRequest hook of a user plugin would run too late to see.
    instrumentation: {
      request({ request }, wrapped) {
        traceOf(request);
        return wrapped();
      },
    },
    onParse({ context }) {
      const { request, params } = context as { request?: Request; params?: { operationName?: string | null } };
      if (!request) return undefined;
      return ({ result }) => {
        if (!result || result instanceof Error) return;
        const name = getOperationAST(result, params?.operationName)?.name?.value;
        if (name) traceOf(request).operationNames.push(name);
      };
    },
    onResultProcess({ request, result }) {
      const trace = traceOf(request);
      trace.graphql = true;
      for (const code of errorCodesOf(result)) trace.codes.add(code);
    },
    onResponse({ request, response }) {
      // A throw here would reach node:http and end the process; a log line is not worth that.
      try {
        const trace = traces.get(request);
        const contexts = contextOfRequest.get(request);
        const path = new URL(request.url, 'http://localhost').pathname;
        const codes = trace?.codes.size ? [...trace.codes] : trace?.graphql || response.status < 400 ? ['OK'] : [];
        const fields: RequestLogFields = {
          requestId: contexts?.[0].requestId ?? request.headers.get('x-request-id'),
          method: request.method,
          path,
          status: response.status,
          durationMs: trace ? Math.round((performance.now() - trace.started) * 10) / 10 : null,
          operationNames: trace?.operationNames ?? [],
          sourceIds: [...new Set(contexts?.flatMap((context) => [...context.sources.named]) ?? [])],
          codes,
          backend,
        };
        writeRequestLog(logger, fields);
      } catch {
        // Nothing to do: the response goes out regardless.
      }
    },
  };
}

/** The one log line of a request, whichever face answered it (GraphQL, REST, media, probes). */
export function writeRequestLog(logger: Logger, fields: RequestLogFields): void {
  if (PROBE_PATHS.has(fields.path)) logger.debug(fields, 'request');
  else logger.info(fields, 'request');
}
