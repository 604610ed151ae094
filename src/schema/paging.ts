import { Kind, type FieldNode, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';
import { cursorToOffset } from '@pothos/plugin-relay';
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

/**
 * Whether the operation asks for `field` on the nodes of the connection being resolved, through `nodes` or
 * `edges { node }`, fragments included. Lets a page read what its nodes will need in the same statement.
 */
export function selectsNodeField(info: GraphQLResolveInfo, field: string): boolean {
  const selections = (set: SelectionSetNode | undefined): FieldNode[] => {
    const out: FieldNode[] = [];
    for (const selection of set?.selections ?? []) {
      if (selection.kind === Kind.FIELD) out.push(selection);
      else if (selection.kind === Kind.INLINE_FRAGMENT) out.push(...selections(selection.selectionSet));
      else out.push(...selections(info.fragments[selection.name.value]?.selectionSet));
    }
    return out;
  };
  const named = (nodes: FieldNode[], name: string) => nodes.filter((node) => node.name.value === name);
  for (const connection of info.fieldNodes) {
    const top = selections(connection.selectionSet);
    const nodeSets = [
      ...named(top, 'nodes'),
      ...named(top, 'edges').flatMap((edges) => named(selections(edges.selectionSet), 'node')),
    ];
    if (nodeSets.some((nodes) => named(selections(nodes.selectionSet), field).length > 0)) return true;
  }
  return false;
}
