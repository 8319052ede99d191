# syntax=docker/dockerfile:1.7
# Confab web app (Next.js). Build from the repository root:
#   docker build -f infrastructure/docker/client.Dockerfile -t confab/client .
# NEXT_OUTPUT=standalone makes client/next.config.ts set `output: 'standalone'`:
# Next traces exactly the files the server needs into .next/standalone, so the
# runtime image carries no node_modules tree of its own and no build tooling.

ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
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
RUN npm ci --no-audit --no-fund --include-workspace-root --workspace protocol --workspace client
COPY tsconfig.base.json ./
COPY protocol protocol
COPY client client
ENV NEXT_TELEMETRY_DISABLED=1 \
    NEXT_OUTPUT=standalone
RUN npm run build -w client

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    NEXT_TELEMETRY_DISABLED=1 \
    PORT=3000 \
    HOSTNAME=0.0.0.0
WORKDIR /app
# The standalone tree mirrors the monorepo: the server is client/server.js.
COPY --from=build --chown=node:node /app/client/.next/standalone ./
# Static assets and public/ (the service worker, icons, manifest) are not traced; they go next to the server.
COPY --from=build --chown=node:node /app/client/.next/static client/.next/static
COPY --from=build --chown=node:node /app/client/public client/public
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "client/server.js"]
