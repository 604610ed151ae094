import { makePgService } from 'postgraphile/adaptors/pg';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';
import { jsonPgSmartTags } from 'postgraphile/utils';
import { helperSchemaName } from './setup.js';

/** The gateway's default pool size (SX_POSTGRES_POOL_MAX), so neither side wins by holding more connections. */
export const POOL_MAX = 10;

/**
 * PostGraphile leaves condition and orderBy off columns it judges unindexed. The workload filters on
 * author_unique_id and orders by updated_at and id, none of which leads an index (source_id leads them all);
 * 5.1 counts any key position, older releases only the first. State the behaviours rather than rely on that.
 */
function workloadBehaviours(schema: string): GraphileConfig.Plugin {
  const filterAndOrder = { tags: { behavior: ['+filterBy', '+orderBy'] } };
  return jsonPgSmartTags({
    version: 1,
    config: {
      class: {
        [`${schema}.videos`]: {
          attribute: { updated_at: filterAndOrder, author_unique_id: filterAndOrder, id: filterAndOrder },
        },
      },
    },
  });
}

/** Amber (PostGraphile's defaults) over one tenant schema and its helper schema, set up as a production server. */
export function makePreset(options: { dsn: string; schema: string }): GraphileConfig.Preset {
  return {
    extends: [PostGraphileAmberPreset],
    plugins: [workloadBehaviours(options.schema)],
    pgServices: [
      makePgService({
        connectionString: options.dsn,
        schemas: [options.schema, helperSchemaName(options.schema)],
        // Named so its sessions can be told from the gateway's ('sx-gateway') in pg_stat_activity.
        poolConfig: { max: POOL_MAX, application_name: 'postgraphile-bench' },
        // No subscriptions are served; this avoids a LISTEN connection on top of the pool.
        pubsub: false,
      }),
    ],
    grafserv: {
      graphqlPath: '/graphql',
      graphiql: false,
      graphiqlOnGraphQLGET: false,
      websockets: false,
      watch: false,
    },
    grafast: { explain: false },
  };
}
