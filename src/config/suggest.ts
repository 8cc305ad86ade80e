/**
 * "Did you mean" for configuration keys and enum values: Damerau-Levenshtein (optimal string
 * alignment) distance, with camelCase/kebab-case spellings of a snake_case key treated as exact.
 */

/** Edit distance counting insertions, deletions, substitutions and swaps of two adjacent characters. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j]!;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      d[i * cols + j] = best;
    }
  }
  return at(a.length, b.length);
}

/** `batchSize`, `batch-size`, `BATCH_SIZE` all become `batch_size`. */
export function normaliseKey(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[-\s.]+/g, '_')
    .toLowerCase();
}

/**
 * The candidate closest to `input`, or undefined when none is close enough to be a plausible typo.
 * Ties go to the earlier candidate, so pass candidates in a meaningful order.
 */
export function suggest(input: string, candidates: readonly string[]): string | undefined {
  const norm = normaliseKey(input);
  for (const c of candidates) if (normaliseKey(c) === norm) return c;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const distance = editDistance(norm, normaliseKey(c));
    if (distance < bestDistance) {
      best = c;
      bestDistance = distance;
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.max(1, Math.min(3, Math.floor(Math.max(norm.length, best.length) / 3)));
  if (bestDistance <= limit) return best;
  // a prefix such as `batch` for `batch_size`, or an abbreviation such as `lvl` for `level`
  if (norm.length >= 3) {
    const prefixed = candidates.filter((c) => normaliseKey(c).startsWith(norm));
    if (prefixed.length === 1) return prefixed[0];
    const abbreviated = candidates.filter((c) => isAbbreviation(norm, normaliseKey(c)));
    if (abbreviated.length === 1) return abbreviated[0];
  }
  return undefined;
}

/** `lvl` abbreviates `level`: same first letter, and every letter appears in order. */
function isAbbreviation(short: string, long: string): boolean {
  if (short[0] !== long[0] || short.length >= long.length) return false;
  let j = 0;
  for (const ch of long) if (ch === short[j]) j++;
  return j === short.length;
}
