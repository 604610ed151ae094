import SchemaBuilder from '@pothos/core';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { DateTimeResolver, JSONObjectResolver, NonNegativeIntResolver } from 'graphql-scalars';
import { GatewayError } from '../errors.js';
import type { GatewayContext } from '../resolvers/context.js';

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
  plugins: [ScopeAuthPlugin, RelayPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: (context) => ({ admin: context.isAdmin }),
    unauthorizedError: () =>
      new GatewayError('FORBIDDEN', 'Admin rights required: send Authorization: Bearer <SX_ADMIN_TOKEN>'),
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
