#!/usr/bin/env bash
# Installs what building, running and testing the project needs on Debian 12
# (`make deps`). Idempotent and quick when everything is there: apt is not
# even asked (no `apt-get update`) unless a package is missing.
#
#   scripts/deps.sh         install what is missing (as root when apt must run)
#   scripts/deps.sh lock    regenerate package-lock.json from package.json
#
# Node tools (s3rver, the local stand-in for S3) are pinned in package.json
# and installed from the committed package-lock.json into ./node_modules.
set -euo pipefail

EH_SCRIPT=deps
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

APT_PACKAGES=(
    # build
    build-essential pkg-config
    libmicrohttpd-dev libwebsockets-dev librabbitmq-dev libs3-dev libpq-dev
    libjansson-dev libcmocka-dev libssl-dev libcurl4-openssl-dev
    # common/s3.c calls the libcurl that libs3 links (curl's headers come from libcurl4-openssl-dev)
    libcurl3-gnutls
    # local services (scripts/services.sh)
    postgresql rabbitmq-server
    # in front and beside: nginx as the entry point, Prometheus and its PostgreSQL exporter
    nginx prometheus prometheus-postgres-exporter
    # tests and tools
    python3 python3-pytest python3-websockets python3-psycopg2 python3-requests python3-pika
    python3-jsonschema python3-yaml
    curl procps ca-certificates wrk
    # fuzzing (libFuzzer harnesses) and the browser of the page tests
    clang libclang-rt-14-dev chromium
)

# EH_DEPS=build: only what compiling bin/eh-api and bin/eh-worker needs (no
# local services, no test tools, no npm). The Dockerfile's build stage runs
# `EH_DEPS=build make deps`. (Added for issue 6, the container images.)
EH_DEPS=${EH_DEPS:-all}
case "$EH_DEPS" in
    all) ;;
    build)
        APT_PACKAGES=(build-essential pkg-config libmicrohttpd-dev libwebsockets-dev librabbitmq-dev libs3-dev
            libpq-dev libjansson-dev libssl-dev libcurl4-openssl-dev libcurl3-gnutls)
        ;;
    *) eh_die "EH_DEPS must be all or build, not '$EH_DEPS'" ;;
esac

# The packages of APT_PACKAGES (plus node when npm is missing) not installed.
missing_apt() {
    local pkgs=("${APT_PACKAGES[@]}") p status
    # The machine may bring its own Node.js and npm: use them when present.
    if [ "$EH_DEPS" = all ] && ! command -v npm >/dev/null 2>&1; then
        pkgs+=(nodejs npm)
    fi
    for p in "${pkgs[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || status=""
        if [ "$status" != "install ok installed" ]; then
            printf '%s\n' "$p"
        fi
    done
}

install_apt() {
    local missing
    mapfile -t missing < <(missing_apt)
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || eh_die "missing Debian packages (${missing[*]}): run this as root"
    eh_say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Debian's postinst may start system PostgreSQL/RabbitMQ instances on their
    # default ports; services.sh never uses them, so they are left alone.
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# npm ci only when node_modules is missing or older than the lock file.
install_node() {
    local stamp="$EH_ROOT/node_modules/.package-lock.json"
    command -v npm >/dev/null 2>&1 || eh_die "npm not found after the apt step"
    if [ -x "$EH_ROOT/node_modules/.bin/s3rver" ] && [ -f "$stamp" ] &&
        [ ! "$EH_ROOT/package-lock.json" -nt "$stamp" ]; then
        return 0
    fi
    eh_say "installing node tools (npm ci)"
    (cd "$EH_ROOT" && npm ci --no-audit --no-fund --loglevel=error)
    [ -x "$EH_ROOT/node_modules/.bin/s3rver" ] || eh_die "npm ci did not install s3rver"
    [ -x "$EH_ROOT/node_modules/.bin/redocly" ] || eh_die "npm ci did not install @redocly/cli"
}

# Regenerates package-lock.json with no download address in it (the registry
# is whichever npm is configured with), then checks that npm ci accepts it.
relock() {
    cd "$EH_ROOT"
    eh_say "resolving package.json into package-lock.json"
    rm -f package-lock.json
    npm install --package-lock-only --no-audit --no-fund --loglevel=error \
        --omit-lockfile-registry-resolved
    # Older npm ignores that option: drop "resolved" (download URL) and
    # "funding" (sponsor links) by hand; "integrity" still pins every tarball.
    node - <<'JS'
const fs = require("fs");
const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
for (const pkg of Object.values(lock.packages || {})) {
    delete pkg.resolved;
    delete pkg.funding;
}
fs.writeFileSync("package-lock.json", JSON.stringify(lock, null, 2) + "\n");
JS
    if grep -q '://' package-lock.json; then
        eh_die "package-lock.json still holds a URL"
    fi
    rm -rf node_modules
    install_node
    eh_say "package-lock.json regenerated and verified with npm ci"
}

main() {
    case "${1:-}" in
        "")
            install_apt
            [ "$EH_DEPS" = build ] || install_node
            eh_say "all dependencies present"
            ;;
        lock)
            install_apt
            relock
            ;;
        *)
            sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
            exit 2
            ;;
    esac
}

main "$@"
