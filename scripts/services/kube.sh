# kube: a real Kubernetes control plane for the operator tests, built from the Go module proxy
# (scripts/kube/build.sh) and cached under $CACHE_DIR/kube-<version>/bin. Sourced by services.sh.
#
#   kube  https://127.0.0.1:${KB_KUBE_PORT:-16443}   kube-apiserver v1.34.4 (RBAC, real admission)
#         etcd v3.6.5 on 127.0.0.1:${KB_KUBE_ETCD_PORT:-12379} (peer 12380), kube-controller-manager
#
# There is no kubelet, container runtime or scheduler: test/helpers/kube.ts stands in for the node
# (docs/testing.md). State, logs and pids go under $STATE_DIR/kube:
#
#   admin.kubeconfig   user `kb-admin` in system:masters (a static token from tokens.csv)
#   certs/             the apiserver's self-signed serving certificate (apiserver.crt), the CA of
#                      every kubeconfig; kubelet.crt/.key for the node stand-in's log server
#   sa.key             the ServiceAccount signing key (TokenRequest, the token controller)
#
# kube-controller-manager runs the controllers the tests need (KB_KUBE_CONTROLLERS): Job,
# CronJob, garbage collector, namespace deletion, TTL-after-finished, Deployment/ReplicaSet,
# ServiceAccount (the `default` account of each namespace) and ServiceAccount token secrets.

# shellcheck source=scripts/kube/build.sh
. "$ROOT/scripts/kube/build.sh"

KUBE_DIR="$STATE_DIR/kube"
KUBE_PORT="${KB_KUBE_PORT:-16443}"
KUBE_ETCD_PORT="${KB_KUBE_ETCD_PORT:-12379}"
KUBE_ETCD_PEER_PORT="${KB_KUBE_ETCD_PEER_PORT:-12380}"
KUBE_CONTROLLERS="${KB_KUBE_CONTROLLERS:-job-controller,cronjob-controller,garbage-collector-controller,namespace-controller,ttl-after-finished-controller,deployment-controller,replicaset-controller,serviceaccount-controller,serviceaccount-token-controller}"

# _kube_credentials: the admin token, the ServiceAccount key and the node stand-in's certificate,
# made once per state directory (kept across restarts, so kubeconfigs and tokens stay valid).
_kube_credentials() {
  mkdir -p "$KUBE_DIR/certs"
  chmod 700 "$KUBE_DIR"
  if [ ! -f "$KUBE_DIR/tokens.csv" ]; then
    (umask 077 && echo "$(openssl rand -hex 24),kb-admin,kb-admin,system:masters" >"$KUBE_DIR/tokens.csv")
  fi
  [ -f "$KUBE_DIR/sa.key" ] || (umask 077 && openssl genrsa -out "$KUBE_DIR/sa.key" 2048 2>/dev/null)
  if [ ! -f "$KUBE_DIR/certs/kubelet.crt" ]; then
    (umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=kb-node \
      -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
      -keyout "$KUBE_DIR/certs/kubelet.key" -out "$KUBE_DIR/certs/kubelet.crt" 2>/dev/null)
  fi
}

# _kube_admin_kubeconfig: written once the apiserver generated its serving certificate.
_kube_admin_kubeconfig() {
  local token
  token=$(cut -d, -f1 "$KUBE_DIR/tokens.csv")
  (umask 077 && cat >"$KUBE_DIR/admin.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kb-test
  cluster:
    server: https://127.0.0.1:$KUBE_PORT
    certificate-authority: $KUBE_DIR/certs/apiserver.crt
users:
- name: kb-admin
  user:
    token: $token
contexts:
- name: kb-test
  context:
    cluster: kb-test
    user: kb-admin
    namespace: default
current-context: kb-test
EOF
  )
}

# _kube_get PATH: GET on the apiserver as the admin; prints the body, fails on a non-2xx answer.
_kube_get() {
  curl -sf --max-time 5 --cacert "$KUBE_DIR/certs/apiserver.crt" \
    -H "Authorization: Bearer $(cut -d, -f1 "$KUBE_DIR/tokens.csv")" "https://127.0.0.1:$KUBE_PORT$1"
}

# _kube_wait WHAT SECONDS LOG CMD...: retries CMD until it succeeds.
_kube_wait() {
  local what=$1 secs=$2 logf=$3 deadline=$((SECONDS + $2))
  shift 3
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      log "kube: $what not ready within ${secs}s"
      [ -f "$logf" ] && tail -n 30 "$logf" >&2
      return 1
    fi
    sleep 0.3
  done
}

# kube_start: parallel test files may start the test bed at once; one start runs at a time (the
# lock's descriptor is closed for the servers, so they do not hold it).
kube_start() {
  mkdir -p "$KUBE_DIR"
  (
    flock -w 2700 8 || { log "kube: timed out waiting for another start ($KUBE_DIR/.start.lock)"; exit 1; }
    _kube_start
  ) 8>"$KUBE_DIR/.start.lock"
}

