#!/bin/sh
# Writes the configuration the official image has built in (any user may
# connect from other containers, not only from localhost) and runs the server
# in the foreground. RABBITMQ_DEFAULT_USER/PASS are read by RabbitMQ itself.
set -eu
cat >/etc/rabbitmq/rabbitmq.conf <<CONF
loopback_users.guest = false
listeners.tcp.default = 5672
CONF
# As the official image: the broker's Prometheus endpoint on 15692.
echo '[rabbitmq_prometheus].' >/etc/rabbitmq/enabled_plugins
if [ "${1:-}" = rabbitmq-server ]; then
    shift
    exec /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
fi
exec "$@"
