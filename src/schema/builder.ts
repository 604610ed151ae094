import SchemaBuilder from '@pothos/core';
import ComplexityPlugin, { ComplexityErrorKind } from '@pothos/plugin-complexity';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLScalarType } from 'graphql';
import { DateTimeResolver, JSONObjectResolver, NonNegativeIntResolver } from 'graphql-scalars';
import { GatewayError } from '../errors.js';
import { limitExceeded } from '../errors.js';
import { adminRequired, type GatewayContext } from '../graphql/context.js';

export const builder = new SchemaBuilder<{
  Context: GatewayContext;
  AuthScopes: { admin: boolean };
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    JSONObject: { Input: Record<string, unknown>; Output: Record<string, unknown> };
    NonNegativeInt: { Input: number; Output: number };
    File: { Input: File; Output: never };
  };
}>({
  plugins: [ScopeAuthPlugin, ComplexityPlugin, RelayPlugin],
  defaultFieldNullability: false,
  // Measured from the operation's shape before its first root field resolves, so a refused operation
  // never opens a binding. Lists cost what their page asks for (see pageCost), not a guessed multiplier.
  complexity: {
    defaultComplexity: 1,
    defaultListMultiplier: 1,
    limit: (context) => ({
      depth: context.config.limits.depth,
      breadth: context.config.limits.fields,
      complexity: context.config.limits.cost,
    }),
    complexityError: (kind, result) => {
      if (kind === ComplexityErrorKind.Depth) return limitExceeded('depth', result.maxDepth!, result.depth, 'Query is nested too deeply');
      if (kind === ComplexityErrorKind.Breadth) return limitExceeded('fields', result.maxBreadth!, result.breadth, 'Query selects too many fields');
      return limitExceeded('cost', result.maxComplexity!, result.complexity, 'Query would read too much (cost: fields × page sizes)');
    },
  },
  scopeAuth: {
    authScopes: (context) => ({ admin: context.isAdmin }),
    unauthorizedError: () => adminRequired(),
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    nodesOnConnection: true,
  },
});

/**
 * DateTime as graphql-scalars serializes it, remembered per stored text. Timestamps are stored as text and a page
 * holds the same few import times over and over; checking and parsing each one again (a regular expression, a date
 * parse and a Date per field) was a visible part of a page's cost. The answer is the ISO text the Date would have
 * become in the JSON, and a text it refuses is refused again each time.
 */
function rememberedDateTime(): GraphQLScalarType {
  const config = DateTimeResolver.toConfig();
  const serialize = config.serialize;
  const known = new Map<string, string>();
  return new GraphQLScalarType({
    ...config,
    serialize(value) {
      if (typeof value !== 'string') return serialize(value);
      let text = known.get(value);
      if (text === undefined) {
        text = (serialize(value) as Date).toISOString();
        // Bounded: a source's timestamps are few, but nothing else stops them from growing.
        if (known.size >= 4096) known.clear();
        known.set(value, text);
      }
      return text;
    },
  });
}

builder.addScalarType('DateTime', rememberedDateTime());
builder.addScalarType('JSONObject', JSONObjectResolver);
builder.addScalarType('NonNegativeInt', NonNegativeIntResolver);
builder.scalarType('File', {
  description: 'A file sent as a GraphQL multipart request part',
  serialize: () => {
    throw new Error('File is an input-only scalar');
  },
});

builder.queryType({});
builder.mutationType({});
