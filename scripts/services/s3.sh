# S3: moto's standalone server from PyPI, in a venv under $CACHE_DIR/moto-venv. Sourced by services.sh.
#
#   s3   http://127.0.0.1:${KB_S3_PORT:-19000}  (any access key / secret is accepted; region us-east-1)
#
# The version is pinned in scripts/services/requirements-s3.txt; the venv is rebuilt when that
# file changes (its hash is kept in the venv), so a second start only launches the server.

S3_VENV="$CACHE_DIR/moto-venv"
S3_REQS="$ROOT/scripts/services/requirements-s3.txt"

s3_install() {
  local want
  want=$(sha256sum "$S3_REQS" | cut -d' ' -f1)
  if [ -x "$S3_VENV/bin/moto_server" ] && [ "$(cat "$S3_VENV/.requirements-sha256" 2>/dev/null)" = "$want" ]; then return 0; fi
  log "installing moto server into $S3_VENV (pinned in $S3_REQS)"
  rm -rf "$S3_VENV"
  python3 -m venv "$S3_VENV" >&2
  "$S3_VENV/bin/pip" install -q --disable-pip-version-check -r "$S3_REQS" >&2
  echo "$want" >"$S3_VENV/.requirements-sha256"
}


s3_start() {
  local port="${KB_S3_PORT:-19000}" dir="$STATE_DIR/s3"
  local t0
  t0=$(date +%s.%N)
  mkdir -p "$dir"
  if ! pid_alive "$dir/pid"; then
    s3_install
    setsid nohup "$S3_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$dir/server.log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
  fi
  http_ready "http://127.0.0.1:$port/" 60 s3 "$dir/server.log"
  log "s3 (moto $("$S3_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null)) ready in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}")s"
  echo "s3 http://127.0.0.1:$port"
}

s3_stop() { stop_pidfile "$STATE_DIR/s3/pid" s3; }

s3_status() {
  if pid_alive "$STATE_DIR/s3/pid"; then echo "s3 running http://127.0.0.1:${KB_S3_PORT:-19000}"; else echo "s3 stopped"; fi
}
