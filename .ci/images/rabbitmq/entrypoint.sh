#!/bin/sh
# Writes the configuration the official image has built in (any user may
# connect from other containers, not only from localhost) and runs the server
# in the foreground. RABBITMQ_DEFAULT_USER/PASS are read by RabbitMQ itself.
set -eu
cat >/etc/rabbitmq/rabbitmq.conf <<CONF
loopback_users.guest = false
listeners.tcp.default = 5672
CONF
if [ "${1:-}" = rabbitmq-server ]; then
    shift
    exec /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
fi
exec "$@"
