/** The exit-code suite (test/integration/metrics/exit-codes.test.ts) run with the single executable. */
import './start.ts';

await import('../metrics/exit-codes.test.ts');
