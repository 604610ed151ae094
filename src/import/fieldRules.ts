import { createHash } from 'node:crypto';
import sql, { join, raw, type Sql } from 'sql-template-tag';

/**
 * The original importer's column rules, written once. Each staged column names the CSV columns that feed it and
 * the rule that turns them into a value. Two forms are generated from this one definition: TypeScript (the SQLite
 * import, which parses the CSV in Node) and a PostgreSQL select list (the PostgreSQL import, which lets COPY parse
 * the CSV into a table of text columns). Every rule below is defined so that both forms can compute exactly the
 * same value from the same text: no floating point, no locale, no engine-specific notion of whitespace or case.
 */

/**
 * The characters trimmed from both ends of a value: exactly those String.prototype.trim removes (WhiteSpace and
 * LineTerminator of ECMAScript), spelled out so PostgreSQL's btrim removes the same ones, and so the set does not
 * move with the Unicode version of the engine. All are in the BMP: one UTF-16 unit, one PostgreSQL character.
 */
export const TRIMMED_CHARACTERS: readonly number[] = [
  ...range(0x0009, 0x000d), 0x0020, 0x00a0, 0x1680, ...range(0x2000, 0x200a), 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
  0xfeff,
];
const TRIMMED_TEXT = String.fromCharCode(...TRIMMED_CHARACTERS);

/** A private-account flag is one of these (ASCII letters in any case), else 0 when not empty. */
export const TRUE_WORDS: readonly string[] = ['1', 'true', 'yes', 'y'];

/**
 * A count: optional sign, decimal digits with an optional fraction, an optional exponent ("12.0", "1e3", "-0.5",
 * ".5", "7."). Its value is truncated toward zero exactly (as decimal text, never through a float), so
 * "1.9999999999999999999" is 1. Anything else is NULL: hexadecimal, "Infinity", "NaN", digit separators, other
 * scripts' digits. A value outside -2^63 .. 2^63-1 after truncation is NULL too: neither PostgreSQL's bigint nor
 * SQLite's INTEGER can hold it, and one count must not fail a whole import. The same ASCII-only pattern in both.
 */
export const COUNT_PATTERN = '^([+-]?)([0-9]*)(?:\\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$';
const COUNT_SHAPE = new RegExp(COUNT_PATTERN);
const BIGINT_MIN = -(2n ** 63n);
const BIGINT_MAX = 2n ** 63n - 1n;
/** Digits of the largest integer part that can fit a bigint (2^63 has 19). */
const MAX_INTEGER_DIGITS = 19;
/**
 * Exponents are clamped to ±10^8 before use: a field is at most 1 MiB, so no value's digits can bring an exponent
 * of that size back into range, and the clamp keeps the arithmetic inside 32-bit integers in PostgreSQL.
 */
const EXPONENT_CLAMP = 100_000_000;
const EXPONENT_CLAMP_DIGITS = 8;

export type FileKind = 'consolidated' | 'authors' | 'bookmarks';

/** The value a rule falls back to when its columns are all empty. */
export type Fallback =
  | { kind: 'constant'; value: string }
  /** SHA-256 of the row's canonical JSON: [name, value] pairs sorted by name (see canonicalJsonPieces). */
  | { kind: 'rowHash' };

export type FieldRule =
  /** The first listed column whose trimmed value is not empty, trimmed; else the fallback, else NULL. */
  | { kind: 'text'; columns: readonly string[]; otherwise?: Fallback }
  /** COUNT_PATTERN, truncated; an empty, unparsable or out-of-range value is NULL. */
  | { kind: 'count'; column: string }
  /** Trimmed and matched against TRUE_WORDS ignoring ASCII case: 1, else 0; empty is NULL. */
  | { kind: 'flag'; column: string }
  /** The whole row as a JSON object, header name → value (NULL for a missing trailing field, "" for an empty one). */
  | { kind: 'rowJson' };