_kube_start() {
  kube_build_etcd
  kube_build_apiserver
  local t0
  t0=$(date +%s.%N)
  mkdir -p "$KUBE_DIR"
  _kube_credentials
  if ! pid_alive "$KUBE_DIR/etcd.pid"; then
    # --unsafe-no-fsync: test data, and fsync on a shared 2-core machine costs seconds per write
    setsid nohup "$KUBE_BIN/etcd" --name=kb --data-dir="$KUBE_DIR/etcd" \
      --listen-client-urls="http://127.0.0.1:$KUBE_ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$KUBE_ETCD_PORT" \
      --listen-peer-urls="http://127.0.0.1:$KUBE_ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$KUBE_ETCD_PEER_PORT" \
      --initial-cluster="kb=http://127.0.0.1:$KUBE_ETCD_PEER_PORT" \
      --unsafe-no-fsync --quota-backend-bytes=2147483648 --log-level=warn \
      >"$KUBE_DIR/etcd.log" 2>&1 </dev/null 8>&- &
    echo $! >"$KUBE_DIR/etcd.pid"
  fi
  wait_port 127.0.0.1 "$KUBE_ETCD_PORT" 60 kube-etcd "$KUBE_DIR/etcd.log"
  if ! pid_alive "$KUBE_DIR/apiserver.pid"; then
    # --endpoint-reconciler-type=none: recent releases refuse a loopback advertise address otherwise.
    # ServiceAccount admission is off: Pods run through the node stand-in, which mounts no
    # automatic token; everything else (NamespaceLifecycle, PodSecurity, quota, ...) is on.
    setsid nohup "$KUBE_BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$KUBE_ETCD_PORT" \
      --bind-address=127.0.0.1 --secure-port="$KUBE_PORT" --advertise-address=127.0.0.1 \
      --endpoint-reconciler-type=none --cert-dir="$KUBE_DIR/certs" \
      --token-auth-file="$KUBE_DIR/tokens.csv" --authorization-mode=RBAC --anonymous-auth=false \
      --service-account-issuer="https://127.0.0.1:$KUBE_PORT" --service-account-key-file="$KUBE_DIR/sa.key" \
      --service-account-signing-key-file="$KUBE_DIR/sa.key" --service-cluster-ip-range=10.0.0.0/24 \
      --disable-admission-plugins=ServiceAccount --allow-privileged=true \
      --kubelet-preferred-address-types=InternalIP --profiling=false \
      >"$KUBE_DIR/apiserver.log" 2>&1 </dev/null 8>&- &
    echo $! >"$KUBE_DIR/apiserver.pid"
  fi
  _kube_wait apiserver 120 "$KUBE_DIR/apiserver.log" _kube_get /readyz
  _kube_admin_kubeconfig
  if ! pid_alive "$KUBE_DIR/controller-manager.pid"; then
    setsid nohup "$KUBE_BIN/kube-controller-manager" --kubeconfig="$KUBE_DIR/admin.kubeconfig" \
      --controllers="$KUBE_CONTROLLERS" --service-account-private-key-file="$KUBE_DIR/sa.key" \
      --root-ca-file="$KUBE_DIR/certs/apiserver.crt" --leader-elect=false \
      --bind-address=127.0.0.1 --secure-port=0 --profiling=false \
      >"$KUBE_DIR/controller-manager.log" 2>&1 </dev/null 8>&- &
    echo $! >"$KUBE_DIR/controller-manager.pid"
  fi
  # the ServiceAccount controller's first act: proves the controllers run and reach the apiserver
  _kube_wait controller-manager 120 "$KUBE_DIR/controller-manager.log" _kube_get /api/v1/namespaces/default/serviceaccounts/default
  log "kube (kube-apiserver $KUBE_VERSION, etcd $KUBE_ETCD_VERSION) ready in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}")s"
  echo "kube https://127.0.0.1:$KUBE_PORT kubeconfig $KUBE_DIR/admin.kubeconfig"
}

kube_stop() {
  stop_pidfile "$KUBE_DIR/controller-manager.pid" kube-controller-manager
  stop_pidfile "$KUBE_DIR/apiserver.pid" kube-apiserver
  stop_pidfile "$KUBE_DIR/etcd.pid" kube-etcd
}

kube_status() {
  if pid_alive "$KUBE_DIR/apiserver.pid" && pid_alive "$KUBE_DIR/etcd.pid" && pid_alive "$KUBE_DIR/controller-manager.pid"; then
    echo "kube running https://127.0.0.1:$KUBE_PORT"
  elif pid_alive "$KUBE_DIR/apiserver.pid" || pid_alive "$KUBE_DIR/etcd.pid" || pid_alive "$KUBE_DIR/controller-manager.pid"; then
    # partly up: reported as running so that the test command's stop covers it
    echo "kube running (partly) https://127.0.0.1:$KUBE_PORT"
  else
    echo "kube stopped"
  fi
}

# kube_helm ARGS...: runs the cached helm (built on first use) with the test bed's admin kubeconfig.
kube_helm() {
  kube_build_helm
  KUBECONFIG="$KUBE_DIR/admin.kubeconfig" HELM_CACHE_HOME="$KUBE_DIR/helm/cache" \
    HELM_CONFIG_HOME="$KUBE_DIR/helm/config" HELM_DATA_HOME="$KUBE_DIR/helm/data" "$KUBE_BIN/helm" "$@"
}
