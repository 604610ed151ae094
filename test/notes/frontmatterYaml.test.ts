import { describe, it, expect } from 'vitest';
import { parse } from 'yaml';
import { frontmatterYaml } from '../../src/notes/frontmatterYaml.js';

/**
 * Edge cases the parity corpus does not reach, with the text PyYAML 6.0 `safe_dump(sort_keys=False,
 * allow_unicode=True)` writes for them: implicit types of YAML 1.1, indicators, single quotes, multi-line
 * text and folding past 80 columns (code points, not UTF-16 units).
 */
const CASES: Record<string, unknown> = {
  "plain_long": "word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word end",
  "emoji_long": "🚀 ünïcödé 🚀 ünïcödé 🚀 ünïcödé 🚀 ünïcödé 🚀 ünïcödé 🚀 ünïcödé 🚀 ünïcödé 🚀 ünïcödé 🚀 ünïcödé 🚀 ünïcödé 🚀 ünïcödé 🚀 ünïcödé",
  "quote_long": "it's it's it's it's it's it's it's it's it's it's it's it's it's it's it's it's it's it's it's it's it's it's it's it's it's x",
  "both_quotes": "say \"hi\" it's",
  "apostrophe": "'; DROP",
  "nine": "09",
  "y": "y",
  "n": "N",
  "yes": "yes",
  "e5": "1e5",
  "dot": ".",
  "eq": "=",
  "merge": "<<",
  "octal": "0777",
  "time": "12:30",
  "sexa": "1:20",
  "float": "1.5",
  "date": "2024-06-01",
  "ts": "2024-06-01 10:00:00",
  "tilde": "~",
  "Null": "Null",
  "empty": "",
  "dash": "-",
  "dashsp": "- a",
  "colon_end": "a:",
  "colon_mid": "a: b",
  "hash": "a #b",
  "hash2": "a#b",
  "lead_space": " a",
  "trail_space": "a ",
  "doc": "--- x",
  "dots": "...x",
  "bracket": "[x]",
  "brace": "{x",
  "comma": "a, b",
  "percent": "%x",
  "at": "@x",
  "backtick": "`x",
  "q": "? x",
  "qq": "?x",
  "colonstart": ":x",
  "multi": "a\nb",
  "multi2": "a\n\nb c",
  "multi_long": "first line\nlong words here long words here long words here long words here long words here long words here long words here long words here end",
  "tab": "a\tb",
  "cr": "a\rb",
  "nbsp": "a b",
  "long_nospace": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
  "double_space_long": "ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab",
  "trail_space_long": "w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w ",
  "url_long": "https://example.org/pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp tail text here",
  "list": ["short", "long long long long long long long long long long long long long long long long long long long long item", "09", "it's"],
  "nested": [{"at": "2024-06-01", "to": "reviewed", "note": "note words note words note words note words note words note words note words note words note words x"}],
  "bool_t": true,
  "int": 5,
  "none": null,
  "emptylist": [],
};

const PYYAML_TEXT =
  "plain_long: word word word word word word word word word word word word word word\n" +
  "  word word word word word word word word word word word word word word word word\n" +
  "  end\n" +
  "emoji_long: 🚀 ünïcödé 🚀 ünïcödé 🚀 ünïcödé 🚀 ünïcödé 🚀 ünïcödé 🚀 ünïcödé 🚀 ünïcödé\n" +
  "  🚀 ünïcödé 🚀 ünïcödé 🚀 ünïcödé 🚀 ünïcödé 🚀 ünïcödé\n" +
  "quote_long: it's it's it's it's it's it's it's it's it's it's it's it's it's it's\n" +
  "  it's it's it's it's it's it's it's it's it's it's it's x\n" +
  "both_quotes: say \"hi\" it's\n" +
  "apostrophe: '''; DROP'\n" +
  "nine: 09\n" +
  "y: y\n" +
  "n: N\n" +
  "'yes': 'yes'\n" +
  "e5: 1e5\n" +
  "dot: .\n" +
  "eq: '='\n" +
  "merge: '<<'\n" +
  "octal: '0777'\n" +
  "time: '12:30'\n" +
  "sexa: '1:20'\n" +
  "float: '1.5'\n" +
  "date: '2024-06-01'\n" +
  "ts: '2024-06-01 10:00:00'\n" +
  "tilde: '~'\n" +
  "'Null': 'Null'\n" +
  "empty: ''\n" +
  "dash: '-'\n" +
  "dashsp: '- a'\n" +
  "colon_end: 'a:'\n" +
  "colon_mid: 'a: b'\n" +
  "hash: 'a #b'\n" +
  "hash2: a#b\n" +
  "lead_space: ' a'\n" +
  "trail_space: 'a '\n" +
  "doc: '--- x'\n" +
  "dots: '...x'\n" +
  "bracket: '[x]'\n" +
  "brace: '{x'\n" +
  "comma: a, b\n" +
  "percent: '%x'\n" +
  "at: '@x'\n" +
  "backtick: '`x'\n" +
  "q: '? x'\n" +
  "qq: ?x\n" +
  "colonstart: :x\n" +
  "multi: 'a\n" +
  "\n" +
  "  b'\n" +
  "multi2: 'a\n" +
  "\n" +
  "\n" +
  "  b c'\n" +
  "multi_long: 'first line\n" +
  "\n" +
  "  long words here long words here long words here long words here long words here\n" +
  "  long words here long words here long words here end'\n" +
  "tab: \"a\\tb\"\n" +
  "cr: \"a\\rb\"\n" +
  "nbsp: a b\n" +
  "long_nospace: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n" +
  "double_space_long: ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab\n" +
  "trail_space_long: 'w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w\n" +
  "  w w w w w w w w w w w w w w w w w w '\n" +
  "url_long: https://example.org/pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp\n" +
  "  tail text here\n" +
  "list:\n" +
  "- short\n" +
  "- long long long long long long long long long long long long long long long long\n" +
  "  long long long long item\n" +
  "- 09\n" +
  "- it's\n" +
  "nested:\n" +
  "- at: '2024-06-01'\n" +
  "  to: reviewed\n" +
  "  note: note words note words note words note words note words note words note words\n" +
  "    note words note words x\n" +
  "bool_t: true\n" +
  "int: 5\n" +
  "none: null\n" +
  "emptylist: []\n";

/**
 * Strings PyYAML writes in double quotes (tabs, control characters, U+FEFF, a space next to a line
 * break). Their escapes and line folding differ from the `yaml` package's; the value read back is the same.
 */
const DOUBLE_QUOTED: Record<string, string> = {
  "tab": "a\tb",
  "tab_long": "tab\there word word word word word word word word word word word word word word word word word word word word ",
  "spaces_around_break": "a \nb",
  "bom": "\ufeffx",
  "bell": "a\u0007b",
};

describe('frontmatter YAML as PyYAML safe_dump writes it', () => {
  it(`writes all ${Object.keys(CASES).length} edge cases byte for byte as PyYAML does`, () => {
    expect(frontmatterYaml(CASES)).toBe(PYYAML_TEXT);
  });

  it('keeps the value of strings PyYAML would double-quote', () => {
    const text = frontmatterYaml(DOUBLE_QUOTED);
    expect(parse(text, { version: '1.1' })).toEqual(DOUBLE_QUOTED);
    for (const line of text.split('\n').filter((line) => /^\w+: /.test(line))) expect(line).toMatch(/^\w+: "/);
  });
});
