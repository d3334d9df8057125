# The Lockstep image: one image for every process. The container's arguments are the `lockstep`
# subcommand: `ingest`, `reconciler`, `egress --platform <p>`, `prepare`, `admin`, and the operator
# commands (`status`, `conflicts`, `dlq`, `replay`, …). The telemetry preload is part of the
# entrypoint, so every process is traced when lockstep.yaml (or LOCKSTEP_OTLP_HTTP_ENDPOINT) says where.
#
#   docker build -t lockstep .                        # or: podman build --format docker -t lockstep .
#   docker run --rm -v $PWD/lockstep.yaml:/etc/lockstep/lockstep.yaml:ro lockstep prepare
#   docker run -d -p 7070:7070 -v $PWD/lockstep.yaml:/etc/lockstep/lockstep.yaml:ro lockstep ingest
#
# Lockstep runs its TypeScript directly on Node 24 (type stripping): there is no compile step,
# the image holds the sources and the production dependencies only.
#
# BASE is any image with Node 24 at /usr/local/bin/node and npm in /usr/local/lib/node_modules/npm
# (the official image's layout). Every RUN is in exec form and runs node, so a base needs no
# shell: the test (test/deploy/image.test.ts) builds on a base it makes from the checkout's
# pinned Node binary, because images cannot be pulled on the machines Lockstep is developed on.
ARG BASE=docker.io/library/node:24.21.0-bookworm-slim

# --- production dependencies, exactly as package-lock.json pins them (npm ci --omit=dev), with the
# kafkajs patch from patches/ applied. No install scripts run (the only production ones are the
# optional local-stack Postgres, which is omitted, and protobufjs's version notice).
FROM ${BASE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches/ ./patches/
COPY deploy/image/install-deps.mjs ./deploy/image/
# NPM_OFFLINE=1 with NPM_CACHE_DIR: install from a mounted npm cache only (see install-deps.mjs).
ARG NPM_OFFLINE=
ARG NPM_CACHE_DIR=
RUN --mount=type=cache,id=lockstep-npm,target=/root/.npm ["node", "deploy/image/install-deps.mjs"]

# --- the runtime: the dependencies above plus the sources (selected by .dockerignore: no tests,
# docs or benchmarks), owned by root and read-only to the service user. It builds on the deps
# stage rather than copying node_modules out of it: the deps stage holds nothing that must not
# ship (npm's cache is a cache mount, not a layer), and with podman a `COPY --from` of
# node_modules re-hashed its ~57,000 files on every build, cached or not (100 s of a warm build
# on the loaded 2-core development machine). What does not change with the sources comes first,
# so a rebuild after a code change redoes the last steps only.
FROM deps AS runtime
COPY deploy/image/add-user.mjs /usr/local/share/lockstep/add-user.mjs
# uid/gid 10001, as the Helm chart's securityContext runs it.
RUN ["node", "/usr/local/share/lockstep/add-user.mjs", "lockstep", "10001"]
ENV NODE_ENV=production \
    LOCKSTEP_CONFIG=/etc/lockstep/lockstep.yaml \
    LOCKSTEP_HTTP_HOST=0.0.0.0
# ingest 7070, reconciler 7071, egress 7072 + the platform's index (linear 0, jira 1, asana 2,
# slack 3), admin 7080 — the defaults; lockstep.yaml may move them.
EXPOSE 7070 7071 7072 7073 7074 7075 7080
# Asks the service's own /readyz, on whatever port the process listens on (found in /proc, so it
# follows lockstep.yaml). A one-shot command (prepare, status, …) listens on nothing: unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "/app/deploy/image/healthcheck.mjs"]
ENTRYPOINT ["node", "--import", "/app/services/core/telemetry/preload.ts", "/app/bin/lockstep.mjs"]
CMD ["--help"]
USER 10001:10001
COPY . .
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="Lockstep" \
      org.opencontainers.image.description="Self-hosted two-way sync between Linear, Jira Cloud, Asana and Slack, built on Kafka" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.documentation="README.md, section Deploying"
