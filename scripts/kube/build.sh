#!/usr/bin/env bash
# Builds the Kubernetes test bed's binaries from the Go module proxy with the installed Go, once,
# into $KUBE_BIN (default $KB_CACHE_DIR/kube-<version>/bin). Sourced by scripts/services/kube.sh,
# or run on its own:
#
#   scripts/kube/build.sh [apiserver|etcd|helm|all]     (all: the three)
#
#   kube-apiserver, kube-controller-manager  k8s.io/kubernetes $KUBE_VERSION (default v1.34.4)
#   etcd                                     go.etcd.io/etcd/server/v3 $KUBE_ETCD_VERSION (v3.6.5)
#   helm                                     helm.sh/helm/v3 $KUBE_HELM_VERSION (v3.19.0)
#
# Why wrapper modules: k8s.io/kubernetes requires its staging modules (k8s.io/api, apimachinery,
# client-go, ...) at v0.0.0 with `replace => ./staging/...`, and replace lines only count in the
# main module, so `go install k8s.io/kubernetes/cmd/...@v1.34.4` cannot work. A small main module
# of our own replaces each staging module with its published v0.34.4 (k8s.io/X v0.N.M is cut from
# Kubernetes v1.N.M). etcd and helm get a wrapper each, so their dependencies never move the
# apiserver's. Nothing here is committed or vendored: the wrappers live in the cache.
#
# Each binary is built only when missing; a lock (flock) lets parallel test files share one build.
# The Go module and build caches go under $KB_CACHE_DIR/go (GOMODCACHE, GOCACHE) unless set; the
# module cache is left writable (-modcacherw) so `rm -rf .cache` works. Measured (docs/testing.md):
# 1.0 GB of modules in 27 s; the Kubernetes pair 9 min of CPU (37 min wall at load 20 on 2 cores).

KUBE_VERSION="${KB_KUBE_VERSION:-v1.34.4}"
KUBE_ETCD_VERSION="${KB_KUBE_ETCD_VERSION:-v3.6.5}"
KUBE_HELM_VERSION="${KB_KUBE_HELM_VERSION:-v3.19.0}"
KUBE_CACHE="${KUBE_CACHE:-${CACHE_DIR:-${KB_CACHE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.cache}}/kube-$KUBE_VERSION}"
KUBE_BIN="$KUBE_CACHE/bin"

_kube_log() { printf '[kube-build] %s\n' "$*" >&2; }

# _kube_go ARGS...: the go command with the test bed's caches and a static, reproducible build.
_kube_go() {
  local base
  base=$(dirname "$KUBE_CACHE")
  GOMODCACHE="${GOMODCACHE:-$base/go/mod}" GOCACHE="${GOCACHE:-$base/go/build}" GOFLAGS="-buildvcs=false -modcacherw" \
    GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off go "$@"
}

# _kube_locked NAME FN: runs FN under an exclusive lock, so two starts never build at once.
_kube_locked() {
  mkdir -p "$KUBE_CACHE"
  (
    flock -w 1800 9 || { _kube_log "timed out waiting for another build ($KUBE_CACHE/.build.lock)"; exit 1; }
    "$2"
  ) 9>"$KUBE_CACHE/.build-$1.lock"
}

