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

# Kafka: tansu 0.6, an Apache-Kafka-compatible broker, on 127.0.0.1:9092 with sqlite storage in
# /var/lib/tansu (tests read KAFKA_BROKERS, default 127.0.0.1:9092). otel-kafka's default
# `cmake-build` builds librdkafka, which needs cmake and the headers of zlib and libcurl (librdkafka
# 2.12's CMake build defines WITH_OAUTHBEARER_OIDC as 0 and tests it with #ifdef, so it includes
# curl's header even with curl off): installed here because the builds of the crate alone compile
# it too, and install_librdkafka below builds it the same way.
KAFKA_DIR=/var/lib/tansu
KAFKA_PORT=9092

kafka_build_deps() {
    local missing=()
    for package in cmake zlib1g-dev libcurl4-openssl-dev sqlite3; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt_install "${missing[@]}"
    fi
}

tansu_bin() {
    command -v tansu 2>/dev/null || echo "${CARGO_HOME:-$HOME/.cargo}/bin/tansu"
}

start_kafka() {
    kafka_build_deps
    local tansu
    tansu=$(tansu_bin)
    if [ ! -x "$tansu" ]; then
        log "installing tansu 0.6.0 (cargo install, 15-25 minutes, once)"
        cargo install tansu --version 0.6.0 --locked --features dynostore,libsql
        tansu=$(tansu_bin)
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; then
        log "kafka: running on 127.0.0.1:$KAFKA_PORT"
        return 0
    fi
    log "kafka: starting tansu on 127.0.0.1:$KAFKA_PORT"
    mkdir -p "$KAFKA_DIR"
    # Every flag explicit, from its own directory and with a clean environment: tansu reads `.env`
    # files and variables such as STORAGE_ENGINE and CLUSTER_ID.
    (cd "$KAFKA_DIR" && exec setsid env -i PATH=/usr/bin:/bin HOME="$KAFKA_DIR" "$tansu" broker         --cluster-id tansu_cluster         --listener-url "tcp://127.0.0.1:$KAFKA_PORT"         --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT"         --storage-engine sqlite://tansu.db         </dev/null >"$KAFKA_DIR/broker.log" 2>&1) &
    echo $! >"$KAFKA_DIR/tansu.pid"
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; then break; fi
        sleep 0.1
    done
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; then
        echo "kafka (tansu) did not start on 127.0.0.1:$KAFKA_PORT; see $KAFKA_DIR/broker.log" >&2
        return 1
    fi
    # Without this index, fetching a record's headers scans the whole header table.
    sqlite3 -cmd ".timeout 10000" "$KAFKA_DIR/tansu.db" \
        "create index if not exists header_topition_offset on header (topition, offset_id);"
}

stop_kafka() {
    if [ -f "$KAFKA_DIR/tansu.pid" ]; then
        kill "$(cat "$KAFKA_DIR/tansu.pid")" 2>/dev/null || true
        rm -f "$KAFKA_DIR/tansu.pid"
        log "kafka: stopped"
    fi
}

# librdkafka as a system library, for otel-kafka's `dynamic-linking` feature (the test suite
# builds with --all-features, which links it that way): built once from the sources rdkafka-sys
# ships, so it is the version rdkafka requires, and installed in /usr/local.
install_librdkafka() {
    local version source build
    version=$(cargo metadata --format-version 1 --locked | python3 -c '
import json, sys
sys_crate = next(p for p in json.load(sys.stdin)["packages"] if p["name"] == "rdkafka-sys")
print(sys_crate["version"].split("+")[1], sys_crate["manifest_path"].rsplit("/", 1)[0] + "/librdkafka")') \
        || { echo "cannot find rdkafka-sys's sources (cargo metadata failed)" >&2; return 1; }
    source=${version#* }
    version=${version% *}
    if pkg-config --atleast-version "$version" rdkafka 2>/dev/null; then
        log "librdkafka: $(pkg-config --modversion rdkafka) installed"
        return 0
    fi
    command -v pkg-config >/dev/null || apt_install pkg-config
    log "librdkafka: building $version in /usr/local (a few minutes, once)"
    build=$(mktemp -d)
    cmake -S "$source" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr/local \
        -DRDKAFKA_BUILD_STATIC=OFF -DRDKAFKA_BUILD_EXAMPLES=OFF -DRDKAFKA_BUILD_TESTS=OFF \
        -DWITH_SSL=OFF -DWITH_SASL=OFF -DWITH_ZSTD=OFF -DWITH_CURL=OFF -DENABLE_LZ4_EXT=OFF \
        >"$build.log" 2>&1 \
        && cmake --build "$build" --parallel "$(nproc)" >>"$build.log" 2>&1 \
        && cmake --install "$build" >>"$build.log" 2>&1 \
        || { echo "building librdkafka failed: see $build.log" >&2; return 1; }
    ldconfig
    rm -rf "$build" "$build.log"
    pkg-config --atleast-version "$version" rdkafka
}

start_postgres() {
    if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
        log "installing postgresql"
        apt_install postgresql
    fi
    local version conf
    version=$(ls /etc/postgresql | sort -V | tail -1)
    conf=/etc/postgresql/$version/main
    # The tests connect as postgres (or root) over 127.0.0.1 without a password (test machines only).
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$conf/pg_hba.conf"; then
        log "postgresql: trusting local connections"
        sed -i -E 's/^(local|host)(.*)(peer|scram-sha-256|md5)$/\1\2trust/' "$conf/pg_hba.conf"
        grep -q '^host all all 127.0.0.1/32 trust' "$conf/pg_hba.conf" \
            || echo 'host all all 127.0.0.1/32 trust' >>"$conf/pg_hba.conf"
        pg_ctlcluster --skip-systemctl-redirect "$version" main reload 2>/dev/null || true
    fi
    if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
        log "postgresql: running on 127.0.0.1:5432"
    else
        log "postgresql: starting on 127.0.0.1:5432"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start
        wait_for_port 127.0.0.1 5432 postgresql
    fi
    if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
        log "postgresql: creating database test"
        psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE test"
    fi
}

start_mariadb() {
    if [ ! -x /usr/sbin/mariadbd ]; then
        log "installing mariadb-server"
        apt_install mariadb-server
    fi
    if (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; then
        log "mariadb: running on 127.0.0.1:3306"
    else
        log "mariadb: starting on 127.0.0.1:3306"
        mkdir -p /run/mysqld
        chown mysql:mysql /run/mysqld 2>/dev/null || true
        start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
        wait_for_port 127.0.0.1 3306 mariadb
    fi
    # The tests connect as root over 127.0.0.1 with an empty password (test machines only).
    if ! mysql -h 127.0.0.1 -uroot -e 'SELECT 1' >/dev/null 2>&1; then
        log "mariadb: allowing root with an empty password"
        mysql -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; FLUSH PRIVILEGES;"
    fi
    mysql -h 127.0.0.1 -uroot -e 'CREATE DATABASE IF NOT EXISTS test'
}

case "${1:-start}" in
    start)
        start_redis
        start_postgres
        start_mariadb
        start_kafka
        install_librdkafka
        ;;
    stop-kafka)
        stop_kafka
        ;;
    *)
        echo "usage: $0 start" >&2
        exit 2
        ;;
esac
