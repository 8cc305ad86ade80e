#!/usr/bin/env bash
# Runs one of Kafka's own Java tools from the cached jars, e.g.
#   scripts/kafka-tool.sh org.apache.kafka.tools.ProducerPerformance --topic t --num-records 10 ...
# These are independent peers: tests and benchmarks use them to check our results.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR="${KB_CACHE_DIR:-$ROOT/.cache}"
LIBS="$CACHE_DIR/kafka-${KB_KAFKA_VERSION:-4.1.1}/libs"
[ -f "$LIBS/.complete" ] || { echo "Kafka jars missing: run 'bash scripts/services.sh start kafka' first" >&2; exit 1; }
exec java ${KB_TOOL_HEAP:+-Xmx$KB_TOOL_HEAP} -cp "$LIBS/*" -Dlog4j2.level=WARN -Dorg.slf4j.simpleLogger.defaultLogLevel=warn "$@"
