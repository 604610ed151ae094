import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { parseCount, parsePrivate, stableRowHash } from '../src/import/csvFields.js';
import { Utf8Validator } from '../src/import/utf8Check.js';
import { normaliseAuthorLinks, normaliseStatuses, primaryStatus } from '../src/queries/metaValues.js';
import { ident, schemaNameFor } from '../src/sources/identifiers.js';
import { assertSourceId, trailingProfileIndex } from '../src/sources/sourceId.js';

describe('source ids and schema names', () => {
  it('accepts the documented alphabet and rejects the rest without rewriting', () => {
    expect(assertSourceId('assets_1')).toBe('assets_1');
    expect(assertSourceId('A.b-c_9')).toBe('A.b-c_9');
    for (const bad of ['', ' a', 'a b', 'a/b', 'é', 'x'.repeat(65), 'a\nb']) {
      expect(() => assertSourceId(bad)).toThrowError(expect.objectContaining({ code: 'SOURCE_ID_INVALID' }));
    }
  });

  it('maps plain ids readably and every other id to a distinct, valid name', () => {
    expect(schemaNameFor('assets_1', 'sx')).toBe('sx_assets_1');
    const names = ['a_b', 'a.b', 'a-b', 'A_B', 'a__b'].map((id) => schemaNameFor(id, 'sx'));
    expect(new Set(names).size).toBe(names.length);
    const long = schemaNameFor('z'.repeat(64), 'tenant_prefix');
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(63);
    expect(schemaNameFor('z'.repeat(64), 'tenant_prefix')).toBe(long);
    expect(schemaNameFor('z'.repeat(63) + 'y', 'tenant_prefix')).not.toBe(long);
  });

  it('quotes only validated identifiers', () => {
    expect(ident('sx_a').sql).toBe('"sx_a"');
    expect(() => ident('a"; DROP TABLE x; --')).toThrow();
    expect(() => ident('x'.repeat(64))).toThrow();
  });

  it('reads the trailing profile index', () => {
    expect(trailingProfileIndex('assets_2')).toBe(2);
    expect(trailingProfileIndex('assets-12')).toBe(12);
    expect(trailingProfileIndex('assets')).toBeNull();
    // The original's rule: 1 or 2 digits after the start or a separator, an optional p, 0 meaning none.
    expect(trailingProfileIndex('assets-p02')).toBe(2);
    expect(trailingProfileIndex('p3')).toBe(3);
    expect(trailingProfileIndex('Src_P12')).toBe(12);
    expect(trailingProfileIndex('assets1')).toBeNull();
    expect(trailingProfileIndex('assets_123')).toBeNull();
    expect(trailingProfileIndex('assets_0')).toBeNull();
    expect(trailingProfileIndex('default')).toBeNull();
  });
});

describe('CSV field rules', () => {
  it('parses counts and private flags like the original', () => {
    expect(parseCount('12.0')).toBe(12);
    expect(parseCount(' 7 ')).toBe(7);
    expect(parseCount('n/a')).toBeNull();
    expect(parseCount('')).toBeNull();
    expect(['1', 'true', 'YES', 'y'].map(parsePrivate)).toEqual([1, 1, 1, 1]);
    expect(['0', 'false', 'no', 'private?'].map(parsePrivate)).toEqual([0, 0, 0, 0]);
    expect(parsePrivate('')).toBeNull();
  });

  it('hashes a row the same way whatever the column order', () => {
    expect(stableRowHash({ a: '1', b: '2' })).toBe(stableRowHash({ b: '2', a: '1' }));
    expect(stableRowHash({ a: '1', b: '2' })).not.toBe(stableRowHash({ a: '1', b: '3' }));
  });
});

