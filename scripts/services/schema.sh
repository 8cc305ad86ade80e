# Schema Registries for the registry tests. Sourced by services.sh (the file is named after the
# part of the service names before the dash, like kafka.sh holds kafka-cluster).
#
#   schema-registry         source http://127.0.0.1:${KB_SR_SOURCE_PORT:-18081}
#                           target http://127.0.0.1:${KB_SR_TARGET_PORT:-18082}   (no auth)
#       franz-go's srfake (github.com/twmb/franz-go/pkg/sr v1.8.0) served by the small main in
#       scripts/services/schema-registry/; POST /_kb/reset empties one. It refuses explicit ids.
#                           tls-source  https://127.0.0.1:${KB_SR_TLS_PORT:-18084}   (server certificate)
#                           mtls-target https://127.0.0.1:${KB_SR_MTLS_PORT:-18085}  (client certificate required)
#       two more srfake registries over TLS, for the client's tls settings. Their certificates are
#       written once by certs.sh into $STATE_DIR/schema-registry/certs (a CA of their own, not
#       kafka-secure's): the server certificate broker.pem (SAN IP:127.0.0.1, DNS:localhost), the
#       client certificate client.pem (plain client.key, encrypted client-encrypted.key with its
#       passphrase in client-key.pass), and other-ca.pem, a CA that signed none of them.
#   schema-registry-import  http://127.0.0.1:${KB_SR_IMPORT_PORT:-18083}   (no auth)
#       AxonOps Schema Registry v0.2.1 (Apache-2.0, Go), in-memory storage: a Confluent API
#       that implements IMPORT mode with explicit ids and versions, for preserve_ids. Built from
#       the wrapper module scripts/services/schema-registry-import/ (a go.mod `tool` line; the
#       proxy refuses the module's version list, so `go install ...@v0.2.1` cannot be used).
#       A restart empties it.
#
# Built with the installed Go from the Go module proxy (go.sum pins every module) into
# $CACHE_DIR/go-bin/kb-<name>-<hash of the sources>, so an edit rebuilds and a second start only
# launches it (both builds on an empty cache: 68 s of CPU). State is in memory.

SR_DIR="$STATE_DIR/schema-registry"

