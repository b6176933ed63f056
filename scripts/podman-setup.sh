#!/usr/bin/env bash
# podman-setup.sh - make a Debian 12 host build and run the project's container
# images with no Docker engine and no container registry (CI, make compose-test).
#
#   scripts/podman-setup.sh            packages + containers.conf + base images
#   scripts/podman-setup.sh packages   only install what is missing
#   scripts/podman-setup.sh conf       only write the containers.conf drop-in
#   scripts/podman-setup.sh base       only build the base images (if missing)
#   scripts/podman-setup.sh base -f    rebuild the base images
#
# Idempotent and quick when everything is in place. Runs as root (rootful
# podman: what CI has). What it does and why:
#   - podman, buildah, podman-compose, debootstrap, and Debian's docker-compose
#     (v1, only to validate docker-compose.yml: it needs no engine for that).
#   - /etc/containers/containers.conf.d/50-event-horizon.conf, a drop-in that
#     leaves any other containers.conf alone: runc (crun fails on hosts with
#     hybrid cgroups), a nofile ulimit no higher than this shell's hard limit
#     (podman's default asks for more, and even root cannot raise it on some
#     VMs), netavark with aardvark-dns so that services find each other by name.
#   - docker.io/library/debian:bookworm and :bookworm-slim made with
#     debootstrap from the host's own apt mirror and `podman import`ed, so the
#     Dockerfiles' FROM lines work unchanged without pulling anything. The slim
#     one is the same tree with documentation, man pages and locales removed
#     and excluded from later installs, as Debian's official slim image does.
set -euo pipefail

SUITE=bookworm
BASE_IMAGE=docker.io/library/debian:$SUITE
SLIM_IMAGE=docker.io/library/debian:$SUITE-slim
CONF_DROPIN=/etc/containers/containers.conf.d/50-event-horizon.conf
# Bump when the way the base images are made changes: images with another
# value are rebuilt (and with them every image built on top).
RECIPE=2
RECIPE_LABEL=org.event-horizon.base-recipe
PACKAGES=(podman buildah podman-compose debootstrap docker-compose runc netavark aardvark-dns iptables
    catatonit uidmap)

say() { printf 'podman-setup: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

need_root() {
    [ "$(id -u)" -eq 0 ] || die "run as root (rootful podman; apt-get and /etc/containers need it)"
}

install_packages() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # No recommends: docker-compose would bring docker.io, an engine we neither want nor can run.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

write_conf() {
    local nofile nproc want tmp
    # Podman asks for more than these by default (nofile and nproc 1048576 for
    # root); where root lacks CAP_SYS_RESOURCE runc then fails with "error
    # setting rlimits". podman itself runs with nproc capped at kernel.pid_max.
    local pid_max
    nofile=$(ulimit -Hn)
    nproc=$(ulimit -Hu)
    pid_max=$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 32768)
    [ "$nofile" = unlimited ] && nofile=1048576
    [ "$nproc" = unlimited ] && nproc=1048576
    [ "$nproc" -gt "$pid_max" ] && nproc=$pid_max
    want=$(printf '# Written by scripts/podman-setup.sh (Event Horizon); safe to delete.\n[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\nlog_driver = "k8s-file"\n\n[network]\nnetwork_backend = "netavark"\n\n[engine]\nruntime = "runc"\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n' "$nofile" "$nofile" "$nproc" "$nproc")
    if [ -f "$CONF_DROPIN" ] && [ "$(cat "$CONF_DROPIN")" = "$want" ]; then
        return 0
    fi
    mkdir -p "$(dirname "$CONF_DROPIN")"
    tmp=$(mktemp "$CONF_DROPIN.XXXXXX")
    printf '%s\n' "$want" >"$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$CONF_DROPIN"
    say "wrote $CONF_DROPIN (runc, nofile=$nofile, nproc=$nproc)"
}

