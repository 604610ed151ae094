import { GatewayError } from '../errors.js';

const SOURCE_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function isSourceId(value: string): boolean {
  return SOURCE_ID.test(value);
}

/** Rejects, never rewrites: stripping bad characters would map two client ids onto one tenant. */
export function assertSourceId(sourceId: unknown): string {
  if (typeof sourceId !== 'string' || !SOURCE_ID.test(sourceId)) {
    const shown = typeof sourceId === 'string' ? JSON.stringify(sourceId.slice(0, 80)) : typeof sourceId;
    throw new GatewayError(
      'SOURCE_ID_INVALID',
      `Invalid source_id ${shown}: use 1 to 64 characters from A-Z a-z 0-9 . _ -`,
    );
  }
  return sourceId;
}

/**
 * The original's trailing profile index of a source id: 1 or 2 digits at the end, after the start or a `_`/`-`,
 * optionally with a `p` between (`assets_2`, `assets-p02`, `p3`); 0 and anything else mean none.
 */
export function trailingProfileIndex(sourceId: string): number | null {
  const match = /(?:^|[_-])p?(\d{1,2})$/.exec(sourceId.toLowerCase());
  const index = match ? Number(match[1]) : 0;
  return index > 0 ? index : null;
}

/**
 * The original's profile guard, as the plugin relies on it: the plugin sends `X-SX-Profile-Index` on every call,
 * also for a source whose id carries no index (`default`), so only an id that carries one can disagree. A
 * header that is not a base-10 integer is refused; a value below 1 counts as absent.
 */
export function assertProfileMatches(sourceId: string, profileIndexHeader: string | null | undefined): void {
  if (profileIndexHeader === null || profileIndexHeader === undefined) return;
  // Plain ASCII digits with an optional sign: Number() would also read "1e0", "0x1" or Unicode spaces.
  const given = profileIndexHeader.replace(/^[ \t]+|[ \t]+$/g, '');
  if (!/^[+-]?[0-9]{1,9}$/.test(given)) {
    throw new GatewayError('PROFILE_SOURCE_MISMATCH', `Invalid X-SX-Profile-Index header ${JSON.stringify(profileIndexHeader.slice(0, 40))}`);
  }
  const wanted = Number(given);
  const actual = trailingProfileIndex(sourceId);
  if (wanted < 1 || actual === null || actual === wanted) return;
  throw new GatewayError(
    'PROFILE_SOURCE_MISMATCH',
    `Profile/source mismatch: X-SX-Profile-Index=${wanted} but source_id=${sourceId} implies profile #${actual}`,
  );
}
