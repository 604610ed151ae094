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

/** The original's profile guard: `assets_2` carries profile index 2. */
export function trailingProfileIndex(sourceId: string): number | null {
  const match = /[_-](\d+)$/.exec(sourceId);
  return match ? Number(match[1]) : null;
}

export function assertProfileMatches(sourceId: string, profileIndexHeader: string | null | undefined): void {
  if (profileIndexHeader === null || profileIndexHeader === undefined || profileIndexHeader.trim() === '') return;
  // Plain ASCII digits only: Number() would also read "1e0", "0x1" or a number padded with Unicode spaces.
  const given = profileIndexHeader.replace(/^[ \t]+|[ \t]+$/g, '');
  const wanted = /^[0-9]{1,9}$/.test(given) ? Number(given) : null;
  const actual = trailingProfileIndex(sourceId);
  if (wanted === null || actual !== wanted) {
    throw new GatewayError(
      'PROFILE_SOURCE_MISMATCH',
      `Profile/source mismatch: X-SX-Profile-Index=${JSON.stringify(profileIndexHeader)} does not match source_id=${sourceId}`,
    );
  }
}
