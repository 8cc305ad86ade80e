#!/usr/bin/env bash
# The project's test command (README): lint, type-check, build, start the real services,
# run every test, and the benchmark in smoke mode; at the end it stops the services this run
# started (KB_KEEP_SERVICES=1 keeps them). Run through `npm test` after `npm ci`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
t0=$SECONDS
node scripts/check-node.js

# Stop, at the end (pass or fail), the services this run started: those running now that were
# not running before, including kafka-cluster, kafka-secure and kafka-39, which tests start themselves.
# Services that were already up (a developer's, or another run's) are left as they were.
# KB_KEEP_SERVICES=1 keeps everything running, for a faster next run.
running_services() {
  { bash scripts/services.sh status 2>/dev/null || true; } | awk '$2 == "running" { sub(/^kafka-cluster-[0-9]+$/, "kafka-cluster", $1); print $1 }' | sort -u
}
services_before=$(running_services)
stop_started_services() {
  local rc=$? started
  trap - EXIT
  if [ "${KB_KEEP_SERVICES:-}" = 1 ]; then
    echo "== services kept running (KB_KEEP_SERVICES=1)"
  else
    started=$(comm -13 <(echo "$services_before") <(running_services) | paste -sd ' ' -)
    if [ -n "$started" ]; then
      echo "== stopping the services this run started: $started"
      # shellcheck disable=SC2086 # one word per service
      bash scripts/services.sh stop $started || echo "== could not stop every service (see above)" >&2
    fi
  fi
  exit "$rc"
}
trap stop_started_services EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
echo "== lint";       npx biome check .
echo "== typecheck";  npx tsc --noEmit
echo "== build";      npx tsc -p tsconfig.build.json
# the CLI tests run the compiled CLI just built (test/helpers/cli.ts): it starts in half the time
# of the TypeScript sources, some 25 % of a CLI-heavy suite's time; KB_CLI=... chooses another
export KB_CLI="${KB_CLI:-$PWD/bin/kafka-backup.js}"
# the single executable: test/integration/sea/ runs CLI suites with it instead of node
echo "== package";    node scripts/package.ts
# the Kubernetes test bed's binaries (operator tests): built from the Go module proxy once, then cached
echo "== kube test bed build"; bash scripts/kube/build.sh all
# the schema registries are Go programs built from the module proxy on first start (minutes cold), so
# they start here rather than inside the first test that needs them
echo "== services";   bash scripts/services.sh start ${KB_TEST_SERVICES:-kafka s3 azure gcs schema-registry schema-registry-import}
echo "== tests"
# One node:test run so the closing summary counts every test.
node --test --test-concurrency="${KB_TEST_CONCURRENCY:-2}" --test-timeout=900000 \
  'test/unit/**/*.test.ts' 'test/integration/**/*.test.ts'
if [ -f bench/run.ts ]; then
  echo "== bench (smoke)"
  node bench/run.ts --smoke
  node bench/run.ts --scenario repository --smoke
fi
echo "== test command took $((SECONDS - t0))s"