export interface FileRules {
  table: 'stage_consolidated' | 'stage_authors' | 'stage_bookmarks';
  /** Columns the header must name. */
  required: readonly string[];
  /** The staged column that identifies the row; a row where it is NULL is skipped by the merge. */
  key: string;
  /** Staged column → its rule. (The staged `seq` is the row's position in the file, not a rule.) */
  columns: Readonly<Record<string, FieldRule>>;
}

const text = (...columns: string[]): FieldRule => ({ kind: 'text', columns });

/** The definition both stores import by. */
export const FIELD_RULES: Readonly<Record<FileKind, FileRules>> = {
  consolidated: {
    table: 'stage_consolidated',
    required: ['c_videos_id'],
    key: 'video_id',
    columns: {
      video_id: text('c_videos_id'),
      author_id: text('c_videos_authorid'),
      author_unique_id: text('c_authors_uniqueids'),
      author_name: text('c_authors_nicknames'),
      caption: text('c_texts_text_content', 'text'),
      platform: { kind: 'text', columns: ['platform'], otherwise: { kind: 'constant', value: 'TikTok' } },
      // The original hashed rows without a hash per process, so they never matched on re-import; this one is stable.
      csv_row_hash: { kind: 'text', columns: ['csv_row_hash', 'source.csv_row_hash'], otherwise: { kind: 'rowHash' } },
      video_path: text('video_path', 'media.video'),
      cover_path: text('cover_path', 'media.cover'),
      row_json: { kind: 'rowJson' },
    },
  },
  authors: {
    table: 'stage_authors',
    required: ['authors_id'],
    key: 'author_id',
    columns: {
      author_id: text('authors_id'),
      author_unique_id: text('authors_uniqueids'),
      author_name: text('authors_nicknames'),
      followers: { kind: 'count', column: 'authors_followercount' },
      hearts: { kind: 'count', column: 'authors_heartcount' },
      videos_count: { kind: 'count', column: 'authors_videocount' },
      signature: text('authors_signature'),
      is_private: { kind: 'flag', column: 'authors_privateaccount' },
      row_json: { kind: 'rowJson' },
    },
  },
  bookmarks: {
    table: 'stage_bookmarks',
    required: ['bookmarks_bookmark_id'],
    key: 'video_id',
    columns: {
      video_id: text('bookmarks_bookmark_id'),
      bookmark_timestamp: text('bookmarks_timestamp'),
      row_json: { kind: 'rowJson' },
    },
  },
};

function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

// ---------------------------------------------------------------------------------------------------------
// Shared pieces: computed once per header, used by both forms.

/**
 * The canonical JSON of a row is `[["name",value],…]` with the pairs sorted by name in JavaScript's default
 * order (UTF-16 code units), exactly what JSON.stringify writes for that array. It is cut here into the constant
 * text between the values: piece 0, value, piece 1, value, …, piece n. The values are JSON strings or null.
 */
export function canonicalJsonPieces(header: readonly string[]): { pieces: string[]; order: number[] } {
  const order = header.map((_, i) => i).sort((a, b) => (header[a]! < header[b]! ? -1 : header[a]! > header[b]! ? 1 : 0));
  const pieces = order.map((index, k) => `${k === 0 ? '[' : '],'}[${JSON.stringify(header[index])},`);
  pieces.push(order.length ? ']]' : '[]');
  return { pieces, order };
}

/** Where each named column is in the header (the header has no duplicate names: CsvCheck refuses them). */
function positions(header: readonly string[]): Map<string, number> {
  return new Map(header.map((name, i) => [name, i]));
}

// ---------------------------------------------------------------------------------------------------------
// TypeScript form

const TRIMMED_CODES = new Set(TRIMMED_CHARACTERS);

/** Trims TRIMMED_CHARACTERS from both ends. */
export function trimField(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && TRIMMED_CODES.has(value.charCodeAt(start))) start++;
  while (end > start && TRIMMED_CODES.has(value.charCodeAt(end - 1))) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

