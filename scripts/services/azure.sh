# Azure Blob: Azurite (npm devDependency, node_modules/.bin/azurite-blob), run with the project's
# pinned node. Sourced by services.sh.
#
#   azure  http://127.0.0.1:${KB_AZURE_PORT:-10000}/devstoreaccount1
#          account devstoreaccount1, the well-known Azurite development key.
#
# Nothing to download: azurite comes with `npm ci`. Data lives in $STATE_DIR/azure/data.


azure_start() {
  local port="${KB_AZURE_PORT:-10000}" dir="$STATE_DIR/azure"
  local t0
  t0=$(date +%s.%N)
  mkdir -p "$dir/data"
  if ! pid_alive "$dir/pid"; then
    if [ ! -x "$ROOT/node_modules/.bin/azurite-blob" ]; then
      log "node_modules/.bin/azurite-blob is missing: run 'npm ci' first"
      return 1
    fi
    setsid nohup "$ROOT/node_modules/.bin/node" "$ROOT/node_modules/.bin/azurite-blob" \
      --blobHost 127.0.0.1 --blobPort "$port" --skipApiVersionCheck --disableTelemetry \
      --location "$dir/data" --loose >"$dir/server.log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
  fi
  http_ready "http://127.0.0.1:$port/devstoreaccount1?comp=list" 60 azure "$dir/server.log"
  log "azure (azurite $(cd "$ROOT" && node_modules/.bin/node -p 'require("azurite/package.json").version' 2>/dev/null)) ready in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}")s"
  echo "azure http://127.0.0.1:$port/devstoreaccount1"
}

azure_stop() { stop_pidfile "$STATE_DIR/azure/pid" azure; }

azure_status() {
  if pid_alive "$STATE_DIR/azure/pid"; then echo "azure running http://127.0.0.1:${KB_AZURE_PORT:-10000}/devstoreaccount1"; else echo "azure stopped"; fi
}