# _sr_bin NAME: the cached binary built from scripts/services/NAME/.
_sr_bin() {
  local hash
  hash=$(cd "$ROOT/scripts/services/$1" && cat go.mod go.sum ./*.go 2>/dev/null | sha256sum | cut -c1-12)
  echo "$CACHE_DIR/go-bin/kb-$1-$hash"
}

# _sr_install NAME PACKAGE: builds PACKAGE (. or a tool's import path) of that module once.
_sr_install() {
  local bin tmp
  bin=$(_sr_bin "$1")
  if [ -x "$bin" ]; then return 0; fi
  log "building $1 with $(go version | cut -d' ' -f3) (cached in $CACHE_DIR/go-bin)"
  tmp="$CACHE_DIR/go-bin/.tmp-$1-$$"
  mkdir -p "$CACHE_DIR/go-bin"
  (cd "$ROOT/scripts/services/$1" && GOMODCACHE="${GOMODCACHE:-$CACHE_DIR/go/mod}" GOCACHE="${GOCACHE:-$CACHE_DIR/go/build}" \
    GOFLAGS="-buildvcs=false -modcacherw" GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 \
    go build -o "$tmp" "$2") >&2
  mv "$tmp" "$bin"
}

SR_CERTS="$SR_DIR/certs"

# _sr_start_one NAME PORT [tls|mtls]
_sr_start_one() {
  local name=$1 port=$2 sec=${3:-} bin scheme=http
  local -a flags=() curl_tls=()
  bin=$(_sr_bin schema-registry)
  mkdir -p "$SR_DIR"
  if [ -n "$sec" ]; then
    scheme=https
    flags=(-tls-cert "$SR_CERTS/broker.pem" -tls-key "$SR_CERTS/broker.key")
    curl_tls=(--cacert "$SR_CERTS/ca.pem")
    if [ "$sec" = mtls ]; then
      flags+=(-client-ca "$SR_CERTS/ca.pem")
      curl_tls+=(--cert "$SR_CERTS/client.pem" --key "$SR_CERTS/client.key")
    fi
  fi
  if ! pid_alive "$SR_DIR/$name.pid"; then
    setsid nohup "$bin" -listen "127.0.0.1:$port" "${flags[@]}" >"$SR_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$SR_DIR/$name.pid"
  fi
  local url="$scheme://127.0.0.1:$port/subjects" deadline=$((SECONDS + 60))
  until curl -sf -o /dev/null --max-time 2 "${curl_tls[@]}" "$url"; do
    if [ $SECONDS -ge $deadline ] || ! pid_alive "$SR_DIR/$name.pid"; then
      log "schema-registry $name did not answer at $url within 60s"
      tail -n 30 "$SR_DIR/$name.log" >&2
      return 1
    fi
    sleep 0.2
  done
}

_sr_urls() {
  echo "source http://127.0.0.1:${KB_SR_SOURCE_PORT:-18081} target http://127.0.0.1:${KB_SR_TARGET_PORT:-18082}" \
    "tls-source https://127.0.0.1:${KB_SR_TLS_PORT:-18084} mtls-target https://127.0.0.1:${KB_SR_MTLS_PORT:-18085}" \
    "(certificates in $SR_CERTS)"
}

schema_registry_start() {
  local t0
  t0=$(date +%s.%N)
  _sr_install schema-registry .
  # shellcheck source=scripts/services/certs.sh
  . "$ROOT/scripts/services/certs.sh"
  certs_ensure "$SR_CERTS"
  _sr_start_one source "${KB_SR_SOURCE_PORT:-18081}"
  _sr_start_one target "${KB_SR_TARGET_PORT:-18082}"
  _sr_start_one tls-source "${KB_SR_TLS_PORT:-18084}" tls
  _sr_start_one mtls-target "${KB_SR_MTLS_PORT:-18085}" mtls
  log "schema-registry (srfake) ready in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}")s"
  echo "schema-registry $(_sr_urls)"
}

SR_NAMES=(source target tls-source mtls-target)

schema_registry_stop() {
  local n
  for n in "${SR_NAMES[@]}"; do stop_pidfile "$SR_DIR/$n.pid" "schema-registry $n"; done
}

schema_registry_status() {
  local n up=() down=()
  for n in "${SR_NAMES[@]}"; do
    if pid_alive "$SR_DIR/$n.pid"; then up+=("$n"); else down+=("$n"); fi
  done
  if [ ${#down[@]} -eq 0 ]; then echo "schema-registry running $(_sr_urls)"
  elif [ ${#up[@]} -eq 0 ]; then echo "schema-registry stopped"
  # any one up counts as running (scripts/test.sh reads the second word), the rest is named
  else echo "schema-registry running (partly; stopped: ${down[*]}) $(_sr_urls)"; fi
}

SR_IMPORT_PKG=github.com/axonops/axonops-schema-registry/cmd/schema-registry

schema_registry_import_start() {
  local t0 port="${KB_SR_IMPORT_PORT:-18083}" bin
  t0=$(date +%s.%N)
  _sr_install schema-registry-import "$SR_IMPORT_PKG"
  bin=$(_sr_bin schema-registry-import)
  mkdir -p "$SR_DIR"
  if ! pid_alive "$SR_DIR/import.pid"; then
    SCHEMA_REGISTRY_HOST=127.0.0.1 SCHEMA_REGISTRY_PORT="$port" SCHEMA_REGISTRY_STORAGE_TYPE=memory \
      setsid nohup "$bin" >"$SR_DIR/import.log" 2>&1 </dev/null &
    echo $! >"$SR_DIR/import.pid"
  fi
  http_ready "http://127.0.0.1:$port/mode" 60 "schema-registry-import" "$SR_DIR/import.log"
  log "schema-registry-import (AxonOps Schema Registry v0.2.1) ready in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}")s"
  echo "schema-registry-import http://127.0.0.1:$port"
}

schema_registry_import_stop() { stop_pidfile "$SR_DIR/import.pid" schema-registry-import; }

schema_registry_import_status() {
  if pid_alive "$SR_DIR/import.pid"; then echo "schema-registry-import running http://127.0.0.1:${KB_SR_IMPORT_PORT:-18083}"
  else echo "schema-registry-import stopped"; fi
}
