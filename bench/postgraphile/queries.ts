/**
 * The benchmark's three reads, each as the gateway and as PostGraphile ask for it. Both sides of a workload take
 * the same variables and, through aliases, answer the same shape: `nodes { id authorUniqueId ... meta {...} }`.
 * Values still differ in type where the APIs do: the gateway answers `bookmarked` as a Boolean, `tags` as a
 * list and `meta` as an object of nulls when there is none; PostGraphile passes the columns through (0/1, the
 * stored text, null).
 */

export const PAGE_SIZE = 50;
export const DEFAULT_SOURCE_ID = 'bench';

export interface GraphQLRequest {
  query: string;
  variables: Record<string, unknown>;
}

export interface Workload {
  gateway: GraphQLRequest;
  postgraphile: GraphQLRequest;
}

export type WorkloadName = 'page' | 'author' | 'search';

/** Where each side's node list sits in `data`. */
export const nodesPath: Record<WorkloadName, { gateway: string[]; postgraphile: string[] }> = {
  page: { gateway: ['source', 'items', 'nodes'], postgraphile: ['allVideos', 'nodes'] },
  author: { gateway: ['source', 'items', 'nodes'], postgraphile: ['allVideos', 'nodes'] },
  search: { gateway: ['source', 'search', 'nodes'], postgraphile: ['searchVideos', 'nodes'] },
};

const GATEWAY_NODE = `id authorUniqueId authorName caption bookmarked bookmarkTimestamp updatedAt
        meta { rating status tags }`;

// The table's `id` column is `rowId` in PostGraphile (its `id` is the global Node ID); the one-to-one user_meta
// row is reached through the foreign key user_meta (source_id, video_id) -> videos (source_id, id).
const POSTGRAPHILE_NODE = `id: rowId authorUniqueId authorName caption bookmarked bookmarkTimestamp updatedAt
      meta: userMetaBySourceIdAndVideoId { rating status tags }`;

// The gateway's RECENT order. PostGraphile appends the primary key, which changes nothing: id is unique here.
const RECENT_ORDER = '[UPDATED_AT_DESC, ROW_ID_ASC]';

const gatewayPage = `query Page($sourceId: ID!, $first: Int!) {
  source(sourceId: $sourceId) {
    items(first: $first) {
      nodes {
        ${GATEWAY_NODE}
      }
    }
  }
}`;

const postgraphilePage = `query Page($sourceId: String!, $first: Int!) {
  allVideos(first: $first, condition: { sourceId: $sourceId }, orderBy: ${RECENT_ORDER}) {
    nodes {
      ${POSTGRAPHILE_NODE}
    }
  }
}`;

const gatewayAuthor = `query Author($sourceId: ID!, $first: Int!, $author: String!) {
  source(sourceId: $sourceId) {
    items(first: $first, filter: { authorUniqueIds: [$author] }) {
      nodes {
        ${GATEWAY_NODE}
      }
    }
  }
}`;

const postgraphileAuthor = `query Author($sourceId: String!, $first: Int!, $author: String!) {
  allVideos(first: $first, condition: { sourceId: $sourceId, authorUniqueId: $author }, orderBy: ${RECENT_ORDER}) {
    nodes {
      ${POSTGRAPHILE_NODE}
    }
  }
}`;

const gatewaySearch = `query Search($sourceId: ID!, $first: Int!, $q: String!) {
  source(sourceId: $sourceId) {
    search(query: $q, first: $first) {
      nodes {
        ${GATEWAY_NODE}
      }
    }
  }
}`;

// search_videos returns its rows already ranked; PostGraphile keeps a function's order and only adds LIMIT.
const postgraphileSearch = `query Search($sourceId: String!, $first: Int!, $q: String!) {
  searchVideos(sourceId: $sourceId, q: $q, first: $first) {
    nodes {
      ${POSTGRAPHILE_NODE}
    }
  }
}`;

function both(gateway: string, postgraphile: string, variables: Record<string, unknown>): Workload {
  return { gateway: { query: gateway, variables }, postgraphile: { query: postgraphile, variables } };
}

export function makeWorkloads(sourceId: string = DEFAULT_SOURCE_ID) {
  return {
    page: both(gatewayPage, postgraphilePage, { sourceId, first: PAGE_SIZE }),
    author: (author: string) => both(gatewayAuthor, postgraphileAuthor, { sourceId, first: PAGE_SIZE, author }),
    search: (q: string) => both(gatewaySearch, postgraphileSearch, { sourceId, first: PAGE_SIZE, q }),
  };
}

export const workloads = makeWorkloads();
