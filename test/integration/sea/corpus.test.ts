/**
 * The corpus round trip (test/integration/roundtrip/corpus.test.ts: backup, validate --deep,
 * describe, restore, every record compared with Kafka's Java consumer) run with the single
 * executable instead of node.
 */
import './start.ts';

await import('../roundtrip/corpus.test.ts');
