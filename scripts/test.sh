#!/usr/bin/env bash
# The project's test command (README): lint, type-check, build, start the real services,
# run every test, and the benchmark in smoke mode. Run through `npm test` after `npm ci`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
t0=$SECONDS
node scripts/check-node.js
echo "== lint";       npx biome check .
echo "== typecheck";  npx tsc --noEmit
echo "== build";      npx tsc -p tsconfig.build.json
echo "== services";   bash scripts/services.sh start ${KB_TEST_SERVICES:-kafka s3 azure gcs}
echo "== tests"
# One node:test run so the closing summary counts every test.
node --test --test-concurrency="${KB_TEST_CONCURRENCY:-2}" --test-timeout=900000 \
  'test/unit/**/*.test.ts' 'test/integration/**/*.test.ts'
if [ -f bench/run.ts ]; then echo "== bench (smoke)"; node bench/run.ts --smoke; fi
echo "== test command took $((SECONDS - t0))s"
