#!/usr/bin/env bash
# Installs (when missing) and starts the services the integration tests talk to, on loopback.
# Usage: scripts/services.sh start
# Each service is left running; starting one that already runs does nothing.
set -euo pipefail

log() { printf '   %s\n' "$*"; }

apt_install() {
    if ! command -v apt-get >/dev/null; then
        echo "missing $*: install it with your package manager" >&2
        return 1
    fi
    if [ -z "${APT_UPDATED:-}" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for_port() { # host port name
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "$3 did not start on $1:$2" >&2
    return 1
}

start_redis() {
    if ! command -v redis-server >/dev/null; then
        log "installing redis-server"
        apt_install redis-server
    fi
    if (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
        log "redis: running on 127.0.0.1:6379"
        return 0
    fi
    log "redis: starting on 127.0.0.1:6379"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for_port 127.0.0.1 6379 redis
}

case "${1:-start}" in
    start)
        start_redis
        ;;
    *)
        echo "usage: $0 start" >&2
        exit 2
        ;;
esac
