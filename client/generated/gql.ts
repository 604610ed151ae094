/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "mutation BootstrapSource($sourceId: ID!, $label: String) {\n  bootstrapSource(sourceId: $sourceId, label: $label) {\n    id\n    label\n    isDefault\n    schemaName\n    migrationVersion\n  }\n}\n\nmutation ImportCsv($sourceId: ID!, $consolidated: File!, $authors: File, $bookmarks: File, $create: Boolean = false) {\n  importCsv(\n    sourceId: $sourceId\n    consolidated: $consolidated\n    authors: $authors\n    bookmarks: $bookmarks\n    create: $create\n  ) {\n    sourceId\n    inserted\n    updated\n    skipped\n    withoutId\n    durationMs\n    rows {\n      consolidated\n      authors\n      bookmarks\n    }\n  }\n}": typeof types.BootstrapSourceDocument,
    "query Sources {\n  sources {\n    id\n    label\n    isDefault\n    schemaName\n  }\n}\n\nquery ItemsPage($sourceId: ID!, $first: Int = 50, $after: String, $filter: ItemFilter, $order: ItemOrder = RECENT) {\n  source(sourceId: $sourceId) {\n    backend {\n      backend\n      schema\n    }\n    items(first: $first, after: $after, filter: $filter, order: $order) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        authorUniqueId\n        authorName\n        caption\n        bookmarked\n        bookmarkTimestamp\n        updatedAt\n        meta {\n          rating\n          status\n          statuses\n          tags\n        }\n      }\n    }\n  }\n}\n\nquery Stats($sourceId: ID!) {\n  source(sourceId: $sourceId) {\n    stats {\n      items\n      bookmarked\n      authors\n      lastUpdatedAt\n      searchIndex {\n        engine\n        ready\n      }\n    }\n  }\n}": typeof types.SourcesDocument,
};
const documents: Documents = {
    "mutation BootstrapSource($sourceId: ID!, $label: String) {\n  bootstrapSource(sourceId: $sourceId, label: $label) {\n    id\n    label\n    isDefault\n    schemaName\n    migrationVersion\n  }\n}\n\nmutation ImportCsv($sourceId: ID!, $consolidated: File!, $authors: File, $bookmarks: File, $create: Boolean = false) {\n  importCsv(\n    sourceId: $sourceId\n    consolidated: $consolidated\n    authors: $authors\n    bookmarks: $bookmarks\n    create: $create\n  ) {\n    sourceId\n    inserted\n    updated\n    skipped\n    withoutId\n    durationMs\n    rows {\n      consolidated\n      authors\n      bookmarks\n    }\n  }\n}": types.BootstrapSourceDocument,
    "query Sources {\n  sources {\n    id\n    label\n    isDefault\n    schemaName\n  }\n}\n\nquery ItemsPage($sourceId: ID!, $first: Int = 50, $after: String, $filter: ItemFilter, $order: ItemOrder = RECENT) {\n  source(sourceId: $sourceId) {\n    backend {\n      backend\n      schema\n    }\n    items(first: $first, after: $after, filter: $filter, order: $order) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        authorUniqueId\n        authorName\n        caption\n        bookmarked\n        bookmarkTimestamp\n        updatedAt\n        meta {\n          rating\n          status\n          statuses\n          tags\n        }\n      }\n    }\n  }\n}\n\nquery Stats($sourceId: ID!) {\n  source(sourceId: $sourceId) {\n    stats {\n      items\n      bookmarked\n      authors\n      lastUpdatedAt\n      searchIndex {\n        engine\n        ready\n      }\n    }\n  }\n}": types.SourcesDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation BootstrapSource($sourceId: ID!, $label: String) {\n  bootstrapSource(sourceId: $sourceId, label: $label) {\n    id\n    label\n    isDefault\n    schemaName\n    migrationVersion\n  }\n}\n\nmutation ImportCsv($sourceId: ID!, $consolidated: File!, $authors: File, $bookmarks: File, $create: Boolean = false) {\n  importCsv(\n    sourceId: $sourceId\n    consolidated: $consolidated\n    authors: $authors\n    bookmarks: $bookmarks\n    create: $create\n  ) {\n    sourceId\n    inserted\n    updated\n    skipped\n    withoutId\n    durationMs\n    rows {\n      consolidated\n      authors\n      bookmarks\n    }\n  }\n}"): (typeof documents)["mutation BootstrapSource($sourceId: ID!, $label: String) {\n  bootstrapSource(sourceId: $sourceId, label: $label) {\n    id\n    label\n    isDefault\n    schemaName\n    migrationVersion\n  }\n}\n\nmutation ImportCsv($sourceId: ID!, $consolidated: File!, $authors: File, $bookmarks: File, $create: Boolean = false) {\n  importCsv(\n    sourceId: $sourceId\n    consolidated: $consolidated\n    authors: $authors\n    bookmarks: $bookmarks\n    create: $create\n  ) {\n    sourceId\n    inserted\n    updated\n    skipped\n    withoutId\n    durationMs\n    rows {\n      consolidated\n      authors\n      bookmarks\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Sources {\n  sources {\n    id\n    label\n    isDefault\n    schemaName\n  }\n}\n\nquery ItemsPage($sourceId: ID!, $first: Int = 50, $after: String, $filter: ItemFilter, $order: ItemOrder = RECENT) {\n  source(sourceId: $sourceId) {\n    backend {\n      backend\n      schema\n    }\n    items(first: $first, after: $after, filter: $filter, order: $order) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        authorUniqueId\n        authorName\n        caption\n        bookmarked\n        bookmarkTimestamp\n        updatedAt\n        meta {\n          rating\n          status\n          statuses\n          tags\n        }\n      }\n    }\n  }\n}\n\nquery Stats($sourceId: ID!) {\n  source(sourceId: $sourceId) {\n    stats {\n      items\n      bookmarked\n      authors\n      lastUpdatedAt\n      searchIndex {\n        engine\n        ready\n      }\n    }\n  }\n}"): (typeof documents)["query Sources {\n  sources {\n    id\n    label\n    isDefault\n    schemaName\n  }\n}\n\nquery ItemsPage($sourceId: ID!, $first: Int = 50, $after: String, $filter: ItemFilter, $order: ItemOrder = RECENT) {\n  source(sourceId: $sourceId) {\n    backend {\n      backend\n      schema\n    }\n    items(first: $first, after: $after, filter: $filter, order: $order) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        authorUniqueId\n        authorName\n        caption\n        bookmarked\n        bookmarkTimestamp\n        updatedAt\n        meta {\n          rating\n          status\n          statuses\n          tags\n        }\n      }\n    }\n  }\n}\n\nquery Stats($sourceId: ID!) {\n  source(sourceId: $sourceId) {\n    stats {\n      items\n      bookmarked\n      authors\n      lastUpdatedAt\n      searchIndex {\n        engine\n        ready\n      }\n    }\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;