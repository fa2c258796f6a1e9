#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests, kept in one directory.
#
#   pg-cluster.sh start DIR    initdb into DIR/data (first time), start it on a free
#                              127.0.0.1 port, create database ccload; prints its URL
#   pg-cluster.sh stop DIR     stop it (fast shutdown); nothing to do when it is not running
#   pg-cluster.sh restart DIR  stop and start again, on the same port
#   pg-cluster.sh kill DIR     SIGKILL the postmaster (crash tests); `start` recovers it
#   pg-cluster.sh url DIR      print the URL
#
# The URL is postgres://ccload:PASS@127.0.0.1:PORT/ccload; the password is random and kept
# in DIR/password. The server listens on 127.0.0.1 only, with its unix socket in DIR.
# initdb refuses to run as root: as root the server runs as the unprivileged user
# ccload-pg (created when missing), which then owns DIR.
# With PG_CLUSTER_OWNER_PID set, `start` leaves a watcher that stops the cluster and
# removes DIR once that process has ended (a test process that crashed).
# Only the URL goes to stdout; progress and errors go to stderr. Every wait is bounded.
set -euo pipefail

# Descriptors inherited from the caller beyond stdin, stdout and stderr are closed (255 is
# bash's own, reading this script): the server and the watcher outlive this script, and a
# caller that watches one of its descriptors for the end of the process (Foundation's
# Process does) would wait for them too.
for fd in $(ls /proc/$$/fd); do
    case $fd in 0 | 1 | 2 | 255) ;; *) eval "exec $fd>&-" 2>/dev/null || true ;; esac
done

usage() { echo "usage: $0 start|stop|restart|kill|url DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$2
log() { echo "pg-cluster: $*" >&2; }
die() { log "$*"; exit 1; }

find_bin() {
    # initdb on PATH may be a link into the server's bin directory, where psql and
    # createdb are too.
    local d
    if command -v initdb >/dev/null 2>&1; then
        d=$(dirname "$(readlink -f "$(command -v initdb)")")
        if [ -x "$d/pg_ctl" ] && [ -x "$d/psql" ] && [ -x "$d/createdb" ]; then
            echo "$d"
            return
        fi
    fi
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    [ -n "$d" ] && [ -x "$d/initdb" ] || die "PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin)"
    echo "$d"
}

pg_user=ccload-pg
as_server() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u "$pg_user" -- "$@"; else "$@"; fi
}

ensure_server_user() {
    [ "$(id -u)" -eq 0 ] || return 0
    if ! id "$pg_user" >/dev/null 2>&1; then
        # Two test processes may race here: the loser's useradd fails, the user exists.
        useradd --system --no-create-home --shell /usr/sbin/nologin "$pg_user" 2>/dev/null \
            || id "$pg_user" >/dev/null 2>&1 || die "cannot create the user $pg_user"
    fi
    chown -R "$pg_user" "$dir"
    runuser -u "$pg_user" -- test -w "$dir" \
        || die "$dir is not reachable by $pg_user (a parent directory is private?)"
}

running() {
    [ -f "$dir/data/postmaster.pid" ] || return 1
    as_server "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

url() {
    [ -f "$dir/password" ] && [ -f "$dir/port" ] || die "no cluster in $dir"
    echo "postgres://ccload:$(cat "$dir/password")@127.0.0.1:$(cat "$dir/port")/ccload"
}

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Below the kernel's ephemeral range (ip_local_port_range, 32768 and up here): a port in it
# may be taken at any moment by some client's outgoing connection, which a listener check
# cannot see coming (the tests' own connections took one once).
pick_port() {
    local p i low
    low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "$low" -gt 12000 ] || low=32768
    for i in $(seq 1 50); do
        p=$((10000 + RANDOM % (low - 10000)))
        if port_free "$p"; then echo "$p"; return; fi
    done
    die "no free port found"
}

init_cluster() {
    mkdir -p "$dir"
    chmod 755 "$dir"
    ensure_server_user
    local pass pwfile
    pass=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)
    pwfile="$dir/pwfile"
    (umask 077; printf '%s\n' "$pass" >"$pwfile")
    if [ "$(id -u)" -eq 0 ]; then chown "$pg_user" "$pwfile"; fi
    log "initdb $dir/data"
    if ! as_server "$bin/initdb" -D "$dir/data" -U ccload --pwfile="$pwfile" \
        --auth=scram-sha-256 -E UTF8 --locale=C -N >"$dir/initdb.log" 2>&1; then
        rm -f "$pwfile"
        cat "$dir/initdb.log" >&2
        die "initdb failed"
    fi
    rm -f "$pwfile"
    (umask 077; printf '%s\n' "$pass" >"$dir/password")
    # Throwaway data: no durability, room for the tests' connections.
    cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
