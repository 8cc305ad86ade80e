/**
 * Writes deploy/crds/<plural>.kafkabackup.io.yaml and the field reference of docs/kubernetes.md
 * from ./crds.ts: `node src/operator/write-crds.ts`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withFieldReference } from './crd-docs.ts';
import { crdYaml } from './crd-files.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
for (const [file, text] of crdYaml()) writeFileSync(`${root}deploy/crds/${file}`, text);
const docs = `${root}docs/kubernetes.md`;
writeFileSync(docs, withFieldReference(readFileSync(docs, 'utf8')));
