/**
 * Which Node.js versions kafka-backup runs on, checked by the entry point (main.ts) before it
 * loads anything else: on an older Node the code fails at load time in ways a user cannot read
 * (Node 20 has no zstd in node:zlib, so format/compression.ts throws a TypeError with a stack).
 *
 * What needs the range: zstd in node:zlib (22.15, 23.8); running src/ as TypeScript without
 * flags (22.18, 23.6); and the floor itself, which is @platformatic/kafka's engines range.
 *
 * This module is loaded on every Node, so it imports nothing and keeps to old syntax.
 */

// Kept equal to package.json engines.node by a unit test. Not read from package.json at run time
// so the check also works where no package.json sits beside the code (a bundle, an executable).
export const SUPPORTED_NODE = '>= 22.22.0 || >= 24.6.0';

function parts(version: string): number[] {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  if (!m) throw new Error(`not a Node.js version: '${version}'`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return 0;
}

/**
 * Whether `version` satisfies `range`: alternatives joined by `||`, each `>= X.Y.Z` or `^X.Y.Z`.
 * Only the forms engines ranges use here; anything else throws, so a new form in package.json
 * fails the unit test instead of passing every version.
 */
export function satisfies(version: string, range: string): boolean {
  const v = parts(version);
  return range.split('||').some((alt) => {
    const m = /^\s*(>=|\^)\s*(\S+)\s*$/.exec(alt);
    if (!m) throw new Error(`unsupported engines range form: '${alt.trim()}'`);
    const min = parts(m[2] as string);
    return compare(v, min) >= 0 && (m[1] === '>=' || v[0] === min[0]);
  });
}

/** The one line to print when this Node cannot run kafka-backup, or undefined when it can. */
export function unsupportedNodeMessage(
  version: string = process.versions.node,
  execPath: string = process.execPath,
): string | undefined {
  if (satisfies(version, SUPPORTED_NODE)) return undefined;
  return `kafka-backup needs Node.js ${SUPPORTED_NODE}, but ${execPath} is v${parts(version).join('.')}`;
}
