/** What an error without `extensions.code` counts as, in the request log and in sx_graphql_errors_total. */
export const NO_CODE = 'UNKNOWN';

// Codes are ours (src/errors.ts) or Yoga's; anything else would be an unbounded metric label, so it is folded.
const CODE = /^[A-Z][A-Z0-9_]{0,63}$/;

/**
 * The code of every error of a response, in order: one entry per error, the results of a batch together.
 * An incremental result (a stream) is not inspected; the gateway serves none.
 */
export function errorCodesOf(result: unknown): string[] {
  const codes: string[] = [];
  for (const one of Array.isArray(result) ? result : [result]) {
    const errors: unknown = (one as { errors?: unknown } | null | undefined)?.errors;
    if (!Array.isArray(errors)) continue;
    for (const error of errors) {
      const code: unknown = (error as { extensions?: { code?: unknown } } | null)?.extensions?.code;
      codes.push(typeof code === 'string' && CODE.test(code) ? code : NO_CODE);
    }
  }
  return codes;
}
