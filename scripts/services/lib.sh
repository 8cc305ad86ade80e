# Helpers shared by the service scripts. Sourced, not run.

log() { printf '[services] %s\n' "$*" >&2; }

# pid_alive FILE: true when FILE holds the pid of a running process.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_port HOST PORT SECONDS NAME LOG: waits until a TCP port accepts connections.
wait_port() {
  local host=$1 port=$2 secs=$3 name=$4 logf=${5:-}
  local deadline=$((SECONDS + secs))
  while ! (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      log "$name did not answer on $host:$port within ${secs}s"
      [ -n "$logf" ] && [ -f "$logf" ] && tail -n 30 "$logf" >&2
      return 1
    fi
    sleep 0.3
  done
}

# stop_pidfile FILE NAME: TERM, then KILL after 20 s.
stop_pidfile() {
  local f=$1 name=$2
  if pid_alive "$f"; then
    local pid
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    log "$name stopped"
  fi
  rm -f "$f"
}

# http_ready URL SECONDS NAME LOG: waits until URL answers any HTTP status.
http_ready() {
  local url=$1 secs=$2 name=$3 logf=${4:-}
  local deadline=$((SECONDS + secs))
  until curl -s -o /dev/null --max-time 2 "$url"; do
    if [ $SECONDS -ge $deadline ]; then
      log "$name did not answer at $url within ${secs}s"
      [ -n "$logf" ] && [ -f "$logf" ] && tail -n 30 "$logf" >&2
      return 1
    fi
    sleep 0.2
  done
}
