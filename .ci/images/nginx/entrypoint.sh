#!/bin/sh
# The official image's 20-envsubst-on-templates.sh, in short: every
# /etc/nginx/templates/X.template becomes /etc/nginx/conf.d/X with the
# defined variables whose names match NGINX_ENVSUBST_FILTER substituted.
set -eu
filter=${NGINX_ENVSUBST_FILTER:-.*}
vars=$(env | cut -d= -f1 | grep -E "$filter" | sed 's/^/$/' | tr '\n' ' ')
for t in /etc/nginx/templates/*.template; do
    [ -f "$t" ] || continue
    out=/etc/nginx/conf.d/$(basename "$t" .template)
    envsubst "$vars" <"$t" >"$out"
    echo "entrypoint: rendered $t into $out"
done
exec "$@"
