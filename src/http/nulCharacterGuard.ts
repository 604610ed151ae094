import { Kind, TypeInfo, visit, visitWithTypeInfo, type DocumentNode, type GraphQLSchema } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { GatewayError } from '../errors.js';
import { assertSourceId } from '../sources/sourceId.js';

/**
 * PostgreSQL text cannot hold U+0000 (SQLite can), so a NUL in any argument would fail in one store and pass
 * in the other. Both refuse it up front, before a resolver or a database sees it: a source id with the
 * tenancy error every invalid source id gets, anything else as bad input naming the argument.
 */
export function hasNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (Array.isArray(value)) return value.some(hasNul);
  if (value && typeof value === 'object' && !(value instanceof Blob)) return Object.values(value).some(hasNul);
  return false;
}

function argumentWithNul(schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown>): { name: string; value: unknown } | null {
  const typeInfo = new TypeInfo(schema);
  let found: { name: string; value: unknown } | null = null;
  const check = (value: unknown) => {
    const argument = typeInfo.getArgument();
    if (found === null && argument && hasNul(value)) found = { name: argument.name, value };
  };
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      [Kind.VARIABLE]: (node) => check(variables[node.name.value]),
      [Kind.STRING]: (node) => check(node.value),
    }),
  );
  return found;
}

const documentHasNul = new WeakMap<DocumentNode, boolean>();

function literalsHaveNul(document: DocumentNode): boolean {
  let known = documentHasNul.get(document);
  if (known === undefined) {
    known = false;
    visit(document, {
      [Kind.STRING]: (node) => {
        if (node.value.includes('\u0000')) known = true;
      },
    });
    documentHasNul.set(document, known);
  }
  return known;
}

export function refuseNulCharacters(): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const variables = args.variableValues ?? {};
      // The cheap checks first (documents are cached and reused, so their answer is too); the walk that
      // names the argument runs only for a request that holds a NUL.
      if (!hasNul(variables) && !literalsHaveNul(args.document)) return;
      const found = argumentWithNul(args.schema, args.document, variables);
      if (found === null) return;
      let error: GatewayError;
      try {
        if (found.name === 'sourceId') assertSourceId(found.value);
        error = new GatewayError('BAD_USER_INPUT', `Argument ${found.name} must not contain the NUL character (U+0000)`, { argument: found.name });
      } catch (invalid) {
        error = invalid as GatewayError;
      }
      setResultAndStopExecution({ errors: [error] });
    },
  };
}
