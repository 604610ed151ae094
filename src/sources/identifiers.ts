import { createHash } from 'node:crypto';
import { raw, type Sql } from 'sql-template-tag';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_IDENTIFIER_BYTES = 63;

/**
 * The one way an identifier reaches SQL. It validates first and quotes second, so a name that would need
 * escaping never gets that far: the quoting only stops PostgreSQL from folding case.
 */
export function ident(name: string): Sql {
  if (!IDENTIFIER.test(name) || Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES) {
    throw new Error(`Refusing SQL identifier ${JSON.stringify(name)}`);
  }
  return raw(`"${name}"`);
}

/** `schema.table` with both parts validated. */
export function qualified(schemaName: string, tableName: string): Sql {
  return raw(`${ident(schemaName).sql}.${ident(tableName).sql}`);
}

/**
 * `<prefix>_<id>` when the id is already a plain lower-case identifier tail; otherwise the readable part plus
 * a hash of the exact id. So `a_b` → `sx_a_b`, while `a.b`, `a-b` and `A_B` each get their own suffixed name:
 * normalisation never merges two ids. The registry's UNIQUE constraint catches the one remaining case (an id
 * chosen to equal another id's suffixed name) and bootstrap refuses it with SCHEMA_NAME_TAKEN.
 */
export function schemaNameFor(sourceId: string, prefix: string): string {
  const plain = sourceId.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const head = `${prefix}_`;
  const exact = plain === sourceId;
  if (exact && head.length + plain.length <= MAX_IDENTIFIER_BYTES) return head + plain;
  const suffix = `_${createHash('sha256').update(sourceId).digest('hex').slice(0, 10)}`;
  const room = MAX_IDENTIFIER_BYTES - head.length - suffix.length;
  return head + plain.slice(0, room) + suffix;
}

export function searchPathFor(schemaName: string): string {
  return `${ident(schemaName).sql}, public`;
}
