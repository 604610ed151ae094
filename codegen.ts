import type { CodegenConfig } from '@graphql-codegen/cli';

// The schema is printed from the Pothos code (`npm run schema`); operations under examples/ become typed
// documents a client can pass to any GraphQL client.
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['examples/**/*.graphql'],
  ignoreNoDocuments: false,
  // The project is ESM with NodeNext resolution: generated relative imports need their .js extension.
  emitLegacyCommonJSImports: false,
  generates: {
    'client/generated/': {
      preset: 'client',
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        // The graphql-scalars types as they arrive in a JSON response.
        scalars: { NonNegativeInt: 'number', DateTime: 'string', JSONObject: 'Record<string, unknown>', File: 'File' },
      },
    },
  },
};

export default config;
