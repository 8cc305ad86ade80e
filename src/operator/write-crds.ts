/** Writes deploy/crds/<plural>.kafkabackup.io.yaml from ./crds.ts: `node src/operator/write-crds.ts`. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { crdYaml } from './crd-files.ts';

const dir = fileURLToPath(new URL('../../deploy/crds/', import.meta.url));
for (const [file, text] of crdYaml()) writeFileSync(dir + file, text);