/** See COUNT_PATTERN. Whole numbers beyond 2^53 come back as bigint, so no digit is lost on the way to SQLite. */
export function countValue(value: string | null | undefined): number | bigint | null {
  if (value === null || value === undefined) return null;
  const match = COUNT_SHAPE.exec(trimField(value));
  if (!match) return null;
  const [, sign, whole = '', fraction = '', exponent] = match;
  const digits = whole + fraction;
  if (digits === '') return null;
  const significant = digits.replace(/^0+/, '');
  const places = whole.length + exponentValue(exponent) - (digits.length - significant.length);
  if (significant === '' || places <= 0) return 0;
  if (places > MAX_INTEGER_DIGITS) return null;
  const magnitude = BigInt(significant.slice(0, places).padEnd(places, '0'));
  const result = sign === '-' ? -magnitude : magnitude;
  if (result < BIGINT_MIN || result > BIGINT_MAX) return null;
  const small = Number(result);
  return Number.isSafeInteger(small) ? small : result;
}

function exponentValue(exponent: string | undefined): number {
  if (exponent === undefined) return 0;
  const digits = exponent.replace(/^[+-]?0*/, '');
  const magnitude = digits.length > EXPONENT_CLAMP_DIGITS ? EXPONENT_CLAMP : Number(digits || '0');
  return exponent.startsWith('-') ? -magnitude : magnitude;
}

/** See TRUE_WORDS. */
export function flagValue(value: string | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  const trimmed = trimField(value);
  if (trimmed === '') return null;
  return TRUE_WORDS.includes(asciiLower(trimmed)) ? 1 : 0;
}

function asciiLower(value: string): string {
  return value.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}

/** The first of the values that is not empty once trimmed, trimmed; null when none is. */
function firstText(values: readonly (string | null)[], indexes: readonly number[]): string | null {
  for (const index of indexes) {
    const value = values[index];
    if (value === null || value === undefined) continue;
    const trimmed = trimField(value);
    if (trimmed !== '') return trimmed;
  }
  return null;
}

/** A row's values in header order; a missing trailing field is null. */
export type RowValues = readonly (string | null)[];
type ValueOf = (values: RowValues) => string | number | bigint | null;

const jsonValue = (value: string | null | undefined) => (value === null || value === undefined ? 'null' : JSON.stringify(value));

/** The row hash fallback (see Fallback) for rows of this header. */
export function rowHashOf(header: readonly string[]): (values: RowValues) => string {
  const { pieces, order } = canonicalJsonPieces(header);
  return (values) => {
    let canonical = pieces[0]!;
    for (let k = 0; k < order.length; k++) canonical += jsonValue(values[order[k]!]) + pieces[k + 1]!;
    return createHash('sha256').update(canonical).digest('hex');
  };
}

function rowJsonOf(header: readonly string[]): (values: RowValues) => string {
  const prefixes = header.map((name, i) => `${i === 0 ? '{' : ','}${JSON.stringify(name)}:`);
  return (values) => {
    let json = '';
    for (let i = 0; i < prefixes.length; i++) json += prefixes[i]! + jsonValue(values[i]);
    return prefixes.length ? `${json}}` : '{}';
  };
}

function ruleTs(rule: FieldRule, header: readonly string[], at: Map<string, number>): ValueOf {
  switch (rule.kind) {
    case 'text': {
      const indexes = rule.columns.flatMap((column) => (at.has(column) ? [at.get(column)!] : []));
      const otherwise = rule.otherwise;
      if (!otherwise) return (values) => firstText(values, indexes);
      if (otherwise.kind === 'constant') return (values) => firstText(values, indexes) ?? otherwise.value;
      const hash = rowHashOf(header);
      return (values) => firstText(values, indexes) ?? hash(values);
    }
    case 'count': {
      const index = at.get(rule.column);
      return index === undefined ? () => null : (values) => countValue(values[index]);
    }
    case 'flag': {
      const index = at.get(rule.column);
      return index === undefined ? () => null : (values) => flagValue(values[index]);
    }
    case 'rowJson':
      return rowJsonOf(header);
  }
}

