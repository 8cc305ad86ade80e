/**
 * The README's main job: on a local single-node Kafka, write sample data, back it up to a
 * local folder, restore it to a new topic, and print what happened. Everything goes through the
 * real CLI (as a user would run it); record counts are checked with Kafka's own GetOffsetShell.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Admin, Producer } from '@platformatic/kafka';

const root = new URL('..', import.meta.url).pathname;
const bootstrap = process.env['KB_KAFKA_BOOTSTRAP'] ?? '127.0.0.1:19092';
const dir = join(root, '.services', 'demo');
mkdirSync(dir, { recursive: true });
const stamp = Date.now().toString(36);
const topic = `demo-orders-${stamp}`;
const restored = `${topic}-restored`;
const records = 20_000;

function step(msg: string): void {
  process.stdout.write(`\n== ${msg}\n`);
}

step(`starting Kafka (scripts/services.sh start kafka)`);
execFileSync('bash', [join(root, 'scripts/services.sh'), 'start', 'kafka'], { stdio: 'inherit' });

step(`writing ${records} sample records to ${topic} (3 partitions)`);
const admin = new Admin({ clientId: 'kafka-backup-demo', bootstrapBrokers: [bootstrap] });
await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 });
const producer = new Producer({
  clientId: 'kafka-backup-demo',
  bootstrapBrokers: [bootstrap],
  idempotent: true,
  acks: -1,
});
for (let i = 0; i < records; i += 1000) {
  await producer.send({
    messages: Array.from({ length: 1000 }, (_, j) => ({
      topic,
      key: Buffer.from(`customer-${(i + j) % 97}`),
      value: Buffer.from(JSON.stringify({ order: i + j, amount: ((i + j) * 7) % 1000 })),
      headers: new Map([[Buffer.from('source'), Buffer.from('demo')]]),
    })),
  });
}
await producer.close();
await admin.close();

const backups = join(dir, 'backups');
writeFileSync(
  join(dir, 'backup.yaml'),
  `backup_id: demo\nsource:\n  bootstrap_servers: ["${bootstrap}"]\n  topics: { include: ["${topic}"] }\nstorage:\n  backend: filesystem\n  path: ${backups}\nbackup:\n  mode: snapshot\n  compression: zstd\n`,
);
writeFileSync(
  join(dir, 'restore.yaml'),
  `backup_id: demo\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${backups}\nrestore:\n  topics: { include: ["${topic}"] }\n  topic_mapping: { ${topic}: ${restored} }\n`,
);

const cli = (args: string[]): string => {
  const r = spawnSync(process.execPath, [join(root, 'src/cli/main.ts'), '--log-level', 'warn', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0) {
    process.stderr.write(r.stdout);
    throw new Error(`kafka-backup ${args.join(' ')} exited with ${r.status}`);
  }
  return r.stdout;
};

step(`kafka-backup backup -c ${join(dir, 'backup.yaml')}`);
process.stdout.write(cli(['backup', '-c', join(dir, 'backup.yaml')]));
step(`kafka-backup validate --path ${backups} --backup-id demo --deep`);
process.stdout.write(cli(['validate', '--path', backups, '--backup-id', 'demo', '--deep']));
step(`kafka-backup restore -c ${join(dir, 'restore.yaml')}`);
process.stdout.write(cli(['restore', '-c', join(dir, 'restore.yaml')]));

step('checking with Kafka’s own GetOffsetShell');
const count = (t: string): number =>
  execFileSync(
    join(root, 'scripts/kafka-tool.sh'),
    ['org.apache.kafka.tools.GetOffsetShell', '--bootstrap-server', bootstrap, '--topic', t],
    {
      encoding: 'utf8',
    },
  )
    .trim()
    .split('\n')
    .reduce((s, line) => s + Number(line.split(':')[2] ?? 0), 0);
const src = count(topic);
const dst = count(restored);
process.stdout.write(`source ${topic}: ${src} records; restored ${restored}: ${dst} records\n`);
if (src !== records || dst !== records) {
  process.stderr.write('demo FAILED: record counts differ\n');
  process.exit(1);
}
process.stdout.write(`\ndemo OK: backup in ${backups}, restored topic ${restored}\n`);
