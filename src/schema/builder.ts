import SchemaBuilder from '@pothos/core';
import ComplexityPlugin, { ComplexityErrorKind } from '@pothos/plugin-complexity';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
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

builder.addScalarType('DateTime', DateTimeResolver);
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
