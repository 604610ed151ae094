import { Document, Scalar, type ToStringOptions } from 'yaml';
import { stringifyString, type StringifyContext } from 'yaml/util';
import { foldLikePyyaml } from './pyyamlFolding.js';

/**
 * Frontmatter text as the original's PyYAML `safe_dump(sort_keys=False, allow_unicode=True)` writes it,
 * produced by the `yaml` package. Most of PyYAML's layout is plain configuration (block style,
 * unindented `- item` lists, `[]`, `null`, single quotes). Strings need a custom string tag, because
 * three PyYAML choices have no option:
 * - which strings must be quoted as "would read as another type" follows PyYAML's YAML 1.1 resolver
 *   (`'7000…'`, `'2024-06-01T10:00:00Z'` quoted, but `09` or `y` plain), not the `yaml` schema's;
 * - PyYAML quotes in single quotes whenever it can (doubling `'`), where `yaml` switches to double
 *   quotes for text holding a `'`; multi-line text is single-quoted, never a block scalar;
 * - long lines fold the PyYAML way (see pyyamlFolding.ts).
 * The text of each scalar (escaping, indicator rules) is still the `yaml` package's.
 */
export function frontmatterYaml(frontmatter: Record<string, unknown>): string {
  const document = new Document(frontmatter, {
    // PyYAML's SafeDumper writes a repeated list twice; it only anchors shared mutable objects,
    // and the frontmatter never shares one.
    aliasDuplicateObjects: false,
    customTags: (tags) => tags.map((tag) => (typeof tag === 'object' && tag.tag === STRING_TAG ? pyyamlStringTag : tag)),
  });
  return document.toString(PYYAML_LAYOUT);
}

const STRING_TAG = 'tag:yaml.org,2002:str';

const PYYAML_LAYOUT: ToStringOptions = {
  indent: 2,
  indentSeq: false,
  nullStr: 'null',
  trueStr: 'true',
  falseStr: 'false',
  singleQuote: true,
  defaultStringType: 'PLAIN',
  defaultKeyType: null,
  // Folding is PyYAML's, applied by the string tag; `yaml`'s own folding stays off.
  lineWidth: 0,
};

// PyYAML's implicit resolvers (yaml/resolver.py), each tried only for its first characters. A string
// one of them matches would read back as another type, so PyYAML quotes it.
const PYYAML_IMPLICIT_TYPES: { firstChars: string; pattern: RegExp }[] = [
  { firstChars: 'yYnNtTfFoO', pattern: /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/ },
  {
    firstChars: '-+0123456789.',
    pattern:
      /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/,
  },
  {
    firstChars: '-+0123456789',
    pattern: /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/,
  },
  { firstChars: '<', pattern: /^(?:<<)$/ },
  { firstChars: '~nN', pattern: /^(?:~|null|Null|NULL)$/ },
  {
    firstChars: '0123456789',
    pattern:
      /^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$/,
  },
  { firstChars: '=', pattern: /^(?:=)$/ },
];

function readsAsAnotherType(text: string): boolean {
  if (text === '') return true;
  // Python's `$` also matches before a final newline; such text is multi-line and quoted anyway.
  return PYYAML_IMPLICIT_TYPES.some(({ firstChars, pattern }) => firstChars.includes(text[0]) && pattern.test(text));
}

// Characters PyYAML will not write unescaped (with allow_unicode): they force double quotes.
const PYYAML_UNPRINTABLE = /[^\n\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFE}]|\uFEFF/u;
const PYYAML_LINE_BREAK = /[\n\x85\u2028\u2029]/;

function pyyamlStyle(text: string): Scalar.Type {
  if (PYYAML_UNPRINTABLE.test(text)) return Scalar.QUOTE_DOUBLE;
  if (PYYAML_LINE_BREAK.test(text) || readsAsAnotherType(text) || /^(?:---|\.\.\.)/.test(text)) return Scalar.QUOTE_SINGLE;
  return Scalar.PLAIN;
}

const pyyamlStringTag = {
  identify: (value: unknown) => typeof value === 'string',
  default: true,
  tag: STRING_TAG,
  resolve: (text: string) => text,
  stringify(item: Scalar, ctx: StringifyContext, onComment?: () => void, onChompKeep?: () => void): string {
    const text = String(item.value);
    // actualString off: the type check was PyYAML's, done above; `yaml` only applies indicator rules.
    const written = (type: Scalar.Type) =>
      stringifyString({ ...item, value: text, type } as Scalar, { ...ctx, actualString: false }, onComment, onChompKeep);
    let scalar = written(pyyamlStyle(text));
    // A plain string `yaml` had to quote is quoted by PyYAML too, but in single quotes when possible.
    if (scalar.startsWith('"') && pyyamlStyle(text) === Scalar.PLAIN) scalar = written(Scalar.QUOTE_SINGLE);
    if (ctx.implicitKey || scalar.startsWith('"')) return scalar;
    return foldLikePyyaml(scalar, startColumn(ctx), ctx.indent);
  },
};

/**
 * The column a scalar starts at. `yaml` sets `indentAtStart` (key length + 2) only for a mapping value;
 * its key sits one indent step left of `ctx.indent`. A sequence item starts right after `- `, at
 * `ctx.indent`.
 */
function startColumn(ctx: StringifyContext): number {
  return typeof ctx.indentAtStart === 'number'
    ? ctx.indent.length - ctx.indentStep.length + ctx.indentAtStart
    : ctx.indent.length;
}
