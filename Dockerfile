# syntax=docker/dockerfile:1
# One image for both roles; the deployment sets ROLE (registry | node), see DESIGN.md §1.
# Debian (glibc), not alpine: lmdb loads its prebuilt linux-x64 glibc binary from @lmdb/lmdb-linux-x64.

# ---- build: all deps, compile TypeScript to dist/, bundle the server into dist/main.js (scripts/bundle.mjs) ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
COPY scripts/bundle.mjs ./scripts/bundle.mjs
RUN npm run build

# ---- runtime: production deps only, non-root ----
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    DATA_DIR=/data
WORKDIR /app
RUN groupadd --system --gid 10001 shoal \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin shoal \
 && mkdir -p /data \
 && chown 10001:10001 /data
COPY package.json package-lock.json ./
RUN npm ci --omit=dev \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
# Numeric user so that Kubernetes can verify runAsNonRoot without resolving a name.
USER 10001:10001
VOLUME /data
# 3000 = registry, 4000 = node (PORT defaults per role).
EXPOSE 3000 4000 9000
# node runs as PID 1, so SIGTERM reaches the app only through its own handler (Nest enableShutdownHooks);
# a node needs it to stop cleanly (finish requests, flush, tell the registry it is stopping — not leaving).
# The flags of src/tools/server-flags.ts (V8 sizes its heap at start-up, so the app cannot set them itself), as
# NODE_OPTIONS so that a deployment can set its own (e.g. a larger heap limit) without changing the command.
ENV NODE_OPTIONS="--max-semi-space-size=4 --max-old-space-size=512"
CMD ["node", "dist/main.js"]
