/**
 * The test command stops the services it started, and `services.sh stop` stops all six. Both run
 * against stand-ins in a temporary copy (fake services, fake node and npx), so no real service
 * is started or stopped: the real ones may be shared with other checkouts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '../../..');
const ALL = ['kafka', 'kafka-cluster', 'kafka-secure', 's3', 'azure', 'gcs'];
const tmp = mkdtempSync(join(tmpdir(), 'kb-services-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function executable(path: string, text: string): void {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}

// A service is running while its file exists in $FAKE_STATE; status prints what the real one does.
const FAKE_SERVICES = `#!/usr/bin/env bash
set -euo pipefail
action=$1; shift
if [ $# -eq 0 ]; then
  if [ "$action" = start ]; then set -- kafka s3 azure gcs; else set -- ${ALL.join(' ')}; fi
fi
echo "$action $*" >> "$FAKE_STATE/calls"
for s in "$@"; do
  case $action in
    start) touch "$FAKE_STATE/$s" ;;
    stop) rm -f "$FAKE_STATE/$s" ;;
    status)
      state=stopped; [ -f "$FAKE_STATE/$s" ] && state=running
      if [ "$s" = kafka-cluster ]; then for i in 1 2 3; do echo "kafka-cluster-$i $state 127.0.0.1:19\${i}92"; done
      else echo "$s $state somewhere"; fi ;;
  esac
done
`;

// node --test stands for the test files, which start kafka-cluster and kafka-secure themselves.
const FAKE_NODE = `#!/usr/bin/env bash
for a in "$@"; do
  if [ "$a" = --test ]; then bash scripts/services.sh start kafka-cluster kafka-secure; exit "\${FAKE_TEST_RC:-0}"; fi
done
exit 0
`;

let n = 0;
function testCommand(running: string[], env: Record<string, string> = {}) {
  const dir = join(tmp, `run-${++n}`);
  for (const d of ['scripts/kube', 'state', 'bin']) mkdirSync(join(dir, d), { recursive: true });
  // the test bed's build is cached on a real machine; here it only has to be called
  executable(join(dir, 'scripts/kube/build.sh'), `#!/usr/bin/env bash\necho "kube-build $*" >> "$FAKE_STATE/calls"\n`);
  copyFileSync(join(ROOT, 'scripts/test.sh'), join(dir, 'scripts/test.sh'));
  executable(join(dir, 'scripts/services.sh'), FAKE_SERVICES);
  executable(join(dir, 'bin/node'), FAKE_NODE);
  executable(join(dir, 'bin/npx'), `#!/usr/bin/env bash\nexit "\${FAKE_NPX_RC:-0}"\n`);
  for (const s of running) writeFileSync(join(dir, 'state', s), '');
  const r = spawnSync('bash', [join(dir, 'scripts/test.sh')], {
    encoding: 'utf8',
    env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin`, FAKE_STATE: join(dir, 'state'), ...env },
  });
  const left = ALL.filter((s) => existsSync(join(dir, 'state', s)));
  const calls = existsSync(join(dir, 'state/calls')) ? readFileSync(join(dir, 'state/calls'), 'utf8') : '';
  return { code: r.status, out: r.stdout + r.stderr, left, calls };
}

test('test command, nothing running before, tests pass: every service it started is stopped', () => {
  const r = testCommand([]);
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(r.left, []);
  assert.match(r.calls, /^stop azure gcs kafka kafka-cluster kafka-secure s3$/m);
});

test('test command, tests fail: still stops what it started, keeps what was running, exits 1', () => {
  const r = testCommand(['kafka', 's3'], { FAKE_TEST_RC: '1' });
  assert.equal(r.code, 1, r.out);
  assert.deepEqual(r.left, ['kafka', 's3']);
  assert.match(r.calls, /^stop azure gcs kafka-cluster kafka-secure$/m);
});

test('test command with KB_KEEP_SERVICES=1 stops nothing', () => {
  const r = testCommand([], { KB_KEEP_SERVICES: '1' });
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(r.left, ALL);
  assert.doesNotMatch(r.calls, /^stop/m);
  assert.match(r.out, /services kept running \(KB_KEEP_SERVICES=1\)/);
});

test('test command failing before the services start stops nothing and keeps its exit code', () => {
  const r = testCommand(['kafka'], { FAKE_NPX_RC: '3' });
  assert.equal(r.code, 3, r.out);
  assert.deepEqual(r.left, ['kafka']);
  assert.doesNotMatch(r.calls, /^(start|stop)/m);
});

// The real services.sh, with each service's script replaced by one that only says what it was asked.
function servicesSh(args: string[]): string {
  const dir = join(tmp, `svc-${++n}`);
  mkdirSync(join(dir, 'scripts/services'), { recursive: true });
  copyFileSync(join(ROOT, 'scripts/services.sh'), join(dir, 'scripts/services.sh'));
  copyFileSync(join(ROOT, 'scripts/services/lib.sh'), join(dir, 'scripts/services/lib.sh'));
  const servicesOf: Record<string, string[]> = {
    kafka: ['kafka', 'kafka_cluster', 'kafka_secure', 'kafka_39'],
    schema: ['schema_registry', 'schema_registry_import'],
  };
  for (const file of ['kafka', 's3', 'azure', 'gcs', 'kube', 'schema']) {
    const names = servicesOf[file] ?? [file];
    const fns = names.flatMap((s) => ['start', 'stop', 'status'].map((a) => `${s}_${a}() { echo "${s}_${a}"; }`));
    writeFileSync(join(dir, `scripts/services/${file}.sh`), `${fns.join('\n')}\n`);
  }
  const r = spawnSync('bash', [join(dir, 'scripts/services.sh'), ...args], {
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin', KB_STATE_DIR: join(dir, 'state'), KB_CACHE_DIR: join(dir, 'cache') },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').join(' ');
}

test('services.sh stop and status with no service (or all) cover all ten; start the usual four', () => {
  const six = (a: string) =>
    [
      'kafka',
      'kafka_cluster',
      'kafka_secure',
      'kafka_39',
      's3',
      'azure',
      'gcs',
      'kube',
      'schema_registry',
      'schema_registry_import',
    ]
      .map((s) => `${s}_${a}`)
      .join(' ');
  assert.equal(servicesSh(['stop']), six('stop'));
  assert.equal(servicesSh(['stop', 'all']), six('stop'));
  assert.equal(servicesSh(['status']), six('status'));
  assert.equal(servicesSh(['start']), 'kafka_start s3_start azure_start gcs_start');
  assert.equal(servicesSh(['stop', 'kafka-secure']), 'kafka_secure_stop');
  assert.equal(servicesSh(['start', 'kube']), 'kube_start');
  assert.equal(servicesSh(['stop', 'schema-registry']), 'schema_registry_stop');
  assert.equal(servicesSh(['start', 'schema-registry-import']), 'schema_registry_import_start');
});
