import type { GraphiQLOptions } from 'graphql-yoga';
import type { GatewayConfig } from '../config.js';

// GraphiQL opens with these. totalCount and the first ids come first in DemoItems so they are on screen
// without scrolling the result pane (the browser test reads them there).
const EXAMPLE_QUERY = `# Several operations: the run button asks which one
# to run; Ctrl-Enter runs the one under the cursor.
#
# Reads and setItemMeta need no header. Admin
# mutations (bootstrapSource, upsertSource,
# activateSource, deleteSource, importCsv,
# createBackup, cutoverSource, migrateSchemas) need
# this one in the Headers tab below:
#   {"Authorization": "Bearer <SX_ADMIN_TOKEN>"}
# A server without SX_ADMIN_TOKEN takes clients on
# its own machine (loopback) as admins: no header.

# The demo source's newest items. Try
# filter: { bookmarkedOnly: true } or order: AUTHOR.
query DemoItems {
  source(sourceId: "demo") {
    items(first: 10) {
      totalCount
      nodes {
        id authorUniqueId caption bookmarked
        meta { status tags }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}

query Stats {
  source(sourceId: "demo") {
    stats {
      items bookmarked authors lastUpdatedAt
      searchIndex { engine ready indexedItems }
    }
    authors(first: 5) {
      totalCount
      nodes { authorUniqueId itemsCount bookmarkedCount }
    }
  }
}

query Search {
  source(sourceId: "demo") {
    search(query: "street piano", first: 5) {
      mode totalCount
      nodes { id authorUniqueId caption }
    }
  }
}

# Writes your meta of one item (no admin rights
# needed): uncomment, put in an id from DemoItems.
# mutation Tag {
#   setItemMeta(
#     sourceId: "demo"
#     itemId: "<an id from DemoItems>"
#     input: { rating: 4, statuses: ["reviewing"], tags: ["keep"] }
#   ) { status statuses tags rating }
# }

# An admin mutation (see the header above).
# mutation Bootstrap {
#   bootstrapSource(sourceId: "assets_1", label: "Mine") {
#     id label schemaName
#   }
# }
`;

// The page inlines GraphiQL, its CSS and the editor's workers (about 9 MB) so it works offline and behind
// a strict firewall (Yoga's default page loads them from a CDN). Built once per set of options and kept
// encoded, not per request; the bundle is loaded on the first GraphiQL request, never by CLI commands.
const graphiqlPages = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();

export function renderGraphiQLPage(options: GraphiQLOptions): Promise<Uint8Array<ArrayBuffer>> {
  const key = JSON.stringify(options);
  let page = graphiqlPages.get(key);
  if (!page) {
    page = import('@graphql-yoga/render-graphiql').then(
      ({ renderGraphiQL }) => new TextEncoder().encode(renderGraphiQL(options)) as Uint8Array<ArrayBuffer>,
    );
    graphiqlPages.set(key, page);
    // A failed load is tried again by the next request rather than cached.
    page.catch(() => graphiqlPages.delete(key));
  }
  return page;
}

/**
 * The admin header is a placeholder, never the configured token: the page is served to anyone who can reach
 * the port. Headers are not persisted, so a real token typed in does not stay in the browser's storage.
 */
export function graphiqlOptions(config: GatewayConfig): GraphiQLOptions {
  const options: GraphiQLOptions = { title: 'sx-gateway', defaultQuery: EXAMPLE_QUERY, shouldPersistHeaders: false };
  if (!config.adminToken) return options;
  const headers = JSON.stringify({ Authorization: 'Bearer <SX_ADMIN_TOKEN>' }, null, 2);
  return { ...options, headers, defaultHeaders: headers, defaultEditorToolsVisibility: 'headers' };
}
