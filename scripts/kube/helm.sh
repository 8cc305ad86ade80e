#!/usr/bin/env bash
# Runs helm v3, built once from the Go module proxy and cached with the test bed's binaries
# (scripts/kube/build.sh), with the test bed's admin kubeconfig:
#
#   scripts/kube/helm.sh template kafka-backup deploy/helm/kafka-backup --include-crds
#   scripts/kube/helm.sh lint deploy/helm/kafka-backup
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export ROOT
export STATE_DIR="${KB_STATE_DIR:-$ROOT/.services}"
export CACHE_DIR="${KB_CACHE_DIR:-$ROOT/.cache}"
# shellcheck source=scripts/services/lib.sh
. "$ROOT/scripts/services/lib.sh"
# shellcheck source=scripts/services/kube.sh
. "$ROOT/scripts/services/kube.sh"
kube_helm "$@"
