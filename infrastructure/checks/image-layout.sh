#!/usr/bin/env bash
# The runtime stage of infrastructure/docker/<service>.Dockerfile, without
# Docker: in a scratch directory outside the repository, `npm ci --omit=dev`
# for the service's workspaces only (the deps stage), the bundle from
# scripts/bundle.ts (the build stage), then plain `node dist/main.mjs` until
# /readyz answers 200. Catches a dependency the bundle needs but the
# production install leaves out. Needs the npm registry, PostgreSQL, NATS and
# Redis on 127.0.0.1; about 20 s per service. Not part of validate.sh (CI
# would download the dependencies again); run it before publishing images:
#   infrastructure/checks/image-layout.sh [auth-server sync-server notifier]
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
services=("${@:-auth-server sync-server notifier}")
read -r -a services <<< "${services[*]}"
scratch=$(mktemp -d)
suffix="$$_$(date +%s)"
database="confab_t_image_${suffix}"
node_bin="$repo/node_modules/.bin/node"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # The JetStream stream the services created; the script must sit in the repository to resolve @nats-io.
  local tool="$repo/node_modules/.cache/confab-image-layout"
  mkdir -p "$tool"
  printf "import { connect } from '@nats-io/transport-node';\nimport { jetstreamManager } from '@nats-io/jetstream';\nconst nc = await connect({ servers: 'nats://127.0.0.1:4222' });\nawait (await jetstreamManager(nc)).streams.delete('%s').catch(() => false);\nawait nc.close();\n" \
    "CONFAB_T_IMAGE_${suffix}" > "$tool/cleanup.mts"
  "$repo/node_modules/.bin/tsx" "$tool/cleanup.mts" >/dev/null 2>&1 || true
  rm -rf "$tool"
  redis-cli --scan --pattern "confab_t_image_${suffix}*" 2>/dev/null | xargs -r redis-cli del >/dev/null 2>&1 || true
  psql -U postgres -h 127.0.0.1 -d postgres -qc "drop database if exists $database with (force)" >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT

manifests=(package.json package-lock.json protocol/package.json platform/package.json auth-server/package.json
  sync-server/package.json notifier/package.json client/package.json all-in-one/package.json e2e/package.json bench/package.json)
psql -U postgres -h 127.0.0.1 -d postgres -qc "create database $database"
auth_port=$((20000 + RANDOM % 10000))

for service in "${services[@]}"; do
  app="$scratch/$service/app"
  for file in "${manifests[@]}"; do mkdir -p "$app/$(dirname "$file")" && cp "$file" "$app/$file"; done
  (cd "$app" && npm ci --omit=dev --no-audit --no-fund --workspace protocol --workspace platform --workspace "$service" >/dev/null 2>&1)
  printf "import { bundleService } from '%s/scripts/bundle';\nawait bundleService('%s', '%s/%s/dist/main.mjs');\n" \
    "$repo" "$service" "$app" "$service" > "$scratch/bundle-$service.mts"
  npx --no-install tsx "$scratch/bundle-$service.mts"
  port=$auth_port
  [ "$service" = auth-server ] || port=$((auth_port + 1 + RANDOM % 1000))
  (cd "$app/$service" && exec env -i PATH="$PATH" PORT="$port" DATA_DIR="$scratch/$service/data" \
    DATABASE_URL="postgres://postgres@127.0.0.1:5432/$database" NATS_URL=nats://127.0.0.1:4222 \
    NATS_STREAM="CONFAB_T_IMAGE_${suffix}" NATS_SUBJECT_PREFIX="timage${suffix//_/}" \
    REDIS_URL=redis://127.0.0.1:6379 REDIS_PREFIX="confab_t_image_${suffix}" SYNC_INSTANCE_ID=image \
    AUTH_URL="http://127.0.0.1:$auth_port" INTERNAL_API_TOKEN="image-layout-check-$suffix" LOG_LEVEL=warn \
    "$node_bin" dist/main.mjs > "$scratch/$service.log" 2>&1) &
  pids+=($!)
  ready=""
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ready=yes; break; fi
    sleep 0.2
  done
  if [ -z "$ready" ]; then
    echo "FAIL $service: no 200 on /readyz from the production layout" >&2
    tail -20 "$scratch/$service.log" >&2
    exit 1
  fi
  echo "ok   $service starts from npm ci --omit=dev + its bundle ($(ls "$app/node_modules" | wc -l) top-level packages)"
done