describe('meta normalisation', () => {
  it('trims, de-duplicates and keeps the order of statuses; the primary is the furthest known one', () => {
    const statuses = normaliseStatuses(' reviewed , raw', ['idea', 'raw', ' idea']);
    expect(statuses).toEqual(['idea', 'raw', 'reviewed']);
    expect(primaryStatus(statuses)).toBe('reviewed');
    expect(primaryStatus(['idea', 'later'])).toBe('idea');
    expect(primaryStatus([])).toBeNull();
  });

  it('stores author links from lists, JSON arrays and comma/newline text as a JSON array', () => {
    expect(JSON.parse(normaliseAuthorLinks(['["https://a", "https://b"]'])!)).toEqual(['https://a', 'https://b']);
    expect(JSON.parse(normaliseAuthorLinks(['https://a,https://b\nhttps://c', 'https://a'])!)).toEqual(['https://a', 'https://b', 'https://c']);
    // Written as the original's json.dumps writes it, and nothing at all when no link is left.
    expect(normaliseAuthorLinks(['https://a', 'https://ü'])).toBe('["https://a", "https://ü"]');
    expect(normaliseAuthorLinks([' ', ''])).toBeNull();
  });
});

describe('configuration', () => {
  it('uses the documented defaults', () => {
    const config = loadConfig({});
    expect(config.mode).toBe('SQLITE');
    expect(config.sqlitePath).toBe('data/sx_obsidian.db');
    expect(config.api).toEqual({ host: '127.0.0.1', port: 8123 });
    expect(config.postgres.schemaPrefix).toBe('sx');
    expect(config.postgres.registryTable).toBe('sx_source_registry');
  });

  it('names every bad value, and refuses POSTGRES_PRIMARY without a DSN', () => {
    try {
      loadConfig({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_API_PORT: 'eighty', SX_POSTGRES_SCHEMA_PREFIX: '1x' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const text = (error as Error).message;
      expect(text).toContain('SX_POSTGRES_DSN');
      expect(text).toContain('SX_API_PORT');
      expect(text).toContain('SX_POSTGRES_SCHEMA_PREFIX');
    }
    expect(() => loadConfig({ SX_DB_BACKEND_MODE: 'MYSQL' })).toThrowError(/SX_DB_BACKEND_MODE/);
  });
});

describe('UTF-8 validation by chunks', () => {
  // Valid text with stray bytes mixed in: lone continuation bytes, overlong and surrogate forms, cut characters.
  const bytes = fc
    .array(
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 6 }).map((s) => [...Buffer.from(s)]),
        fc.array(fc.integer({ min: 0x80, max: 0xff }), { maxLength: 3 }),
      ),
      { maxLength: 12 },
    )
    .map((parts) => Uint8Array.from(parts.flat()));

  /** The index of the first chunk a check refuses (chunks.length for the end of input), or -1 when none does. */
  const refusedAt = (chunks: Buffer[], push: (chunk: Buffer) => boolean, end: () => boolean) => {
    const at = chunks.findIndex((chunk) => !push(chunk));
    return at >= 0 ? at : end() ? -1 : chunks.length;
  };

  it('refuses the same chunk as a streaming fatal TextDecoder, however the bytes are cut', () => {
    fc.assert(
      fc.property(bytes, fc.array(fc.nat(), { maxLength: 6 }), (input, cuts) => {
        const at = [...new Set(cuts.map((c) => c % (input.length + 1))), input.length].sort((a, b) => a - b);
        const chunks = at.map((end, i) => Buffer.from(input.subarray(i ? at[i - 1] : 0, end)));
        const decoder = new TextDecoder('utf-8', { fatal: true });
        const decodes = (run: () => void) => {
          try {
            run();
            return true;
          } catch {
            return false;
          }
        };
        const expected = refusedAt(chunks, (chunk) => decodes(() => decoder.decode(chunk, { stream: true })), () => decodes(() => decoder.decode()));
        const validator = new Utf8Validator();
        expect(refusedAt(chunks, (chunk) => validator.push(chunk), () => validator.end())).toBe(expected);
      }),
      { numRuns: 5000 },
    );
  });
});
