#!/usr/bin/env bash
# Renders the Helm chart (deploy/helm/kafka-backup, default values) into the plain manifests of
# deploy/manifests/, for installs without Helm:
#
#   scripts/kube/render-manifests.sh           writes deploy/manifests/*.yaml
#   scripts/kube/render-manifests.sh --check   fails when they differ from what the chart renders
#                                              (test/integration/operator/chart.test.ts runs it)
#
#   operator.yaml  the kafka-backup namespace, ServiceAccount, RBAC (every namespace), metrics
#                  Service and the operator Deployment
#
# The CustomResourceDefinitions are not copied: they are deploy/crds (the chart's crds/ links there).
#   kubectl apply --server-side -f deploy/crds/ && kubectl apply --server-side -f deploy/manifests/
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CHART="$ROOT/deploy/helm/kafka-backup"
OUT="$ROOT/deploy/manifests"
NS=kafka-backup
helm() { bash "$ROOT/scripts/kube/helm.sh" "$@"; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
header() {
  echo "# Rendered from deploy/helm/kafka-backup (default values) by scripts/kube/render-manifests.sh:"
  echo "# do not edit; change the chart and run the script again."
}
{
  header
  echo "# Apply the CRDs first: kubectl apply --server-side -f deploy/crds/ && kubectl apply --server-side -f deploy/manifests/"
  echo "---"
  echo "apiVersion: v1"
  echo "kind: Namespace"
  echo "metadata:"
  echo "  name: $NS"
  helm template kafka-backup "$CHART" --namespace "$NS" --skip-crds
} >"$tmp/operator.yaml"

if [ "${1:-}" = --check ]; then
  if ! diff -u "$OUT/operator.yaml" "$tmp/operator.yaml" >"$tmp/diff" 2>&1; then
    echo "deploy/manifests/operator.yaml is not what the chart renders; run scripts/kube/render-manifests.sh" >&2
    head -n 40 "$tmp/diff" >&2
    exit 1
  fi
  echo "deploy/manifests/operator.yaml is up to date" >&2
  exit 0
fi
mkdir -p "$OUT"
cp "$tmp/operator.yaml" "$OUT/"
echo "wrote deploy/manifests/operator.yaml" >&2
