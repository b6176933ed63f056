#!/bin/sh
# First start: initdb into $PGDATA with POSTGRES_USER as superuser (password
# POSTGRES_PASSWORD, scram-sha-256 over TCP from anywhere) and POSTGRES_DB
# created. Then exec the command, `postgres -c ...` as with the official image.
set -eu
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    if [ "$POSTGRES_DB" != postgres ]; then
        # Single-user mode: no server, no port, nothing to wait for.
        db=$(printf '%s' "$POSTGRES_DB" | sed 's/"/""/g')
        owner=$(printf '%s' "$POSTGRES_USER" | sed 's/"/""/g')
        echo "CREATE DATABASE \"$db\" OWNER \"$owner\";" | postgres --single -j -D "$PGDATA" postgres >/dev/null
    fi
    echo "entrypoint: initialised $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
fi

if [ "${1:-}" = postgres ]; then
    shift
    exec postgres -D "$PGDATA" "$@"
fi
exec "$@"