EOF
}

set_port() {
    local p=$1
    echo "$p" >"$dir/port"
    sed -i '/^port = /d' "$dir/data/postgresql.conf"
    echo "port = $p" >>"$dir/data/postgresql.conf"
}

start_server() {
    if [ "$(id -u)" -eq 0 ]; then chown -R "$pg_user" "$dir"; fi
    as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
}

create_database() {
    local pass port
    pass=$(cat "$dir/password")
    port=$(cat "$dir/port")
    local exists
    exists=$(PGPASSWORD=$pass PGCONNECT_TIMEOUT=5 "$bin/psql" -h 127.0.0.1 -p "$port" -U ccload -d postgres \
        -tAc "SELECT 1 FROM pg_database WHERE datname = 'ccload'") || die "psql cannot reach the cluster"
    [ "$exists" = 1 ] && return
    PGPASSWORD=$pass PGCONNECT_TIMEOUT=5 "$bin/createdb" -h 127.0.0.1 -p "$port" -U ccload ccload \
        || die "createdb ccload failed"
}

watch_owner() {
    local owner=$1
    [ -f "$dir/watcher.pid" ] && kill -0 "$(cat "$dir/watcher.pid")" 2>/dev/null && return
    # Detached, with no inherited descriptors: whoever reads this script's stdout is not held.
    setsid bash -c '
        while kill -0 "$1" 2>/dev/null; do sleep 1; done
        bash "$2" stop "$3" >/dev/null 2>&1
        rm -rf "$3"
    ' watcher "$owner" "$(readlink -f "$0")" "$dir" </dev/null >/dev/null 2>&1 &
    echo $! >"$dir/watcher.pid"
}

start() {
    # A cluster started before keeps its port (its clients hold URLs with it); a new one may
    # move to another when its first pick is taken.
    local keep=${PG_CLUSTER_KEEP_PORT:-}
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        init_cluster
        set_port "$(pick_port)"
    else
        ensure_server_user
        keep=1
    fi
    if running; then
        log "already running on port $(cat "$dir/port")"
    else
        local attempt
        for attempt in 1 2 3 4 5; do
            log "starting on 127.0.0.1:$(cat "$dir/port")"
            if start_server; then break; fi
            [ "$attempt" -lt 5 ] || { tail -20 "$dir/server.log" >&2; die "the server did not start"; }
            # Taken by someone else meanwhile (a listener, or a client's connection that
            # no check sees): another port, unless a restart needs this one.
            if [ "$keep" != 1 ]; then
                set_port "$(pick_port)"
            else
                sleep 1
            fi
        done
    fi
    create_database
    if [ -n "${PG_CLUSTER_OWNER_PID:-}" ]; then watch_owner "$PG_CLUSTER_OWNER_PID"; fi
    url
}

stop() {
    [ -d "$dir/data" ] || return 0
    running || return 0
    log "stopping"
    if ! as_server "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1; then
        as_server "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 10 stop >/dev/null 2>&1 || kill_server
    fi
}

kill_server() {
    [ -f "$dir/data/postmaster.pid" ] || return 0
    local pid children i
    pid=$(head -1 "$dir/data/postmaster.pid")
    children=$(pgrep -P "$pid" 2>/dev/null || true)
    kill -9 "$pid" 2>/dev/null || return 0
    # Its children notice the postmaster's death and exit; wait for them (bounded) so that
    # a later start finds no process still attached to the old shared memory.
    for i in $(seq 1 100); do
        local alive=0 c
        for c in $pid $children; do kill -0 "$c" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && break
        sleep 0.1
    done
    log "killed postmaster $pid"
}

bin=$(find_bin)
case "$cmd" in
start) start ;;
stop) stop ;;
restart)
    stop
    PG_CLUSTER_KEEP_PORT=1 start >/dev/null
    ;;
kill) kill_server ;;
url) url ;;
*) usage ;;
esac
