/**
 * The field reference of docs/kubernetes.md, generated from the CRDs (so it lists every field,
 * with its type and the constraints the API server enforces). `node src/operator/write-crds.ts`
 * rewrites it between the markers; test/unit/operator/crds.test.ts fails when it drifts.
 */
import { KINDS } from './api.ts';
import { ALL_KINDS, crdOf } from './crds.ts';
import type { OpenApi } from './openapi.ts';

export const BEGIN = '<!-- BEGIN GENERATED FIELDS (node src/operator/write-crds.ts) -->';
export const END = '<!-- END GENERATED FIELDS -->';

function typeOf(n: OpenApi): string {
  if (n['x-kubernetes-int-or-string']) return 'int or string';
  if (n['x-kubernetes-preserve-unknown-fields'] && !n['properties'])
    return n['type'] === 'object' ? 'object (free-form)' : 'any';
  if (n['type'] === 'array') return `list of ${typeOf(n['items'] as OpenApi)}`;
  if (n['type'] === 'object' && n['additionalProperties'])
    return `map of ${typeOf(n['additionalProperties'] as OpenApi)}`;
  if (
    n['type'] === 'object' &&
    (n['properties'] as Record<string, OpenApi> | undefined)?.['key'] &&
    (n['properties'] as Record<string, OpenApi>)['name'] &&
    Object.keys(n['properties'] as object).length === 2
  )
    return 'Secret key {name, key}';
  return String(n['type'] ?? 'any');
}

function rules(n: OpenApi): string {
  const out: string[] = [];
  if (n['enum']) out.push(`one of ${(n['enum'] as string[]).map((e) => `\`${e}\``).join(', ')}`);
  if (n['minimum'] !== undefined) out.push(`>= ${n['minimum']}`);
  if (n['maximum'] !== undefined) out.push(`<= ${n['maximum']}`);
  if (n['minItems'] !== undefined) out.push(`at least ${n['minItems']} item(s)`);
  if (n['pattern'] !== undefined) out.push(`pattern \`${String(n['pattern']).replace(/\|/g, '\\|')}\``);
  if (n['default'] !== undefined) out.push(`default \`${String(n['default'])}\``);
  if (n['description']) out.push(String(n['description']));
  return out.join('; ');
}

function rows(n: OpenApi, prefix: string, required: boolean, out: string[]): void {
  const props = n['properties'] as Record<string, OpenApi> | undefined;
  const isSecretRef = typeOf(n) === 'Secret key {name, key}';
  if (prefix) out.push(`| \`${prefix}\` | ${typeOf(n)}${required ? ' (required)' : ''} | ${rules(n)} |`);
  if (!props || isSecretRef) {
    const items = n['items'] as OpenApi | undefined;
    if (items?.['properties']) rows(items, `${prefix}[]`, false, out);
    return;
  }
  const req = new Set((n['required'] as string[] | undefined) ?? []);
  for (const [k, child] of Object.entries(props)) rows(child, prefix ? `${prefix}.${k}` : k, req.has(k), out);
}

export function fieldReference(): string {
  const parts: string[] = [];
  for (const kind of ALL_KINDS) {
    const spec = (
      crdOf(kind) as { spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: OpenApi } } } }[] } }
    ).spec.versions[0]!.schema.openAPIV3Schema.properties.spec;
    const out: string[] = [`### ${kind} (\`${KINDS[kind].plural}\`, short name \`${KINDS[kind].short[0]}\`)`, ''];
    const validations = (spec['x-kubernetes-validations'] as { message: string }[] | undefined) ?? [];
    if (validations.length) {
      out.push('Rules the API server checks across fields:', '');
      for (const v of validations) out.push(`- ${v.message}`);
      out.push('');
    }
    out.push('| field (`spec.`) | type | rules and meaning |', '| --- | --- | --- |');
    rows(spec, '', false, out);
    parts.push(out.join('\n'));
  }
  return parts.join('\n\n');
}

/** docs text with the generated section replaced. */
export function withFieldReference(doc: string): string {
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error(`docs/kubernetes.md has no ${BEGIN} ... ${END} section`);
  return `${doc.slice(0, a + BEGIN.length)}\n\n${fieldReference()}\n\n${doc.slice(b)}`;
}
