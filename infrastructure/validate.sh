#!/usr/bin/env bash
# Offline validation of everything under infrastructure/ and docker-compose.yml.
# No Docker engine, cluster or cloud account is needed; what cannot be checked
# this way is listed in docs/operations.md ("What is validated offline").
# Installs what it needs when missing (promtool from Debian's prometheus
# package; npm packages through npm ci), so running it twice is cheap.
# Exits non-zero on the first failing step.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n== %s\n' "$1"; }
skip() { printf '   SKIPPED: %s\n' "$1"; }

step "tools"
if [ ! -x node_modules/.bin/dclint ] || [ ! -x node_modules/.bin/dockerfile-utils ] || [ ! -x node_modules/.bin/tsx ]; then
  npm ci --no-audit --no-fund
fi
if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d keeps Debian from starting the Prometheus daemon: only promtool is wanted.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 prometheus >/dev/null
    rm -f /usr/sbin/policy-rc.d
  else
    echo "promtool is missing and cannot be installed (needs root and apt-get)" >&2
    exit 1
  fi
fi
echo "   promtool: $(promtool --version 2>&1 | head -1)"

step "docker-compose.yml against the Compose Specification schema (dclint)"
npx --no-install dclint --config infrastructure/dclint.json --max-warnings 0 docker-compose.yml
echo "   ok"

step "Dockerfiles parse and lint (dockerfile-utils)"
for dockerfile in infrastructure/docker/*.Dockerfile; do
  npx --no-install dockerfile-utils lint "$dockerfile"
  echo "   ok $dockerfile"
done

step "Prometheus config, alert rules and their unit tests (promtool)"
# The config names its rule file by its path inside the container; check it against the repository's copy.
sed "s|/etc/prometheus/alerts.yml|$PWD/infrastructure/monitoring/prometheus/alerts.yml|" \
  infrastructure/monitoring/prometheus/prometheus.yml > "$work/prometheus.yml"
promtool check config "$work/prometheus.yml" >/dev/null
promtool check rules infrastructure/monitoring/prometheus/alerts.yml >/dev/null
(cd infrastructure/monitoring/prometheus && promtool test rules alerts.test.yml)

step "Kubernetes overlays render (kubectl kustomize)"
kustomized=()
if command -v kubectl >/dev/null 2>&1 && kubectl version --client 2>/dev/null | grep -Eq 'Kustomize Version: v[5-9]'; then
  for overlay in dev staging production; do
    kubectl kustomize "infrastructure/kubernetes/overlays/$overlay" > "$work/$overlay.yaml"
    echo "   ok $overlay: $(grep -c '^kind:' "$work/$overlay.yaml") objects"
  done
  kustomized=(--kustomized "$work")
else
  skip "kubectl with Kustomize v5 is not installed (Debian's kubernetes-client bundles a far older Kustomize); the base manifests are checked below without rendering the overlays"
fi

step "Terraform formatting (terraform fmt -check)"
if command -v terraform >/dev/null 2>&1; then
  printf '' > "$work/terraform.rc"
  TF_CLI_CONFIG_FILE="$work/terraform.rc" terraform fmt -check -recursive -diff infrastructure/terraform
  echo "   ok"
else
  skip "terraform is not installed (not packaged in Debian); module calls are still checked below"
fi

step "Cross-file checks (infrastructure/checks/validate.ts)"
npx --no-install tsc -p infrastructure/tsconfig.json
npx --no-install tsx infrastructure/checks/validate.ts "${kustomized[@]}" --promql-out "$work/dashboard.rules.json"
promtool check rules "$work/dashboard.rules.json" >/dev/null
echo "   ok dashboard PromQL parses"
# A warning, not a failure: the services' config.ts files change under other hands, and a
# stale table must not block their work; regenerate with `npx tsx scripts/config-reference.ts`.
npx --no-install tsx scripts/config-reference.ts --check 2>&1 | sed 's/^/   /' || true

printf '\ninfrastructure validation passed in %ss\n' "$(( $(date +%s) - started ))"
