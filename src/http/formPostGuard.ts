import type { Plugin } from 'graphql-yoga';
import { GatewayError } from '../errors.js';

/**
 * Bodies a plain HTML form (or a `fetch` with no custom header) can send to another origin without a CORS
 * preflight. Yoga parses the first two, and multipart carries the uploads of `importCsv`.
 */
const FORM_TYPES = ['multipart/form-data', 'application/x-www-form-urlencoded', 'text/plain'];

/** Headers a browser only sends cross-origin after a preflight, which a page of another origin does not get. */
const PREFLIGHT_HEADERS = ['graphql-require-preflight', 'x-graphql-yoga-csrf', 'apollo-require-preflight'];

/**
 * Cross-site request forgery guard. With no SX_ADMIN_TOKEN, loopback clients are admins, so any web page open in
 * the operator's browser could post a form to http://127.0.0.1:8123/graphql and bootstrap, import or delete a
 * source. A form-type body must therefore carry one of the preflight headers, which such a page cannot add. JSON
 * bodies and GET requests are unaffected: JSON needs a preflight anyway, and GET never runs a mutation.
 */
export function formPostGuard(): Plugin {
  return {
    onRequestParse({ request }) {
      if (request.method !== 'POST') return;
      const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      if (!FORM_TYPES.includes(type)) return;
      if (PREFLIGHT_HEADERS.some((name) => (request.headers.get(name) ?? '').trim() !== '')) return;
      throw new GatewayError(
        'PREFLIGHT_REQUIRED',
        `A ${type} request must carry the header graphql-require-preflight: 1 (a protection against cross-site forms); ` +
          'send JSON, or add the header',
        { contentType: type, header: 'graphql-require-preflight' },
      );
    },
  };
}
