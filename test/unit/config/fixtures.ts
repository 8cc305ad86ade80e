/** Shared config texts for the config tests. */
export const MINIMAL = `backup_id: orders
source:
  bootstrap_servers: ["127.0.0.1:9092"]
storage:
  path: /var/backups/kafka
`;

export const FULL = `backup_id: orders-prod.v1
snapshot: latest
max_memory_bytes: 536870912
source: &kafka
  bootstrap_servers: ["kafka-1:9092", "kafka-2:9092"]
  client_id: backup-job
  client_rack: eu-west-1a
  request_timeout_ms: 20000
  connect_timeout_ms: 5000
  security:
    protocol: SASL_SSL
    sasl: { mechanism: SCRAM-SHA-512, username: backup, password: "s3cr3t-pw" }
    tls: { ca_file: /etc/ca.pem, verify_hostname: false }
  topics:
    include: ["orders.*", "~^payments-[0-9]+$"]
    exclude: ["*.tmp"]
    include_internal: false
target:
  bootstrap_servers: ["dr-1:9092"]
  security:
    protocol: SSL
    tls: { ca_file: /etc/ca.pem, cert_file: /etc/c.pem, key_file: /etc/k.pem, key_password_file: /etc/kp }
storage:
  url: s3://my-bucket/kafka/prod/
  region: eu-west-1
  endpoint: http://127.0.0.1:9000
  path_style: true
  access_key_id: AKIAEXAMPLE
  secret_access_key: "wJalrXUtnFEMI-secret"
  sse: aws:kms
  sse_kms_key_id: alias/backup
  storage_class: STANDARD_IA
  request_checksum_calculation: when_required
  buffer_size: 16777216
  max_concurrent_requests: 4
  retry: { max_retries: 3, initial_delay_ms: 100, max_delay_ms: 5000 }
backup:
  mode: continuous
  start: 2024-05-01T00:00:00Z
  compression: zstd
  compression_level: 3
  batch_size: 5000
  max_batch_bytes: 2097152
  fetch_max_bytes: 33554432
  max_concurrent_partitions: 8
  max_bytes_per_sec: 10485760
  allow_empty: true
  segment_max_bytes: 67108864
  segment_max_interval_secs: 60
  checkpoint_interval_secs: 10
  poll_interval_ms: 500
  allow_source_change: false
  capture_offsets: true
  give_up_after_secs: 3600
  circuit_breaker: { failure_threshold: 3, reset_timeout_secs: 10, half_open_requests: 2 }
restore:
  topics: { include: ["orders"], exclude: [] }
  time_window_start: 2024-05-01T00:00:00Z
  time_window_end: 1714608000000
  offset_window: { orders: { 0: { start: 10, end: 20 } } }
  topic_mapping: { orders: orders-restored }
  partition_mapping: { orders: { "0": 3 } }
  repartitioning: true
  create_topics: true
  replication_factor: 3
  topic_configs: { orders-restored: { retention.ms: 86400000, cleanup.policy: delete } }
  include_original_offset_header: true
  compression: lz4
  allow_empty: false
  allow_non_empty: true
  purge_topics: false
  recreate_topics: false
  dry_run: true
  max_records_per_sec: 1000
  max_bytes_per_sec: 0
  max_concurrent_partitions: 4
  state_url: file:///var/lib/kafka-backup/state
  restore_id: dr-drill-1
  consumer_groups: ["billing", "~^analytics-"]
  group_mapping: { billing: billing-dr }
  give_up_after_secs: 0
  circuit_breaker: { failure_threshold: 5, reset_timeout_secs: 30, half_open_requests: 1 }
offsets:
  groups: ["billing"]
  strategy: header
  max_concurrent_groups: 4
metrics: { enabled: true, port: 9500, bind_address: 0.0.0.0, max_topic_labels: 50, linger_secs: 5 }
logging: { level: debug, format: json }
`;

/** A config text with one section replaced or added (YAML keys at the top level). */
export function withMinimal(extra: string): string {
  return MINIMAL + extra;
}
