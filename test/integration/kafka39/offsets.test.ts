/** The offset manager tests (test/integration/offsets/offsets.test.ts) with Kafka 3.9 as source and target. */
import './start.ts';

await import('../offsets/offsets.test.ts');
