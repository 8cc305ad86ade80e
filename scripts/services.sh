#!/usr/bin/env bash
# One entry point for the real services the tests, the demo and the benchmark use.
#
#   scripts/services.sh start|stop|status [kafka|kafka-cluster|kafka-secure|kafka-39|s3|azure|gcs|kube|schema-registry|schema-registry-import|all]
#
# With no service (or `all`), start starts the four every test run needs (kafka s3 azure gcs);
# stop and status cover all ten, since tests start kafka-cluster, kafka-secure, kafka-39, kube,
# schema-registry and schema-registry-import themselves.
# Each service lives in scripts/services/<name>.sh and defines <name>_start, <name>_stop,
# <name>_status. Starts are idempotent and wait until the service answers, then print its
# address. Logs, pids and data go under .services/ (git-ignored); downloads are cached
# under .cache/ so a second start is fast.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ROOT
export STATE_DIR="${KB_STATE_DIR:-$ROOT/.services}"
export CACHE_DIR="${KB_CACHE_DIR:-$ROOT/.cache}"
mkdir -p "$STATE_DIR" "$CACHE_DIR"
# shellcheck source=scripts/services/lib.sh
. "$ROOT/scripts/services/lib.sh"

action=${1:-}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(all)
if [ "${targets[0]}" = all ]; then
  if [ "$action" = start ]; then targets=(kafka s3 azure gcs)
  else targets=(kafka kafka-cluster kafka-secure kafka-39 s3 azure gcs kube schema-registry schema-registry-import); fi
fi

case "$action" in
  start|stop|status) ;;
  *) echo "usage: scripts/services.sh start|stop|status [kafka|kafka-cluster|kafka-secure|kafka-39|s3|azure|gcs|kube|schema-registry|schema-registry-import|all]" >&2; exit 2 ;;
esac

for t in "${targets[@]}"; do
  file="$ROOT/scripts/services/${t%%-*}.sh"
  if [ ! -f "$file" ]; then echo "unknown service '$t'" >&2; exit 2; fi
  # Parallel test files start the same service at once (kafka-39, kafka-cluster, kafka-secure):
  # one start of a service at a time, or two would fetch its jars into one folder and launch two
  # servers on one data directory. flock -o keeps the lock in flock itself, so the servers the
  # start launches do not inherit it.
  if [ "$action" = start ] && [ "${KB_SERVICE_START_LOCKED:-}" != "$t" ]; then
    KB_SERVICE_START_LOCKED="$t" flock -o -w 1800 "$STATE_DIR/.start-$t.lock" bash "$ROOT/scripts/services.sh" start "$t"
    continue
  fi
  # shellcheck disable=SC1090
  . "$file"
  fn="${t//-/_}_$action"
  "$fn"
done
