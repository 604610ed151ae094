import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { GraphQLError, parse, type ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { RequestLimits } from '../config.js';
import { limitExceeded } from '../errors.js';

/**
 * The limits a request meets before it may reach a database, in the order they apply:
 * body size (HTTP) → tokens (parsing) → aliases (validation) → batch size (Yoga) → depth, field count and
 * cost (Pothos complexity, before the first root resolver) → statement_timeout (inside the transaction).
 * Each refusal is a GatewayError naming the limit, its maximum and what the request asked for.
 */

/** Document size in lexical tokens, counted by graphql-js's own parser, so a huge document costs no more than the limit. */
function tokenLimit(max: number): Plugin {
  return {
    onParse({ setParseFn }) {
      setParseFn((source, options) => {
        try {
          return parse(source, { ...options, maxTokens: max });
        } catch (error) {
          if (error instanceof GraphQLError && /contains more tha/.test(error.message)) {
            throw limitExceeded('tokens', max, null, 'Query document is too long (tokens)');
          }
          throw error;
        }
      });
    },
  };
}

/** Aliases multiply the work of one field (`a1: source(…) a2: source(…) …`) without raising the depth. */
function aliasLimit(max: number): Plugin {
  return maxAliasesPlugin({
    n: max,
    propagateOnRejection: false,
    onReject: [
      (context: ValidationContext | null, error: GraphQLError) => {
        const found = /found (\d+)/.exec(error.message);
        context?.reportError(limitExceeded('aliases', max, found ? Number(found[1]) : null, 'Too many aliases in one operation'));
      },
    ],
  }) as Plugin;
}

/**
 * Body size by the declared Content-Length, before a byte is read. Uploads get their own, larger, limit
 * because Yoga holds a multipart body in memory while it parses it; Yoga's own streaming body limit
 * (set to the upload limit) still catches a chunked body that declares no length.
 */
function bodyLimit(limits: RequestLimits): Plugin {
  return {
    onRequestParse({ request }) {
      const declared = request.headers.get('content-length');
      if (declared === null || !/^\d+$/.test(declared)) return;
      const length = Number(declared);
      const upload = (request.headers.get('content-type') ?? '').toLowerCase().startsWith('multipart/form-data');
      if (upload && length > limits.uploadBytes) {
        throw limitExceeded('uploadBytes', limits.uploadBytes, length, 'Upload is too large (bytes); import larger files with the CLI');
      }
      if (!upload && length > limits.queryBytes) {
        throw limitExceeded('queryBytes', limits.queryBytes, length, 'Request body is too large (bytes)');
      }
    },
  };
}

export function requestLimitPlugins(limits: RequestLimits): Plugin[] {
  return [bodyLimit(limits), tokenLimit(limits.tokens), aliasLimit(limits.aliases)];
}
