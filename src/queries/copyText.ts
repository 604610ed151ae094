/**
 * PostgreSQL COPY text format: one line per row, tab between columns, `\N` for NULL. Only backslash and the
 * three characters that would end a column or a row need escaping; every other byte goes through as is.
 */
const NEEDS_ESCAPE = /[\\\t\n\r]/;
const SPECIAL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

function copyValue(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 't' : 'f';
  const text = String(value);
  return NEEDS_ESCAPE.test(text) ? text.replace(SPECIAL, (c) => ESCAPES[c]!) : text;
}

export function copyTextLine(values: readonly unknown[]): string {
  let line = '';
  for (let i = 0; i < values.length; i++) line += (i === 0 ? '' : '\t') + copyValue(values[i]);
  return line + '\n';
}
