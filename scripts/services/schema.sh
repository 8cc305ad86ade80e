# schema-registry: two Confluent-compatible Schema Registries for the registry tests, a source and
# a target, each franz-go's srfake (github.com/twmb/franz-go/pkg/sr v1.8.0, in memory) served by
# the small main in scripts/services/schema-registry/. Sourced by services.sh (the file is named
# after the part of the service name before the dash, like kafka.sh holds kafka-cluster).
#
#   schema-registry  source http://127.0.0.1:${KB_SR_SOURCE_PORT:-18081}
#                    target http://127.0.0.1:${KB_SR_TARGET_PORT:-18082}   (no auth)
#
# Built with the installed Go from the Go module proxy (go.sum pins the module) into
# $CACHE_DIR/go-bin/kb-schema-registry-<hash of the sources>, so an edit rebuilds and a second
# start only launches it. State is in memory: a restart, or POST /_kb/reset, starts empty.

SR_SRC="$ROOT/scripts/services/schema-registry"
SR_DIR="$STATE_DIR/schema-registry"

_sr_bin() {
  local hash
  hash=$(cat "$SR_SRC/main.go" "$SR_SRC/go.mod" "$SR_SRC/go.sum" | sha256sum | cut -c1-12)
  echo "$CACHE_DIR/go-bin/kb-schema-registry-$hash"
}

_sr_install() {
  local bin tmp
  bin=$(_sr_bin)
  if [ -x "$bin" ]; then return 0; fi
  log "building kb-schema-registry (srfake) with $(go version | cut -d' ' -f3) (cached in $CACHE_DIR/go-bin)"
  tmp="$CACHE_DIR/go-bin/.tmp-sr-$$"
  mkdir -p "$CACHE_DIR/go-bin"
  (cd "$SR_SRC" && GOMODCACHE="${GOMODCACHE:-$CACHE_DIR/go/mod}" GOCACHE="${GOCACHE:-$CACHE_DIR/go/build}" \
    GOFLAGS="-buildvcs=false -modcacherw" GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 \
    go build -o "$tmp" .) >&2
  mv "$tmp" "$bin"
}

# _sr_start_one NAME PORT
_sr_start_one() {
  local name=$1 port=$2 bin
  bin=$(_sr_bin)
  mkdir -p "$SR_DIR"
  if ! pid_alive "$SR_DIR/$name.pid"; then
    setsid nohup "$bin" -listen "127.0.0.1:$port" >"$SR_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$SR_DIR/$name.pid"
  fi
  http_ready "http://127.0.0.1:$port/subjects" 60 "schema-registry $name" "$SR_DIR/$name.log"
}

schema_registry_start() {
  local t0
  t0=$(date +%s.%N)
  _sr_install
  _sr_start_one source "${KB_SR_SOURCE_PORT:-18081}"
  _sr_start_one target "${KB_SR_TARGET_PORT:-18082}"
  log "schema-registry (srfake) ready in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}")s"
  echo "schema-registry source http://127.0.0.1:${KB_SR_SOURCE_PORT:-18081} target http://127.0.0.1:${KB_SR_TARGET_PORT:-18082}"
}

schema_registry_stop() {
  stop_pidfile "$SR_DIR/source.pid" "schema-registry source"
  stop_pidfile "$SR_DIR/target.pid" "schema-registry target"
}

schema_registry_status() {
  if pid_alive "$SR_DIR/source.pid" || pid_alive "$SR_DIR/target.pid"; then
    echo "schema-registry running source http://127.0.0.1:${KB_SR_SOURCE_PORT:-18081} target http://127.0.0.1:${KB_SR_TARGET_PORT:-18082}"
  else echo "schema-registry stopped"; fi
}
