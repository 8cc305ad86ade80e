# GCS: fake-gcs-server, built from the Go module proxy with the installed Go into
# $CACHE_DIR/go-bin. Sourced by services.sh.
#
#   gcs  http://127.0.0.1:${KB_GCS_PORT:-14443}  (no auth; clients set STORAGE_EMULATOR_HOST or apiEndpoint)
#
# KB_GCS_VERSION overrides the pinned tag. The binary is kept per version, so a second start
# only launches it. Objects are held in memory (-backend memory): a restart starts empty.

GCS_VERSION="${KB_GCS_VERSION:-v1.56.1}"
GCS_BIN="$CACHE_DIR/go-bin/fake-gcs-server-$GCS_VERSION"


gcs_install() {
  if [ -x "$GCS_BIN" ]; then return 0; fi
  log "building fake-gcs-server $GCS_VERSION with $(go version | cut -d' ' -f3) (cached in $CACHE_DIR/go-bin)"
  local tmp="$CACHE_DIR/go-bin/.tmp-$$"
  mkdir -p "$tmp"
  GOBIN="$tmp" GOFLAGS=-buildvcs=false go install "github.com/fsouza/fake-gcs-server@$GCS_VERSION" >&2
  mv "$tmp/fake-gcs-server" "$GCS_BIN"
  rm -rf "$tmp"
}

gcs_start() {
  local port="${KB_GCS_PORT:-14443}" dir="$STATE_DIR/gcs"
  local t0
  t0=$(date +%s.%N)
  mkdir -p "$dir"
  if ! pid_alive "$dir/pid"; then
    gcs_install
    setsid nohup "$GCS_BIN" -scheme http -host 127.0.0.1 -port "$port" \
      -external-url "http://127.0.0.1:$port" -public-host "127.0.0.1:$port" -backend memory \
      -log-level warn >"$dir/server.log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
  fi
  http_ready "http://127.0.0.1:$port/storage/v1/b" 60 gcs "$dir/server.log"
  log "gcs (fake-gcs-server $GCS_VERSION) ready in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}")s"
  echo "gcs http://127.0.0.1:$port"
}

gcs_stop() { stop_pidfile "$STATE_DIR/gcs/pid" gcs; }

gcs_status() {
  if pid_alive "$STATE_DIR/gcs/pid"; then echo "gcs running http://127.0.0.1:${KB_GCS_PORT:-14443}"; else echo "gcs stopped"; fi
}
