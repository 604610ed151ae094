import { Kind, visit, type DocumentNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { GatewayError } from './errors.js';

/**
 * PostgreSQL text cannot hold U+0000 (SQLite can), so a NUL in any argument would fail in one store and pass
 * in the other. Both refuse it up front, naming the argument, before a resolver or a database sees it.
 */
function firstNulPath(value: unknown, path: string): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) {
      const found = firstNulPath(value[i], `${path}[${i}]`);
      if (found) return found;
    }
    return null;
  }
  if (value && typeof value === 'object' && !(value instanceof Blob)) {
    for (const [key, inner] of Object.entries(value)) {
      const found = firstNulPath(inner, `${path}.${key}`);
      if (found) return found;
    }
  }
  return null;
}

function nulInLiterals(document: DocumentNode): string | null {
  let found: string | null = null;
  visit(document, {
    [Kind.STRING]: (node) => {
      if (found === null && node.value.includes('\u0000')) found = `a string literal at line ${node.loc?.startToken.line ?? '?'}`;
    },
  });
  return found;
}

export function refuseNulCharacters(): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const where = firstNulPath(args.variableValues ?? {}, '$') ?? nulInLiterals(args.document);
      if (where === null) return;
      setResultAndStopExecution({
        errors: [new GatewayError('BAD_USER_INPUT', `Text must not contain the NUL character (U+0000): found in ${where}`)],
      });
    },
  };
}
