# syntax=docker/dockerfile:1.7
# Confab sync-server. Build from the repository root:
#   docker build -f infrastructure/docker/sync-server.Dockerfile -t confab/sync-server .
# build:   installs the workspace and bundles src/main.ts together with the
#          workspace packages it imports into dist/main.mjs (scripts/bundle.ts);
# deps:    installs only the production dependencies of those packages;
# runtime: node:24-slim with those, the bundle and the unprivileged user.
# No tsx at run time: plain `node dist/main.mjs` starts faster and ships no compiler.

ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS base
# package.json's allowScripts lets better-sqlite3's install script run, which compiles it with
# node-gyp against this Node: hence the toolchain (@node-rs/argon2 ships prebuilt binaries).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Every workspace manifest, because npm ci checks the whole lockfile; they
# change rarely, so the dependency layers stay cached.
COPY package.json package-lock.json ./
COPY protocol/package.json protocol/
COPY platform/package.json platform/
COPY auth-server/package.json auth-server/
COPY sync-server/package.json sync-server/
COPY notifier/package.json notifier/
COPY client/package.json client/
COPY all-in-one/package.json all-in-one/
COPY e2e/package.json e2e/
COPY bench/package.json bench/

FROM base AS build
RUN npm ci --no-audit --no-fund --include-workspace-root \
    --workspace protocol --workspace platform --workspace sync-server
COPY tsconfig.base.json ./
COPY scripts/bundle.ts scripts/
COPY protocol/src protocol/src
COPY platform/src platform/src
COPY sync-server/src sync-server/src
RUN npx tsx scripts/bundle.ts sync-server

FROM base AS deps
# Production dependencies of the service and of the workspace packages it bundles, nothing else.
RUN npm ci --omit=dev --no-audit --no-fund \
    --workspace protocol --workspace platform --workspace sync-server \
 && npm cache clean --force \
 && mkdir -p sync-server/node_modules

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=4100 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules node_modules
# Where the service pins a version that differs from the hoisted one, npm nests it here.
COPY --from=deps --chown=node:node /app/sync-server/node_modules sync-server/node_modules
COPY --from=build --chown=node:node /app/sync-server/package.json sync-server/package.json
COPY --from=build --chown=node:node /app/sync-server/dist sync-server/dist
RUN mkdir -p /data && chown node:node /data
# The node image's unprivileged user (uid 1000); nothing in the image runs as root.
USER node
VOLUME ["/data"]
EXPOSE 4100
# node:24-slim has no curl; Node's own fetch does the probe.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||4100)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
WORKDIR /app/sync-server
# Exec form: node is PID 1 and gets SIGTERM itself, so the service drains before it exits.
# No --enable-source-maps: Node would parse the bundle's whole source map (third-party code
# included) at start, about 36 MB of memory for the life of the process. The bundle is not
# minified, so a stack trace names the functions and points at readable lines of dist/main.mjs;
# set NODE_OPTIONS=--enable-source-maps to see TypeScript positions while debugging.
CMD ["node", "dist/main.mjs"]