/**
 * The TypeScript form for one file's header: a function from a row's values (header order) and its position in
 * the file to the staged tuple, in the order `stagedColumns` names (which must be `seq` and the rules' columns).
 */
export function compileRowRules(
  file: FileKind,
  header: readonly string[],
  stagedColumns: readonly string[],
): (values: RowValues, seq: number) => unknown[] {
  const rules = FIELD_RULES[file].columns;
  const at = positions(header);
  const parts = stagedColumns.map((column): ValueOf | 'seq' => {
    if (column === 'seq') return 'seq';
    const rule = rules[column];
    if (!rule) throw new Error(`No field rule for staged column ${file}.${column}`);
    return ruleTs(rule, header, at);
  });
  assertCovers(file, stagedColumns);
  return (values, seq) => parts.map((part) => (part === 'seq' ? seq : part(values)));
}

/** Staged columns and rules must be the same set: a rule nobody stages, or a column nobody fills, is a mistake. */
function assertCovers(file: FileKind, stagedColumns: readonly string[]): void {
  const missing = Object.keys(FIELD_RULES[file].columns).filter((column) => !stagedColumns.includes(column));
  if (missing.length) throw new Error(`Staged table of ${file} has no column for rule(s) ${missing.join(', ')}`);
}

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL form

/** ASCII lower-casing only: lower() under the "C" collation touches no other character. */
const asciiLowerSql = (expression: Sql): Sql => sql`lower(${expression} COLLATE "C")`;
const trimmedSql = (column: Sql): Sql => sql`btrim(${column}, ${TRIMMED_TEXT}::text)`;
const nonEmptySql = (column: Sql): Sql => sql`nullif(${trimmedSql(column)}, '')`;

/** Plain digits this short always fit a bigint: COUNT_PATTERN's value is then the text itself. */
const PLAIN_COUNT_DIGITS = MAX_INTEGER_DIGITS - 1;

function countSql(column: Sql): Sql {
  const text = trimmedSql(column);
  // m: sign, whole digits, fraction digits, exponent (NULL where absent; m is NULL when the text does not match).
  const exponent = sql`CASE WHEN m[4] IS NULL THEN 0
      ELSE (CASE WHEN left(m[4], 1) = '-' THEN -1 ELSE 1 END)
         * (CASE WHEN length(ltrim(ltrim(m[4], '+-'), '0')) > ${EXPONENT_CLAMP_DIGITS}::integer THEN ${EXPONENT_CLAMP}::integer
                 ELSE coalesce(nullif(ltrim(ltrim(m[4], '+-'), '0'), '')::integer, 0) END) END`;
  // Most counts are plain digits: they skip the regular expression, whose captures cost more than the rest.
  // OFFSET 0 keeps PostgreSQL from inlining the match into every expression that reads it.
  return sql`CASE WHEN length(${text}) BETWEEN 1 AND ${PLAIN_COUNT_DIGITS}::integer AND translate(${text}, '0123456789', '') = ''
                  THEN (${text})::bigint
                  ELSE (SELECT CASE WHEN v BETWEEN ${BIGINT_MIN.toString()}::numeric AND ${BIGINT_MAX.toString()}::numeric THEN v::bigint END
     FROM (SELECT CASE WHEN digits IS NULL OR digits = '' THEN NULL
                       WHEN significant = '' OR places <= 0 THEN 0::numeric
                       WHEN places > ${MAX_INTEGER_DIGITS}::integer THEN NULL
                       ELSE (CASE WHEN sign = '-' THEN -1 ELSE 1 END) * rpad(left(significant, places), places, '0')::numeric
                  END AS v
             FROM (SELECT m[1] AS sign, m[2] || coalesce(m[3], '') AS digits, ltrim(m[2] || coalesce(m[3], ''), '0') AS significant,
                          length(m[2]) + ${exponent}
                            - (length(m[2] || coalesce(m[3], '')) - length(ltrim(m[2] || coalesce(m[3], ''), '0'))) AS places
                     FROM (SELECT regexp_match(${text}, ${COUNT_PATTERN}::text) AS m OFFSET 0) matched) parts) counted) END`;
}

