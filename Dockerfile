# One image for every role of the credits ledger: ROLE=all (the default: API
# and projector in one process), api, or projector. Node 20, as package.json's
# engines and the tests; Node 20 reached its end of life in April 2026, so moving
# to 22 or 24 is due: engines and the test runs first, then the two FROM lines.
#
#   docker build -t credits-ledger .
#   docker run -p 3000:3000 -v credits-data:/app/data credits-ledger     # embedded store (PGlite)
#   docker compose up --build                                           # the whole system: see docker-compose.yml

# Build: every dependency (swc is a dev dependency), then `npm run build` into dist/.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY .swcrc ./
COPY apps ./apps
COPY libs ./libs
COPY projections ./projections
RUN npm run build

# Runtime: production dependencies only, the compiled code and the configuration files.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config
# DATA_DIR (./data) holds PGlite's files in the embedded mode: the only place the process writes.
RUN mkdir -p /app/data && chown node:node /app/data
# The official image's unprivileged user (uid 1000).
USER node
ENV PORT=3000
EXPOSE 3000
# Readiness, not liveness: the store answers and no projection run by this process is stopped or too far behind.
# The image has no curl: Node's own fetch asks.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/ready').then((response) => process.exit(response.ok ? 0 : 1), () => process.exit(1))"]
# What `npm start` runs, without its `prestart` build: the image is built already.
CMD ["node", "--enable-source-maps", "dist/apps/main.js"]
