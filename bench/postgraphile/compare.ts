import { makeWorkloads, nodesPath, type GraphQLRequest, type WorkloadName } from './queries.js';

export interface CompareParams {
  author: string;
  q: string;
  sourceId?: string;
}

export interface WorkloadComparison {
  name: WorkloadName;
  gatewayIds: string[];
  postgraphileIds: string[];
  /** Everything that makes this workload unfair to compare; empty when it passes. */
  problems: string[];
}

export interface Comparison {
  ok: boolean;
  workloads: WorkloadComparison[];
}

type Node = Record<string, unknown>;

async function post(url: string, request: GraphQLRequest): Promise<{ data?: unknown; errors?: unknown[] }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(request),
  });
  const text = await response.text();
  try {
    return JSON.parse(text) as { data?: unknown; errors?: unknown[] };
  } catch {
    throw new Error(`${url} answered HTTP ${response.status} with no JSON: ${text.slice(0, 200)}`);
  }
}

function nodesAt(data: unknown, path: string[]): Node[] | null {
  let value = data;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return null;
    value = (value as Record<string, unknown>)[key];
  }
  return Array.isArray(value) ? (value as Node[]) : null;
}

function metaOf(node: Node): Node {
  return node.meta !== null && typeof node.meta === 'object' ? (node.meta as Node) : {};
}

/**
 * The fields both APIs answer with the same meaning, in one form. `tags` is left out: the gateway parses the
 * stored text into a list, PostGraphile returns the text as stored.
 */
function comparable(node: Node): Record<string, unknown> {
  const meta = metaOf(node);
  return {
    authorUniqueId: node.authorUniqueId ?? null,
    authorName: node.authorName ?? null,
    caption: node.caption ?? null,
    bookmarked: node.bookmarked === true || node.bookmarked === 1,
    bookmarkTimestamp: node.bookmarkTimestamp ?? null,
    updatedAt: typeof node.updatedAt === 'string' ? Date.parse(node.updatedAt) : null,
    rating: meta.rating ?? null,
    status: meta.status ?? null,
  };
}

function fieldDifferences(id: string, gateway: Node, postgraphile: Node): string[] {
  const a = comparable(gateway);
  const b = comparable(postgraphile);
  return Object.keys(a)
    .filter((key) => a[key] !== b[key])
    .map((key) => `item ${id}: ${key} is ${JSON.stringify(a[key])} in the gateway, ${JSON.stringify(b[key])} in PostGraphile`);
}

async function compareOne(
  name: WorkloadName,
  gatewayUrl: string,
  postgraphileUrl: string,
  workload: { gateway: GraphQLRequest; postgraphile: GraphQLRequest },
): Promise<WorkloadComparison> {
  const [gateway, postgraphile] = await Promise.all([
    post(gatewayUrl, workload.gateway),
    post(postgraphileUrl, workload.postgraphile),
  ]);
  const problems: string[] = [];
  if (gateway.errors?.length) problems.push(`gateway errors: ${JSON.stringify(gateway.errors)}`);
  if (postgraphile.errors?.length) problems.push(`PostGraphile errors: ${JSON.stringify(postgraphile.errors)}`);
  const gatewayNodes = nodesAt(gateway.data, nodesPath[name].gateway) ?? [];
  const postgraphileNodes = nodesAt(postgraphile.data, nodesPath[name].postgraphile) ?? [];
  const gatewayIds = gatewayNodes.map((node) => String(node.id));
  const postgraphileIds = postgraphileNodes.map((node) => String(node.id));

  if (gatewayIds.join('\n') !== postgraphileIds.join('\n')) {
    problems.push('the id lists differ (rows or order)');
  } else {
    gatewayNodes.forEach((node, i) => problems.push(...fieldDifferences(gatewayIds[i], node, postgraphileNodes[i])));
  }
  // Two empty answers agree, but a benchmark of them measures nothing (and the gateway's search would have
  // fallen back to a substring scan, which is not what search_videos does).
  if (gatewayIds.length === 0 && postgraphileIds.length === 0) problems.push('both answered no rows');
  return { name, gatewayIds, postgraphileIds, problems };
}

/** Runs each workload against both servers; `ok` only when every one returns the same rows in the same order. */
export async function compareWorkloads(
  gatewayUrl: string,
  postgraphileUrl: string,
  params: CompareParams,
): Promise<Comparison> {
  const workloads = makeWorkloads(params.sourceId);
  const results = [
    await compareOne('page', gatewayUrl, postgraphileUrl, workloads.page),
    await compareOne('author', gatewayUrl, postgraphileUrl, workloads.author(params.author)),
    await compareOne('search', gatewayUrl, postgraphileUrl, workloads.search(params.q)),
  ];
  return { ok: results.every((result) => result.problems.length === 0), workloads: results };
}