# The first URI among the host's apt sources (deb822 or one-line) that serves
# suite $1 as a binary ("deb") source; empty when none does.
apt_uri_for_suite() {
    local suite=$1 f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite="$suite" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && enabled != "no") {
                    n = split(suites, s, " ")
                    for (i = 1; i <= n; i++) if (s[i] == suite) { split(uris, u, " "); print u[1]; exit }
                }
                types = ""; suites = ""; uris = ""; enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            tolower($1) == "types:"   { $1 = ""; types = $0 }
            tolower($1) == "suites:"  { $1 = ""; suites = $0 }
            tolower($1) == "uris:"    { $1 = ""; uris = $0 }
            tolower($1) == "enabled:" { enabled = tolower($2) }
            END { flush() }
        ' "$f" | sed 's/^ *//' | head -n 1
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        # deb [options] URI suite component...
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }'
    done
}

# Turns the tree in $1 into what Debian's slim images are: no docs, man pages
# or translations, and dpkg told to keep it so (debuerreotype-slimify's list).
slimify() {
    local root=$1
    mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# Written by scripts/podman-setup.sh, as in Debian's slim images.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    rm -rf "$root/usr/share/info"/* "$root/usr/share/man"/* "$root/usr/share/groff"/* \
        "$root/usr/share/linda"/* "$root/usr/share/lintian"/*
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
}

# What Debian's official images add to a plain debootstrap (debuerreotype's
# docker tweaks): no service starts at package install, and apt keeps no
# package cache, no .deb files and no translations in the image's layers.
docker_tweaks() {
    local root=$1
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
    echo 'Acquire::GzipIndexes "true";' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
    echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
    rm -f "$root/var/cache/apt"/*.bin
}

# The recipe label of a local image; empty when the image is missing.
recipe_of() {
    podman image inspect --format "{{ index .Labels \"$RECIPE_LABEL\" }}" "$1" 2>/dev/null || true
}

import_tree() { # $1 = tree, $2 = image name
    tar --numeric-owner --xattrs -C "$1" -cf - . |
        podman import --quiet --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change "LABEL $RECIPE_LABEL=$RECIPE" - "$2" >/dev/null
}

build_base() {
    local force=${1:-}
    if [ "$force" != -f ] && [ "$(recipe_of "$BASE_IMAGE")" = "$RECIPE" ] &&
        [ "$(recipe_of "$SLIM_IMAGE")" = "$RECIPE" ]; then
        return 0
    fi
    local mirror security updates_ok root
    mirror=$(apt_uri_for_suite "$SUITE")
    [ -n "$mirror" ] || die "no apt source on this host serves '$SUITE': cannot debootstrap"
    security=$(apt_uri_for_suite "$SUITE-security")
    updates_ok=$(apt_uri_for_suite "$SUITE-updates")
    root=$(mktemp -d /var/tmp/eh-debootstrap.XXXXXX)
    # shellcheck disable=SC2064 # expand now: root is local
    trap "rm -rf '$root'" EXIT
    say "debootstrap --variant=minbase $SUITE from $mirror"
    debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >"$root.log" 2>&1 ||
        {
            tail -n 20 "$root.log" >&2
            die "debootstrap failed (log above)"
        }
    rm -f "$root.log"
    # The image's apt sources, in the official images' shape: the same archive
    # as the host (plus -updates and -security where the host has them).
    rm -f "$root/etc/apt/sources.list"
    {
        printf 'Types: deb\nURIs: %s\nSuites: %s%s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$mirror" "$SUITE" "${updates_ok:+ $SUITE-updates}"
        [ -n "$security" ] &&
            printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
                "$security" "$SUITE"
    } >"$root/etc/apt/sources.list.d/debian.sources"
    # Nothing of this host stays in the image; podman provides these at run time.
    rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/* "$root/var/log"/*.log
    : >"$root/etc/resolv.conf"
    : >"$root/etc/hostname"
    docker_tweaks "$root"
    import_tree "$root" "$BASE_IMAGE"
    say "imported $BASE_IMAGE"
    slimify "$root"
    import_tree "$root" "$SLIM_IMAGE"
    say "imported $SLIM_IMAGE"
    rm -rf "$root"
    trap - EXIT
}

main() {
    need_root
    case "${1:-all}" in
    packages) install_packages ;;
    conf) write_conf ;;
    base)
        shift
        build_base "${1:-}"
        ;;
    all)
        install_packages
        write_conf
        build_base
        ;;
    *) die "usage: $0 [all|packages|conf|base [-f]]" ;;
    esac
}

main "$@"
