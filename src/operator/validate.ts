/**
 * Semantic checks of a rendered config, by the CLI's own parser (so cross-field rules, durations,
 * regular expressions and host:port are checked exactly as `kafka-backup validate` would). Secret
 * placeholders are filled with a dummy: the values are the kubelet's business, never ours.
 */
import { parseConfig } from '../config/load.ts';
import { ConfigError } from '../errors.ts';
import { POD_IP_ENV } from './progress.ts';
import type { Rendered } from './render.ts';

/** Problems of the rendered config, one line each, with config key paths; empty when it is valid. */
export function configProblems(rendered: Rendered): string[] {
  const env: Record<string, string> = { [POD_IP_ENV]: '10.0.0.1' };
  for (const e of rendered.secrets.env) env[e.name] = 'placeholder';
  try {
    parseConfig(rendered.yaml, 'the rendered config', env);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.length ? e.problems : [e.message];
    throw e;
  }
}