_kube_build_apiserver() {
  if [ -x "$KUBE_BIN/kube-apiserver" ] && [ -x "$KUBE_BIN/kube-controller-manager" ]; then return 0; fi
  local t0=$SECONDS src="$KUBE_CACHE/src/kubernetes" staging minor=${KUBE_VERSION#v1.}
  minor=${minor%%.*}
  staging="v0.${KUBE_VERSION#v1.}"
  _kube_log "building kube-apiserver and kube-controller-manager $KUBE_VERSION with $(go version | cut -d' ' -f3) (once; ~1.3 GB of modules, minutes)"
  rm -rf "$src" && mkdir -p "$src" "$KUBE_BIN"
  (
    set -euo pipefail
    cd "$src"
    _kube_go mod init local.test/kubebins >/dev/null 2>&1
    local gomod m n=0
    gomod=$(_kube_go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
    [ -f "$gomod" ] || { _kube_log "no go.mod for k8s.io/kubernetes@$KUBE_VERSION"; exit 1; }
    for m in $(sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => \./staging/.*#\1#p' "$gomod"); do
      _kube_go mod edit "-replace=$m=$m@$staging"
      n=$((n + 1))
    done
    _kube_log "  $n staging modules replaced by their published $staging"
    _kube_go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" "k8s.io/kubernetes/cmd/kube-controller-manager@$KUBE_VERSION" >&2
    _kube_log "  modules ready after $((SECONDS - t0))s"
    local v=k8s.io/component-base/version
    _kube_go build -trimpath -o "$KUBE_BIN/.tmp/" \
      -ldflags "-s -w -X $v.gitVersion=$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager >&2
    mv "$KUBE_BIN/.tmp/kube-apiserver" "$KUBE_BIN/.tmp/kube-controller-manager" "$KUBE_BIN/"
    rmdir "$KUBE_BIN/.tmp"
  ) || return 1
  _kube_log "kube-apiserver and kube-controller-manager $KUBE_VERSION built in $((SECONDS - t0))s"
}

# _kube_build_simple NAME MODULE@VERSION PACKAGE OUT [LDFLAGS_FN]: one binary from a wrapper module
# of its own. LDFLAGS_FN, run in the wrapper after `go get`, prints extra -ldflags.
_kube_build_simple() {
  local name=$1 modver=$2 pkg=$3 out=$4 flags_fn=${5:-} t0=$SECONDS src="$KUBE_CACHE/src/$1"
  if [ -x "$KUBE_BIN/$out" ]; then return 0; fi
  _kube_log "building $out from $modver with $(go version | cut -d' ' -f3) (once)"
  rm -rf "$src" && mkdir -p "$src" "$KUBE_BIN"
  (
    set -euo pipefail
    cd "$src"
    _kube_go mod init "local.test/$name" >/dev/null 2>&1
    _kube_go get -tool "$pkg@${modver#*@}" >&2
    local extra=""
    [ -n "$flags_fn" ] && extra=$("$flags_fn")
    _kube_go build -trimpath -ldflags "-s -w $extra" -o "$KUBE_BIN/.$out.tmp" "$pkg" >&2
    mv "$KUBE_BIN/.$out.tmp" "$KUBE_BIN/$out"
  ) || return 1
  _kube_log "$out built in $((SECONDS - t0))s"
}

_kube_build_etcd() {
  _kube_build_simple etcd "go.etcd.io/etcd/server/v3@$KUBE_ETCD_VERSION" go.etcd.io/etcd/server/v3 etcd
}

# What helm's Makefile sets: its version, and the Kubernetes version of its client-go as the one
# `helm template` and `helm lint` assume (else v1.20, and a chart's kubeVersion check fails).
_kube_helm_ldflags() {
  local client minor h=helm.sh/helm/v3
  client=$(_kube_go list -m -f '{{.Version}}' k8s.io/client-go)
  minor=${client#v0.}
  minor=${minor%%.*}
  echo "-X $h/internal/version.version=$KUBE_HELM_VERSION -X $h/internal/version.gitTreeState=clean" \
    "-X $h/pkg/chartutil.k8sVersionMajor=1 -X $h/pkg/chartutil.k8sVersionMinor=$minor" \
    "-X $h/pkg/lint/rules.k8sVersionMajor=1 -X $h/pkg/lint/rules.k8sVersionMinor=$minor"
}

_kube_build_helm() {
  _kube_build_simple helm "helm.sh/helm/v3@$KUBE_HELM_VERSION" helm.sh/helm/v3/cmd/helm helm _kube_helm_ldflags
}

kube_build_apiserver() { _kube_locked apiserver _kube_build_apiserver; }
kube_build_etcd() { _kube_locked etcd _kube_build_etcd; }
kube_build_helm() { _kube_locked helm _kube_build_helm; }

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-all}" in
    apiserver) kube_build_apiserver ;;
    etcd) kube_build_etcd ;;
    helm) kube_build_helm ;;
    all) kube_build_etcd && kube_build_apiserver && kube_build_helm ;;
    *) echo "usage: scripts/kube/build.sh [apiserver|etcd|helm|all]" >&2; exit 2 ;;
  esac
  echo "$KUBE_BIN"
fi
