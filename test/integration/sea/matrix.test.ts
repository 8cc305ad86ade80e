/**
 * The storage matrix (test/integration/matrix/matrix.test.ts: backup, validate --deep, restore
 * and offsets plan on local disk, moto S3, Azurite and fake-gcs-server) run with the single
 * executable, so each storage SDK is exercised from inside the bundle.
 */
import './start.ts';

await import('../matrix/matrix.test.ts');
