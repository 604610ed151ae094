// The import direction of docs/ARCHITECTURE.md, checked in `npm test`: a request goes
// http → schema (GraphQL types) → graphql (context, bound sources) → queries → stores → driver,
// and the admin side goes commands → tasks → stores. Nothing imports upwards, and nothing imports in a circle.
const NEUTRAL = '^src/(config|errors|interfaces|packageVersion)[.]ts$|^src/(sources|tables)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle makes two modules one: split out what both need, or pass it in.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'neutral-stays-neutral',
      severity: 'error',
      comment: 'Settings, errors, the shared shapes, source-id rules, identifier quoting and table definitions are used by every layer and import none.',
      from: { path: NEUTRAL },
      to: { path: '^src/', pathNot: NEUTRAL },
    },
    {
      name: 'notes-are-pure',
      severity: 'error',
      comment: 'The note template renders from values it is given; it reads no database and knows no GraphQL.',
      from: { path: '^src/notes/' },
      to: { path: '^src/', pathNot: `${NEUTRAL}|^src/notes/` },
    },
    {
      name: 'stores-below-queries',
      severity: 'error',
      comment: 'A store binds sources and runs what it is given; the SQL of the product lives in src/queries, above it.',
      from: { path: '^src/stores/(postgres|sqlite)/' },
      to: { path: '^src/(queries|import|tasks|graphql|schema|http|commands|observability|notes)/|^src/stores/(mirror/|openStore)' },
    },
    {
      name: 'stores-apart',
      severity: 'error',
      comment: 'The PostgreSQL and the SQLite store share only the neutral modules.',
      from: { path: '^src/stores/(postgres|sqlite)/' },
      to: { path: '^src/stores/(postgres|sqlite)/', pathNot: '^src/stores/$1/' },
    },
    {
      name: 'queries-below-graphql',
      severity: 'error',
      comment: 'A query module receives a TenantDb and returns rows; it knows no store, no GraphQL, no HTTP.',
      from: { path: '^src/queries/' },
      to: { path: '^src/(stores|tasks|graphql|schema|http|commands|observability)/|^src/import/(?!csvFields[.]ts$)' },
    },
    {
      name: 'import-below-tasks',
      severity: 'error',
      comment: 'The CSV import reads files and calls queries; the GraphQL mutation and the CLI call it.',
      from: { path: '^src/import/' },
      to: { path: '^src/(stores|tasks|graphql|schema|http|commands|observability)/' },
    },
    {
      name: 'tasks-below-graphql',
      severity: 'error',
      comment: 'Admin tasks (backup, restore, cutover, doctor, smoke) are called by commands and admin mutations, never the other way.',
      from: { path: '^src/tasks/' },
      to: { path: '^src/(graphql|schema|http|commands|observability)/' },
    },
    {
      name: 'graphql-context-below-schema',
      severity: 'error',
      comment: 'The request context and bound sources know queries and the Store contract, not types, HTTP or a store class.',
      from: { path: '^src/graphql/' },
      to: { path: '^src/(schema|http|commands|tasks|stores|import)/' },
    },
    {
      name: 'schema-knows-no-store',
      severity: 'error',
      comment: 'GraphQL types talk to the Store contract (src/interfaces.ts) and its capabilities, never to a store class.',
      from: { path: '^src/schema/' },
      to: { path: '^src/(stores|http|commands)/' },
    },
    {
      name: 'http-knows-no-store',
      severity: 'error',
      comment: 'The HTTP layer is handed its store; it opens none and runs no admin task itself.',
      from: { path: '^src/http/' },
      to: { path: '^src/(stores|tasks|commands)/' },
    },
    {
      name: 'observability-below-schema',
      severity: 'error',
      from: { path: '^src/observability/' },
      to: { path: '^src/(schema|http|commands|tasks|stores)/' },
    },
    {
      name: 'cli-on-top',
      severity: 'error',
      comment: 'Only the CLI entry point imports the commands.',
      from: { path: '^src/', pathNot: '^src/(cli[.]ts|commands/)' },
      to: { path: '^src/(cli[.]ts|commands/)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
