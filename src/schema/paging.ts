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
