#!/usr/bin/env bash
# The local stack: Kafka (KRaft, jars from Maven Central), ClickHouse, PostgreSQL and Redis (Debian
# packages), each bound to 127.0.0.1 with all state under $STACK_DIR. Installs what is missing,
# starts what is not running, and stops only the processes it started (by pid file).
# Usage: stack.sh up|down|status. Ports come from the same URLs the services read (README).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK_DIR=${STACK_DIR:-$ROOT/.stack}
KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:19092}
CLICKHOUSE_URL=${CLICKHOUSE_URL:-http://127.0.0.1:18123}
DATABASE_URL=${DATABASE_URL:-postgres://ads:ads@127.0.0.1:15432/ads}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:16379}
KAFKA_HEAP=${KAFKA_HEAP:-1g}
READY_TIMEOUT_S=${READY_TIMEOUT_S:-90}
CHDB_VERSION=26.9.0 # ClickHouse 26.9 as a library (PyPI chdb-core)

port_of() { [[ $1 =~ :([0-9]+)(/|$) ]] && echo "${BASH_REMATCH[1]}" || { echo "no port in '$1'" >&2; exit 2; }; }
KAFKA_PORT=$(port_of "${KAFKA_BROKERS%%,*}")
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
KAFKA_SECURE_PORT=${KAFKA_SECURE_PORT:-$((KAFKA_PORT + 2))} # TLS + SASL (README: The local stack)
KAFKA_MTLS_PORT=${KAFKA_MTLS_PORT:-$((KAFKA_PORT + 3))}     # mutual TLS
CLICKHOUSE_PORT=$(port_of "$CLICKHOUSE_URL")
CLICKHOUSE_TCP_PORT=${CLICKHOUSE_TCP_PORT:-$((CLICKHOUSE_PORT + 877))} # 18123 -> 19000
POSTGRES_PORT=$(port_of "$DATABASE_URL")
REDIS_PORT=$(port_of "$REDIS_URL")
[[ $DATABASE_URL =~ ^postgres(ql)?://([^:@/]+):([^@/]*)@ ]] || { echo "DATABASE_URL needs user:password@ ($DATABASE_URL)" >&2; exit 2; }
PG_USER=${BASH_REMATCH[2]} PG_PASSWORD=${BASH_REMATCH[3]}

SERVICES=(postgres redis clickhouse kafka)

say() { printf '[stack] %s\n' "$*"; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

# --- processes -------------------------------------------------------------------------------

pidfile() { echo "$STACK_DIR/$1.pid"; }

# Start time of a live pid in clock ticks since boot (field 22 of /proc/PID/stat), unchanged by exec.
# A zombie counts as dead: where pid 1 does not reap orphans, a killed server lingers as one.
started_at() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  set -- $stat
  [[ $1 != Z && $1 != X ]] && echo "${20}"
}
alive() { [[ -n $(started_at "$1") ]]; }

# A pid file holds "pid start-time"; the pid counts as ours only while both still match, so a
# reused pid, or a server someone else started on the same port, is never taken for ours.
running_pid() {
  local f pid start
  f=$(pidfile "$1")
  [[ -f $f ]] || return 1
  read -r pid start <"$f"
  [[ -n $pid && -n $start && $(started_at "$pid") == "$start" ]] && echo "$pid"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts "$@" detached (own session, survives the caller), as user $RUN_AS when set. setsid and
# setpriv each exec the next, so $! is the server's own pid.
spawn() {
  local name=$1; shift
  local as=()
  [[ -n ${RUN_AS:-} ]] && as=(setpriv --reuid="$RUN_AS" --regid="$RUN_AS" --init-groups)
  setsid "${as[@]}" "$@" >>"$STACK_DIR/$name/$name.log" 2>&1 </dev/null &
  echo "$! $(started_at $!)" >"$(pidfile "$name")"
}

stop_one() {
  local name=$1 pid
  pid=$(running_pid "$name") || { rm -f "$(pidfile "$name")"; return 0; }
  say "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do alive "$pid" || break; sleep 0.5; done
  if alive "$pid"; then say "$name did not stop in 30 s; killing"; kill -KILL "$pid" || true; fi
  rm -f "$(pidfile "$name")"
}

# --- installation ----------------------------------------------------------------------------

APT_UPDATED=
apt_install() {
  [[ $(id -u) == 0 ]] || die "missing packages: $* (run as root, or: sudo apt-get install $*)"
  if [[ -z $APT_UPDATED ]]; then
    say "apt-get update"
    apt-get update -qq >"$STACK_DIR/apt.log" 2>&1 || die "apt-get update failed; see $STACK_DIR/apt.log"
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  # Keep Debian's maintainer scripts from starting system-wide copies of these servers.
  local guard=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >>"$STACK_DIR/apt.log" 2>&1 ||
    { [[ -n $guard ]] && rm -f /usr/sbin/policy-rc.d; die "apt-get install $* failed; see $STACK_DIR/apt.log"; }
  [[ -n $guard ]] && rm -f /usr/sbin/policy-rc.d
  return 0
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

install_missing() {
  local pkgs=()
  [[ -n $(pg_bin) ]] || pkgs+=(postgresql)
  command -v redis-server >/dev/null || pkgs+=(redis-server)
  command -v clickhouse-server >/dev/null || pkgs+=(clickhouse-server clickhouse-client)
  command -v java >/dev/null || pkgs+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || pkgs+=(maven)
  command -v curl >/dev/null || pkgs+=(curl)
  command -v openssl >/dev/null || pkgs+=(openssl) # the WeChat Pay sandbox's certificates
  command -v chromium >/dev/null || pkgs+=(chromium) # the browser SDK's tests (ingest/sdk/browser.int.test.ts)
  ((${#pkgs[@]} == 0)) || apt_install "${pkgs[@]}"
  local java_major
  java_major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/.*java.specification.version = //p')
  ((${java_major%%.*} >= 17)) || die "Kafka needs Java 17 or newer; found $java_major"
  if [[ ! -f $STACK_DIR/kafka/libs/.complete ]]; then
    say "resolving Kafka jars with Maven (cached in ~/.m2)"
    mkdir -p "$STACK_DIR/kafka/libs"
    mvn -B -q -f "$ROOT/stack/kafka/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$STACK_DIR/kafka/libs" >"$STACK_DIR/kafka/mvn.log" 2>&1 ||
      die "Maven could not resolve Kafka; see $STACK_DIR/kafka/mvn.log"
    touch "$STACK_DIR/kafka/libs/.complete"
  fi
  # chDB, current ClickHouse as a library, pinned: test/current-clickhouse.int.test.ts runs the
  # analyst SQL on it beside the stack's 18.16.
  if [[ ! -f $STACK_DIR/chdb/.complete ]]; then
    say "installing chDB $CHDB_VERSION (current ClickHouse as a library) in $STACK_DIR/chdb"
    command -v python3 >/dev/null || apt_install python3
    rm -rf "$STACK_DIR/chdb"
    python3 -m venv "$STACK_DIR/chdb" >"$STACK_DIR/chdb.log" 2>&1 ||
      { apt_install python3-venv && python3 -m venv "$STACK_DIR/chdb" >>"$STACK_DIR/chdb.log" 2>&1; } ||
      die "python3 -m venv failed; see $STACK_DIR/chdb.log"
    "$STACK_DIR/chdb/bin/pip" install -q "chdb-core==$CHDB_VERSION" >>"$STACK_DIR/chdb.log" 2>&1 ||
      die "pip could not install chdb-core; see $STACK_DIR/chdb.log"
    touch "$STACK_DIR/chdb/.complete"
  fi
}

# --- services --------------------------------------------------------------------------------

start_postgres() {
  local dir=$STACK_DIR/postgres bin pgdata
  bin=$(pg_bin)
  RUN_AS=
  [[ $(id -u) == 0 ]] && RUN_AS=postgres # postgres refuses to run as root
  # The postgres user must reach its data dir. Where the clone lives under a private folder (/root),
  # the data goes to /var/lib/ads-stack/<hash of STACK_DIR> behind a symlink in the state folder.
  if [[ -n $RUN_AS && ! -e $dir/data ]] && ! setpriv --reuid="$RUN_AS" --regid="$RUN_AS" --init-groups test -x "$STACK_DIR"; then
    local outside
    outside=/var/lib/ads-stack/$(printf '%s' "$STACK_DIR" | sha256sum | cut -c1-12)
    say "$STACK_DIR is private to root: keeping PostgreSQL's data in $outside"
    mkdir -p "$outside/data" && ln -sfn "$outside/data" "$dir/data"
  fi
  mkdir -p "$dir/data"
  pgdata=$(readlink -f "$dir/data")
  if [[ ! -f $pgdata/PG_VERSION ]]; then
    say "initialising PostgreSQL in $pgdata"
    find "$pgdata" -mindepth 1 -delete
    local pwfile=$pgdata.pwfile
    printf '%s\n' "$PG_PASSWORD" >"$pwfile"
    [[ -n $RUN_AS ]] && chown -R "$RUN_AS" "$pgdata" "$pwfile"
    (cd / && ${RUN_AS:+runuser -u "$RUN_AS" --} "$bin/initdb" -D "$pgdata" -U "$PG_USER" --pwfile="$pwfile" \
      --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8) >"$dir/initdb.log" 2>&1 || { rm -f "$pwfile"; die "initdb failed; see $dir/initdb.log"; }
    rm -f "$pwfile"
  fi
  [[ -n $RUN_AS ]] && chown -R "$RUN_AS" "$pgdata"
  # After a crash the lock file names a dead (possibly zombie) postmaster; postgres itself would take
  # a zombie for a live server and refuse to start. Its orphaned backends exit within moments.
  local lock=$pgdata/postmaster.pid
  if [[ -f $lock ]] && ! alive "$(head -n 1 "$lock")"; then
    sleep 1
    rm -f "$lock"
  fi
  # No WAL compression: after a checkpoint nearly every ledger row's random-key index leaf is logged
  # as a full page, and compressing those with pglz made inserting earnings' transactions six
  # times slower on this CPU (lz4: one and a half times). Disk is plentiful; the cores are not.
  (cd / && spawn postgres "$bin/postgres" -D "$pgdata" -p "$POSTGRES_PORT" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories= -c max_connections=200 -c shared_buffers=512MB -c fsync=on \
    -c max_wal_size=4GB -c checkpoint_timeout=15min -c wal_compression=off)
  RUN_AS=
}

start_redis() {
  local dir=$STACK_DIR/redis
  # An AOF rewrite forks and writes the whole dataset again: with the aggregator's millions of keys
  # it took a core for 14 s at a time, and each benchmark round ran slower than the one before. The
  # log may grow to 1 GB first (replayed at start at about 40 MB/s here); the aggregator benchmark
  # compacts it once its keys are deleted.
  spawn redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir" --protected-mode yes \
    --maxmemory-policy noeviction --appendonly yes --appendfsync everysec --auto-aof-rewrite-min-size 1gb \
    --daemonize no --logfile "" --save ""
}

start_clickhouse() {
  local dir=$STACK_DIR/clickhouse
  mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas"
  sed -e "s#@DIR@#$dir#g" -e "s#@HTTP_PORT@#$CLICKHOUSE_PORT#g" -e "s#@TCP_PORT@#$CLICKHOUSE_TCP_PORT#g" \
    "$ROOT/stack/clickhouse/config.xml" >"$dir/config.xml"
  cp "$ROOT/stack/clickhouse/users.xml" "$dir/users.xml"
  spawn clickhouse clickhouse-server --config-file="$dir/config.xml"
}

# The secured listeners' certificate, signed by a CA of the stack's own (tls/ca.pem, which clients
# trust), and a client certificate from the same CA for the mutual-TLS listener.
kafka_certificates() {
  local tls=$1/tls
  [[ -f $tls/broker.p12 && -f $tls/client.pem ]] && return 0
  say "making a CA and a broker certificate for Kafka's TLS listener in $tls"
  mkdir -p "$tls"
  (
    cd "$tls" &&
      openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 -subj '/CN=ads local stack CA' &&
      openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj '/CN=127.0.0.1' &&
      openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out broker.pem -days 3650 \
        -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n') &&
      openssl pkcs12 -export -in broker.pem -inkey broker.key -CAfile ca.pem -chain -name broker \
        -passout pass:ads-stack -out broker.p12.tmp && mv broker.p12.tmp broker.p12 &&
      openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj '/CN=ads-client' &&
      openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 3650
  ) >"$1/tls.log" 2>&1 || die "making Kafka's certificates failed; see $1/tls.log"
}

# The secured listener's SCRAM user (a credential lives in the cluster metadata), once per storage.
kafka_users() {
  local dir=$STACK_DIR/kafka
  [[ -f $dir/data/.scram-user ]] && return 0
  local hash
  for hash in SCRAM-SHA-256 SCRAM-SHA-512; do # one hash per request: KRaft refuses two for one user
    java -cp "$dir/libs/*" -Dlog4j.configuration="file:$ROOT/stack/kafka/log4j.properties" kafka.admin.ConfigCommand \
      --bootstrap-server "127.0.0.1:$KAFKA_PORT" --alter --entity-type users --entity-name ads \
      --add-config "$hash=[password=ads-secret]" >>"$dir/users.log" 2>&1 ||
      die "adding Kafka's SCRAM user failed; see $dir/users.log"
  done
  touch "$dir/data/.scram-user"
}

start_kafka() {
  local dir=$STACK_DIR/kafka
  mkdir -p "$dir/data"
  kafka_certificates "$dir"
  sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#$KAFKA_PORT#g" -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
    -e "s#@SECURE_PORT@#$KAFKA_SECURE_PORT#g" -e "s#@MTLS_PORT@#$KAFKA_MTLS_PORT#g" \
    "$ROOT/stack/kafka/server.properties" >"$dir/server.properties"
  local java=(java -cp "$dir/libs/*" -Dlog4j.configuration="file:$ROOT/stack/kafka/log4j.properties")
  if [[ ! -f $dir/data/meta.properties ]]; then
    say "formatting Kafka storage in $dir/data"
    "${java[@]}" kafka.tools.StorageTool format -t "$("${java[@]}" kafka.tools.StorageTool random-uuid)" \
      -c "$dir/server.properties" >"$dir/format.log" 2>&1 || die "kafka storage format failed; see $dir/format.log"
  fi
  spawn kafka "${java[@]}" "-Xms$KAFKA_HEAP" "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true kafka.Kafka "$dir/server.properties"
}

service_port() {
  case $1 in
    postgres) echo "$POSTGRES_PORT" ;; redis) echo "$REDIS_PORT" ;;
    clickhouse) echo "$CLICKHOUSE_PORT" ;; kafka) echo "$KAFKA_PORT" ;;
  esac
}

up() {
  mkdir -p "$STACK_DIR"
  install_missing
  [[ -d $ROOT/node_modules ]] || (cd "$ROOT" && npm install) || die "npm install failed"
  local started=()
  for s in "${SERVICES[@]}"; do
    if pid=$(running_pid "$s"); then continue; fi
    local port
    port=$(service_port "$s")
    port_busy "$port" && die "$s: port $port on 127.0.0.1 is taken by another process; free it or change the URL (README: Configuration)"
    mkdir -p "$STACK_DIR/$s"
    say "starting $s on 127.0.0.1:$port"
    "start_$s"
    started+=("$s")
  done
  # A real query against each server (stack/ready.ts), with a bounded wait.
  READY_TIMEOUT_S=$READY_TIMEOUT_S KAFKA_BROKERS=$KAFKA_BROKERS CLICKHOUSE_URL=$CLICKHOUSE_URL \
    DATABASE_URL=$DATABASE_URL REDIS_URL=$REDIS_URL STACK_DIR=$STACK_DIR \
    node --import tsx "$ROOT/stack/ready.ts" $(for s in "${SERVICES[@]}"; do echo "$s=$(running_pid "$s" || echo 0)"; done) ||
    die "the stack did not become ready"
  kafka_users
  ((${#started[@]} == 0)) && say "already running" || say "up: ${started[*]}"
}

down() {
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do stop_one "${SERVICES[i]}"; done
}

status() {
  local bad=0
  for s in "${SERVICES[@]}"; do
    if pid=$(running_pid "$s"); then
      printf '%-11s running  pid %-7s 127.0.0.1:%s\n' "$s" "$pid" "$(service_port "$s")"
    else
      printf '%-11s stopped\n' "$s"; bad=1
    fi
  done
  return $bad
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
