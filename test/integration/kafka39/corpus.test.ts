/** The corpus round trip (test/integration/roundtrip/corpus.test.ts) with Kafka 3.9 as source and target. */
import './start.ts';

await import('../roundtrip/corpus.test.ts');
