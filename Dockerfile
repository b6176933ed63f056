# Event Horizon images, one file, three targets:
#
#   docker build --target api     -t event-horizon/api .      eh-api (REST + WebSocket, port 8080)
#   docker build --target worker  -t event-horizon/worker .   eh-worker (supervisor + pre-forked workers)
#   docker build --target migrate -t event-horizon/migrate .  the api image running `eh-api migrate` once
#                                                              (and, in compose's init step, eh-admin)
#
# docker-compose.yml builds all three. The build stage runs the project's own
# steps (scripts/deps.sh with EH_DEPS=build, as `make deps` does, then `make`),
# so the image is built exactly as a developer's machine builds it; the
# runtime stages hold the binary, the migrations and Debian's runtime
# libraries, and run as a user without privileges. No secret is baked in:
# every setting comes from EH_* variables at run time (see .env.example).

# --- build -------------------------------------------------------------------
FROM debian:bookworm AS build
WORKDIR /src
# The dependency layer depends on these files only, so a source change
# rebuilds from `make` on and the apt step stays cached.
COPY scripts/deps.sh scripts/lib.sh scripts/
# What `make deps` runs (make itself is not in the base image yet).
# EH_DEPS=build: only what compiling bin/eh-api and bin/eh-worker needs (no
# local services, no npm, no test tools).
RUN EH_DEPS=build scripts/deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN make -j"$(nproc)" && strip --strip-unneeded bin/eh-api bin/eh-worker bin/eh-admin

# --- Swagger UI assets ---------------------------------------------------------
# /docs serves the swagger-ui-dist package of package-lock.json (exact version
# and integrity hash); only its folder reaches the api image. No CDN at run time.
FROM debian:bookworm AS docs
WORKDIR /src
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates nodejs npm \
    && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# A host behind a TLS-inspecting proxy passes its CA bundle as the build
# secret npm_ca (scripts/compose-test.sh does); without it npm uses the image's CAs.
RUN --mount=type=secret,id=npm_ca \
    if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi \
    && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error \
    && test -f node_modules/swagger-ui-dist/swagger-ui-bundle.js

# --- runtime base ------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# The libraries both binaries link (common/: libpq, librabbitmq, libs3 and
# the libcurl-gnutls it uses, which common/s3.c calls too, jansson);
# ca-certificates for S3 over HTTPS (EH_S3_HTTPS=1).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libjansson4 libpq5 librabbitmq4 libs3-2 \
       libcurl3-gnutls \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin eh \
    && mkdir -p /app /var/spool/event-horizon \
    && chown eh:eh /var/spool/event-horizon
WORKDIR /app
ENV EH_SPOOL_DIR=/var/spool/event-horizon

# --- eh-api ------------------------------------------------------------------
FROM runtime AS api
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmicrohttpd12 libwebsockets17 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/bin/eh-api /usr/local/bin/eh-api
# eh-admin (tenants and keys on the database): the compose init step runs it from the migrate image.
COPY --from=build /src/bin/eh-admin /usr/local/bin/eh-admin
# `eh-api migrate` looks for the SQL files in ./migrations (WORKDIR /app).
COPY migrations/ /app/migrations/
# Swagger UI for /docs (EH_SWAGGER_UI_DIR); the OpenAPI document itself is inside the binary.
COPY --from=docs /src/node_modules/swagger-ui-dist/ /usr/share/event-horizon/swagger-ui/
ENV EH_SWAGGER_UI_DIR=/usr/share/event-horizon/swagger-ui
# Fail the build, not the first start, if a runtime library is missing.
RUN ! ldd /usr/local/bin/eh-api /usr/local/bin/eh-admin | grep 'not found'
USER 10001:10001
# Inside a container the api must listen on every interface (its default is
# 127.0.0.1, right for a developer's machine).
ENV EH_HTTP_HOST=0.0.0.0 EH_HTTP_PORT=8080
EXPOSE 8080
# `eh-api healthcheck` asks this container's own /healthz and exits 0 on 200:
# no curl in the image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["eh-api", "healthcheck"]
ENTRYPOINT ["eh-api"]

# --- migrations, run once before the api and the workers start -----------------
FROM api AS migrate
HEALTHCHECK NONE
CMD ["migrate"]

# --- eh-worker ---------------------------------------------------------------
FROM runtime AS worker
COPY --from=build /src/bin/eh-worker /usr/local/bin/eh-worker
RUN ! ldd /usr/local/bin/eh-worker | grep 'not found'
USER 10001:10001
ENTRYPOINT ["eh-worker"]
