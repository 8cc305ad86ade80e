/**
 * Derives the CRDs' OpenAPI v3 schemas from the CLI's own zod config schema (src/config/schema.ts),
 * so every option the CLI accepts is a field of the resources with the same types, enums, bounds
 * and patterns, and nothing is validated twice by hand. Keys become camelCase (Kubernetes style);
 * the rendered config turns them back (see ./naming.ts). Cross-field rules the schema checks in
 * refinements are not expressible here: the operator runs the CLI's parser on the rendered config
 * and reports what it finds in the resource's status (./validate.ts).
 */
import type { z } from 'zod';
import { unwrapSchema } from '../config/schema.ts';
import { camel } from './naming.ts';

type AnySchema = z.core.$ZodType;
export type OpenApi = Record<string, unknown>;

interface Check {
  check?: string;
  format?: string;
  pattern?: RegExp;
  value?: number | bigint;
  inclusive?: boolean;
  minimum?: number;
  maximum?: number;
}
interface Def {
  type: string;
  innerType?: AnySchema;
  shape?: Record<string, AnySchema>;
  valueType?: AnySchema;
  element?: AnySchema;
  options?: AnySchema[];
  entries?: Record<string, string>;
  checks?: { _zod: { def: Check } }[];
}
const defOf = (s: AnySchema): Def => s._zod.def as unknown as Def;

/** True when the key may be left out (optional, or the CLI has a default for it). */
export function isOptional(schema: AnySchema): boolean {
  return ['optional', 'default', 'prefault'].includes(defOf(schema).type);
}

function checksOf(def: Def): Check[] {
  return (def.checks ?? []).map((c) => c._zod.def);
}

export interface DeriveOptions {
  /** Keys (snake_case, of this object only) to leave out. */
  omit?: readonly string[];
  /** Keep the CLI's required keys required (false for sections whose keys come from elsewhere). */
  required?: boolean;
}

/** The OpenAPI schema of a zod schema (objects get camelCase property names). */
export function toOpenApi(schema: AnySchema, options: DeriveOptions = {}): OpenApi {
  const s = unwrapSchema(schema);
  const def = defOf(s);
  switch (def.type) {
    case 'object': {
      const properties: Record<string, OpenApi> = {};
      const required: string[] = [];
      for (const [key, child] of Object.entries(def.shape!)) {
        if (options.omit?.includes(key)) continue;
        properties[camel(key)] = toOpenApi(child);
        if (options.required !== false && !isOptional(child)) required.push(camel(key));
      }
      return { type: 'object', properties, ...(required.length ? { required } : {}) };
    }
    case 'record':
      return { type: 'object', additionalProperties: toOpenApi(def.valueType!) };
    case 'array': {
      const out: OpenApi = { type: 'array', items: toOpenApi(def.element!) };
      for (const c of checksOf(def)) if (c.check === 'min_length') out['minItems'] = c.minimum;
      return out;
    }
    case 'string': {
      const out: OpenApi = { type: 'string' };
      for (const c of checksOf(def)) {
        if (c.check === 'min_length') out['minLength'] = c.minimum;
        if (c.check === 'max_length') out['maxLength'] = c.maximum;
        if (c.check === 'string_format' && c.format === 'regex' && c.pattern) out['pattern'] = c.pattern.source;
      }
      return out;
    }
    case 'enum':
      return { type: 'string', enum: Object.values(def.entries!) };
    case 'number': {
      const checks = checksOf(def);
      const integer = checks.some((c) => c.check === 'number_format' && /int/.test(c.format ?? ''));
      const out: OpenApi = { type: integer ? 'integer' : 'number' };
      for (const c of checks) {
        // int() adds the safe-integer range as its own bounds; those say nothing to a user
        if (c.check === 'greater_than' && Math.abs(Number(c.value)) < Number.MAX_SAFE_INTEGER)
          out[c.inclusive ? 'minimum' : 'exclusiveMinimum'] = Number(c.value);
        if (c.check === 'less_than' && Math.abs(Number(c.value)) < Number.MAX_SAFE_INTEGER)
          out[c.inclusive ? 'maximum' : 'exclusiveMaximum'] = Number(c.value);
      }
      return out;
    }
    case 'boolean':
      return { type: 'boolean' };
    case 'union': {
      const kinds = new Set(def.options!.map((o) => defOf(unwrapSchema(o)).type));
      if ([...kinds].every((k) => k === 'string' || k === 'number' || k === 'boolean')) {
        // int-or-string has no room for booleans (topic config values): any scalar then
        if (kinds.has('boolean')) return { 'x-kubernetes-preserve-unknown-fields': true };
        return { 'x-kubernetes-int-or-string': true };
      }
      return { 'x-kubernetes-preserve-unknown-fields': true };
    }
    default:
      return { 'x-kubernetes-preserve-unknown-fields': true };
  }
}
