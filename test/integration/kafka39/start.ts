/**
 * Points the test helpers at Kafka 3.9 (started here) before any of them is loaded. Imported
 * first by the test files of this folder, which then import a suite written for the default
 * broker: the helpers read KB_KAFKA_BOOTSTRAP when they load, so the whole suite (source,
 * target, and Kafka's Java peers) runs against the 3.9 broker.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

export const KAFKA_39_BOOTSTRAP = '127.0.0.1:19492';
const root = resolve(import.meta.dirname, '../../..');
execFileSync('bash', [resolve(root, 'scripts/services.sh'), 'start', 'kafka-39'], {
  stdio: ['ignore', 'ignore', 'inherit'],
  timeout: 300_000,
});
process.env['KB_KAFKA_BOOTSTRAP'] = KAFKA_39_BOOTSTRAP;
