import { Kind, type FieldNode, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';
import { cursorToOffset, offsetForArgs, offsetToCursor } from '@pothos/plugin-relay';
import { GatewayError } from '../errors.js';

export const DEFAULT_PAGE_SIZE = 50;
/** The original's page-size ceiling. */
export const MAX_PAGE_SIZE = 2000;

/** Refuses oversized pages with a clear code instead of silently clamping them. */
export function checkPageSize(args: { first?: number | null; last?: number | null }): void {
  for (const [name, value] of [['first', args.first], ['last', args.last]] as const) {
    if (value === null || value === undefined) continue;
    if (value < 0) throw new GatewayError('BAD_USER_INPUT', `${name} must not be negative`);
    if (value > MAX_PAGE_SIZE) {
      throw new GatewayError('PAGE_SIZE_TOO_LARGE', `${name} must be at most ${MAX_PAGE_SIZE}, got ${value}`, { max: MAX_PAGE_SIZE });
    }
  }
}

type PageArgs = { first?: number | null; last?: number | null; after?: string | null; before?: string | null };

// Offsets beyond this are not a page anyone reached by paging; they would only ask the database to skip.
const MAX_CURSOR_OFFSET = 2 ** 31 - 1;

/**
 * Cursors are client input: one that does not decode to a whole offset in range is refused here, instead of
 * reaching SQL as NaN or a negative OFFSET.
 */
function checkCursors(args: PageArgs): void {
  for (const [name, cursor] of [['after', args.after], ['before', args.before]] as const) {
    if (cursor === null || cursor === undefined) continue;
    let offset: number;
    try {
      offset = cursorToOffset(cursor);
    } catch {
      offset = Number.NaN;
    }
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > MAX_CURSOR_OFFSET) {
      throw new GatewayError('BAD_USER_INPUT', `${name} is not a cursor this API returned`, { argument: name });
    }
  }
  if (args.last !== null && args.last !== undefined && !args.before && (args.first === null || args.first === undefined)) {
    throw new GatewayError('BAD_USER_INPUT', 'last needs before or first');
  }
}

/**
 * The complexity of a page field: it costs 1, and everything it selects counts once per row it may return.
 * Page sizes are checked here too, so an oversized page is refused before the operation touches a database.
 */
export function pageCost(args: PageArgs): { field: number; multiplier: number } {
  checkPageSize(args);
  checkCursors(args);
  return { field: 1, multiplier: Math.max(1, args.first ?? args.last ?? DEFAULT_PAGE_SIZE) };
}

/** The fields under some field nodes, fragments and inline fragments included; each name with its field nodes. */
export function selectedFields(parents: readonly FieldNode[], info: GraphQLResolveInfo): Map<string, FieldNode[]> {
  const found = new Map<string, FieldNode[]>();
  const collect = (set: SelectionSetNode | undefined) => {
    for (const selection of set?.selections ?? []) {
      if (selection.kind === Kind.FIELD) {
        const named = found.get(selection.name.value);
        if (named) named.push(selection);
        else found.set(selection.name.value, [selection]);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) collect(selection.selectionSet);
      else collect(info.fragments[selection.name.value]?.selectionSet);
    }
  };
  for (const parent of parents) collect(parent.selectionSet);
  return found;
}

/**
 * The fields the operation asks for on the nodes of the connection being resolved, through `nodes` or
 * `edges { node }`, fragments included. Lets a page read what its nodes will need, and only that.
 */
export function nodeFields(info: GraphQLResolveInfo): Map<string, FieldNode[]> {
  const top = selectedFields(info.fieldNodes, info);
  const nodeSets = [...(top.get('nodes') ?? []), ...(top.has('edges') ? (selectedFields(top.get('edges')!, info).get('node') ?? []) : [])];
  return selectedFields(nodeSets, info);
}

/** Whether the operation asks for `field` on the nodes of the connection being resolved (see nodeFields). */
export function selectsNodeField(info: GraphQLResolveInfo, field: string): boolean {
  return nodeFields(info).has(field);
}

/** An edge of an offset page; its cursor is encoded when read, and most clients read `nodes` only. */
class OffsetEdge<Node> {
  constructor(
    readonly node: Node,
    private readonly offset: number,
  ) {}

  get cursor(): string {
    return offsetToCursor(this.offset);
  }
}

class OffsetPageInfo {
  constructor(
    private readonly firstOffset: number,
    private readonly lastOffset: number,
    readonly hasPreviousPage: boolean,
    readonly hasNextPage: boolean,
  ) {}

  get startCursor(): string {
    return offsetToCursor(this.firstOffset);
  }

  get endCursor(): string {
    return offsetToCursor(this.lastOffset);
  }
}

/**
 * A page of an offset connection as Pothos's resolveOffsetConnection makes it (the same offsets, sizes, page info
 * and cursors), with the cursors encoded only when read: a page of 50 encoded 52 of them for clients that read none.
 */
export async function resolveOffsetPage<Node>(
  options: { args: PageArgs; defaultSize: number; maxSize: number },
  resolve: (page: { offset: number; limit: number }) => Promise<readonly Node[]>,
): Promise<{ edges: (OffsetEdge<Node> | null)[]; pageInfo: OffsetPageInfo }> {
  const { limit, offset, expectedSize, hasPreviousPage, hasNextPage } = offsetForArgs(options);
  const nodes = await resolve({ offset, limit });
  const edges = nodes.slice(0, expectedSize).map((node, index) => (node == null ? null : new OffsetEdge(node, offset + index)));
  return { edges, pageInfo: new OffsetPageInfo(offset, offset + edges.length - 1, hasPreviousPage, hasNextPage(nodes.length)) };
}