function flagSql(column: Sql): Sql {
  return sql`CASE WHEN coalesce(${trimmedSql(column)}, '') = '' THEN NULL
                  WHEN ${asciiLowerSql(trimmedSql(column))} = ANY(${[...TRUE_WORDS]}::text[]) THEN 1 ELSE 0 END`;
}

/** JSON text of a value as JSON.stringify writes it: PostgreSQL's escaping of a string is the same. */
const jsonValueSql = (column: Sql): Sql => sql`coalesce(to_json(${column})::text, 'null')`;

function rowHashSql(header: readonly string[], columns: readonly Sql[]): Sql {
  const { pieces, order } = canonicalJsonPieces(header);
  // An ARRAY has no argument limit (concat() and json_build_array() stop at 100).
  const parts: Sql[] = [sql`${pieces[0]}::text`];
  order.forEach((index, k) => parts.push(jsonValueSql(columns[index]!), sql`${pieces[k + 1]}::text`));
  return sql`encode(sha256(convert_to(array_to_string(ARRAY[${join(parts)}], ''), 'UTF8')), 'hex')`;
}

/** The row's JSON as jsonb (what the raw tables store), built from the fields without a JSON text to parse. */
function rowJsonSql(header: readonly string[], columns: readonly Sql[]): Sql {
  return sql`jsonb_object(${[...header]}::text[], ARRAY[${join([...columns])}]::text[])`;
}

function ruleSql(rule: FieldRule, header: readonly string[], columns: readonly Sql[], at: Map<string, number>): Sql {
  const column = (name: string) => (at.has(name) ? columns[at.get(name)!]! : null);
  switch (rule.kind) {
    case 'text': {
      const present = rule.columns.map(column).filter((c): c is Sql => c !== null);
      const candidates = present.map(nonEmptySql);
      if (rule.otherwise?.kind === 'constant') candidates.push(sql`${rule.otherwise.value}::text`);
      else if (rule.otherwise?.kind === 'rowHash') candidates.push(rowHashSql(header, columns));
      if (candidates.length === 0) return sql`NULL::text`;
      return candidates.length === 1 ? candidates[0]! : sql`coalesce(${join(candidates)})`;
    }
    case 'count': {
      const source = column(rule.column);
      return source ? countSql(source) : sql`NULL::bigint`;
    }
    case 'flag': {
      const source = column(rule.column);
      return source ? flagSql(source) : sql`NULL::integer`;
    }
    case 'rowJson':
      return rowJsonSql(header, columns);
  }
}

/**
 * The PostgreSQL form for one file's header: the expressions, one per staged column (in `stagedColumns` order,
 * `seq` included), over `columns`, the text columns holding the header's fields in order (NULL for a missing
 * trailing field). The header names travel as parameters, never as SQL text. `partial` allows a subset of the
 * rules' columns, each expression named after its column (a select that judges rows before staging them).
 */
export function rowRulesSql(
  file: FileKind,
  header: readonly string[],
  columns: readonly Sql[],
  stagedColumns: readonly string[],
  seq: Sql,
  options: { partial?: boolean } = {},
): Sql {
  const rules = FIELD_RULES[file].columns;
  const at = positions(header);
  if (!options.partial) assertCovers(file, stagedColumns);
  const expressions = stagedColumns.map((column) => {
    if (column === 'seq') return seq;
    const rule = rules[column];
    if (!rule) throw new Error(`No field rule for staged column ${file}.${column}`);
    const expression = ruleSql(rule, header, columns, at);
    return options.partial ? sql`${expression} AS ${stagedColumnList([column])}` : expression;
  });
  return join(expressions, ',\n       ');
}

/** Identifiers of the staged columns, for an INSERT's column list (names from the definition, not from input). */
export function stagedColumnList(stagedColumns: readonly string[]): Sql {
  for (const column of stagedColumns) if (!/^[a-z_]+$/.test(column)) throw new Error(`Refusing staged column name ${column}`);
  return raw(stagedColumns.join(', '));
}
