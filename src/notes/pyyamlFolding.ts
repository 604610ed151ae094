/**
 * PyYAML's line folding of plain and single-quoted scalars, applied to the scalar text the `yaml`
 * package wrote unfolded.
 *
 * The two libraries fold differently: `yaml` breaks at the last space that keeps a line within the
 * width, PyYAML writes on and breaks at the first single space met once the line is already past 80
 * columns (so its lines overshoot). No `yaml` option reproduces that, and the original's notes are
 * compared byte for byte, so the break points are recomputed here. Only a lone space between two
 * visible characters becomes a line break, which a YAML reader folds back into that space: the value
 * is unchanged.
 */
const PYYAML_BEST_WIDTH = 80;

/**
 * @param scalar the scalar as written on one line (plain, or single-quoted with its explicit line
 *   breaks already expanded to `\n` + indent)
 * @param startColumn the column its first character is written at
 * @param indent what continuation lines start with
 */
export function foldLikePyyaml(scalar: string, startColumn: number, indent: string): string {
  // PyYAML counts columns in code points; `string.length` would count an emoji twice.
  const chars = Array.from(scalar);
  const singleQuoted = chars[0] === "'";
  let column = startColumn;
  let folded = '';
  for (let index = 0; index < chars.length; index += 1) {
    const char = chars[index];
    if (char === '\n') {
      folded += char;
      column = 0;
      continue;
    }
    const insideQuotes = !singleQuoted || (index > 1 && index < chars.length - 2);
    const loneSpace = char === ' ' && isVisible(chars[index - 1]) && isVisible(chars[index + 1]);
    if (loneSpace && insideQuotes && column > PYYAML_BEST_WIDTH) {
      folded += `\n${indent}`;
      column = indent.length;
      continue;
    }
    folded += char;
    column += 1;
  }
  return folded;
}

function isVisible(char: string | undefined): boolean {
  return char !== undefined && char !== ' ' && char !== '\n';
}
