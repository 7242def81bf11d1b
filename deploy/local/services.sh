#!/usr/bin/env bash
# The real outside services rtdw works with, installed once into a cache and
# run as local processes on loopback ports: the one path users, the tests'
# harness and CI share. See deploy/local/README.md.
#
#   services.sh install NAME...     install (cached; nothing to do when present)
#   services.sh up NAME...          install, start, wait until it answers, print its address
#   services.sh down [NAME...]      stop (all running ones without NAME) and wait until gone
#   services.sh status [NAME...]    running or stopped, with addresses; exit 3 if one is stopped
#   services.sh env NAME...         `export` lines telling clients where each service is
#
# Options (any position):
#   --dir DIR               state directory (default $RTDW_SERVICES_DIR, else
#                           /tmp/rtdw-services-$UID); each service keeps
#                           pid, ports, env, log and data under DIR/NAME
#   --port NAME=PORT        the service's main port (default: free, or the last one used)
#   --port NAME.KEY=PORT    another of its ports, e.g. jaeger.otlp=4317
#   --config NAME=FILE      the service's own configuration (prometheus, jaeger)
#
# NAME: mariadb postgres kafka etcd s3 prometheus jaeger.
# Installs are cached under $RTDW_CACHE (default $HOME/.cache/rtdw).
set -euo pipefail

readonly ALL_SERVICES=(mariadb postgres kafka etcd s3 prometheus jaeger)
readonly KAFKA_VERSION=4.4.0
readonly LOG4J_VERSION=2.26.1
# The broker's pom asks for SLF4J 1.7, which does not find log4j's SLF4J 2
# provider: nothing would be logged.
readonly SLF4J_VERSION=2.0.17
# v1.75.0 is the last tag of the module that builds the Jaeger v2 binary
# checked here; later tags are not taken on trust.
readonly JAEGER_VERSION=v1.75.0
# Later versions of s3s-fs need a newer rustc than the project's.
readonly S3S_VERSION=0.14.1
# Local throwaway credentials, also printed by `env`.
readonly MARIADB_ROOT_PASSWORD=rtdw
readonly MARIADB_CDC_PASSWORD=cdc
readonly S3_ACCESS_KEY=rtdw
readonly S3_SECRET_KEY=rtdw-secret

CACHE="${RTDW_CACHE:-$HOME/.cache/rtdw}"
STATE="${RTDW_SERVICES_DIR:-/tmp/rtdw-services-$(id -u)}"
declare -A PORT_OPTION=() CONFIG_OPTION=()

die() {
  echo "services: $*" >&2
  exit 1
}
note() { echo "services: $*" >&2; }

# ---------------------------------------------------------------- install

# Installs service NAME holding its install lock, so parallel callers
# (tests) install each piece once.
install_locked() {
  mkdir -p "$CACHE"
  (
    flock 9
    "install_$1"
  ) 9>"$CACHE/install-$1.lock"
}

# Installs Debian packages, keeping the downloaded .debs in the cache. The
# packages' own init scripts are kept from starting system instances: every
# service here runs as a project-owned process.
apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  local archives="$CACHE/apt/archives"
  mkdir -p "$archives/partial"
  # Package lists younger than an hour are fresh enough.
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -60 -print -quit)" ]; then
    $sudo apt-get update -qq
  fi
  local policy=/usr/sbin/policy-rc.d placed=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    placed=1
  fi
  local status=0 log="$CACHE/apt/install-$$.log"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dir::Cache::Archives="$archives" -o DPkg::Lock::Timeout=600 "$@" >"$log" 2>&1 || status=$?
  [ -z "$placed" ] || $sudo rm -f "$policy"
  if [ "$status" -ne 0 ]; then
    tail -n 30 "$log" >&2
    die "apt-get install $* failed (log: $log)"
  fi
  rm -f "$log"
}

# The newest PostgreSQL server's bin directory.
postgres_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/postgres" ] || return 1
  echo "$dir"
}

# An executable found on PATH or in the sbin directories (not on a
# non-root PATH).
find_exe() {
  local name=$1 dir
  if command -v "$name" >/dev/null 2>&1; then
    command -v "$name"
    return
  fi
  for dir in /usr/sbin /sbin; do
    [ -x "$dir/$name" ] && echo "$dir/$name" && return
  done
  return 1
}

install_mariadb() {
  find_exe mariadbd >/dev/null && command -v mariadb >/dev/null && return
  note "installing MariaDB (apt)"
  apt_install mariadb-server mariadb-client
}

install_postgres() {
  postgres_bin >/dev/null && command -v psql >/dev/null && return
  note "installing PostgreSQL (apt)"
  apt_install postgresql postgresql-client
}

install_etcd() {
  command -v etcd >/dev/null && command -v etcdctl >/dev/null && return
  note "installing etcd (apt)"
  apt_install etcd-server etcd-client
}

install_prometheus() {
  command -v prometheus >/dev/null && command -v promtool >/dev/null && return
  note "installing Prometheus (apt)"
  apt_install prometheus
}

kafka_libs() { echo "$CACHE/kafka/$KAFKA_VERSION/libs"; }

# The broker and its runtime dependencies from Maven Central, with log4j2
# for its logging: one folder of jars, also the classpath of Java clients.
install_kafka() {
  local libs
  libs=$(kafka_libs)
  [ -f "$libs/.complete" ] && return
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
  note "installing Apache Kafka $KAFKA_VERSION (Maven Central)"
  local work="$CACHE/kafka/$KAFKA_VERSION/resolve"
  rm -rf "$work" "$libs"
  mkdir -p "$work"
  cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>rtdw.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j2-impl</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-api</artifactId>
      <version>$SLF4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
  if ! mvn -B -q -f "$work/pom.xml" -Dmaven.repo.local="$CACHE/m2" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$libs.partial" \
    >"$work/maven.log" 2>&1; then
    tail -n 30 "$work/maven.log" >&2
    die "resolving Kafka's jars with Maven failed (log: $work/maven.log)"
  fi
  mv "$libs.partial" "$libs"
  touch "$libs/.complete"
  rm -rf "$work"
}

jaeger_binary() { echo "$CACHE/jaeger/$JAEGER_VERSION/jaeger"; }

# Jaeger v2 built from the Go module proxy in a throwaway module (its own
# replace directives rule out `go install`), with the Go caches inside the
# build folder, removed once the binary is in place.
install_jaeger() {
  local binary
  binary=$(jaeger_binary)
  [ -x "$binary" ] && return
  command -v go >/dev/null || die "Go is needed to build Jaeger and is not on PATH"
  note "building Jaeger $JAEGER_VERSION with Go (several minutes)"
  local work="$CACHE/jaeger/build"
  rm -rf "$work"
  mkdir -p "$work/module" "$(dirname "$binary")"
  if ! (
    cd "$work/module"
    export GOPATH="$work/gopath" GOMODCACHE="$work/gopath/mod" GOCACHE="$work/gocache" \
      GOFLAGS="-modcacherw -buildvcs=false" GOTOOLCHAIN=auto
    go mod init rtdw.local/jaeger
    go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION"
    go build -trimpath -o "$binary.partial" github.com/jaegertracing/jaeger/cmd/jaeger
  ) >"$CACHE/jaeger/build.log" 2>&1; then
    tail -n 30 "$CACHE/jaeger/build.log" >&2
    die "building Jaeger failed (log: $CACHE/jaeger/build.log)"
  fi
  mv "$binary.partial" "$binary"
  rm -rf "$work"
}

s3_binary() {
  local candidate
  for candidate in "$(command -v s3s-fs || true)" "$HOME/.cargo/bin/s3s-fs" "$CACHE/s3s-fs/bin/s3s-fs"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] && echo "$candidate" && return
  done
  return 1
}

# s3s-fs: S3 on a local folder, checking request signatures. Debian
# packages no MinIO. Its own target directory lets an interrupted build
# resume.
install_s3() {
  s3_binary >/dev/null && return
  local cargo=cargo
  command -v cargo >/dev/null || cargo="$HOME/.cargo/bin/cargo"
  [ -x "$(command -v "$cargo")" ] || die "cargo is needed to build s3s-fs: run deploy/local/setup.sh"
  note "installing s3s-fs $S3S_VERSION (cargo, a few minutes)"
  CARGO_TARGET_DIR="$CACHE/s3s-fs/target" \
    "$cargo" install "s3s-fs@$S3S_VERSION" --features binary --locked --root "$CACHE/s3s-fs" --quiet
  rm -rf "$CACHE/s3s-fs/target"
}

install() {
  local name
  for name in "$@"; do
    install_locked "$name"
  done
}

# ---------------------------------------------------------------- state

dir_of() { echo "$STATE/$1"; }

# The value of KEY in a service's ports file.
saved_port() {
  local file
  file="$(dir_of "$1")/ports"
  [ -f "$file" ] || return 0
  sed -n "s/^$2=//p" "$file"
}

# A free TCP port on 127.0.0.1 (the kernel's pick) that none of this
# start's other ports (TAKEN_PORTS) uses.
free_port() {
  local port
  while :; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    case " ${TAKEN_PORTS:-} " in
      *" $port "*) ;;
      *)
        echo "$port"
        return
        ;;
    esac
  done
}

# Whether something listens on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Chooses the service's port KEY (`main` for its own): the one given with
# --port, else on the first attempt the one used last time if it is free,
# else a free one. Records it in PORTS and TAKEN_PORTS; sets PORTS_FIXED
# when given.
choose_port() {
  local name=$1 key=$2 attempt=$3 option port
  if [ "$key" = main ]; then option="${PORT_OPTION[$name]:-}"; else option="${PORT_OPTION[$name.$key]:-}"; fi
  if [ -n "$option" ]; then
    port=$option
    PORTS_FIXED=1
  else
    port=$(saved_port "$name" "$key")
    if [ "$attempt" -gt 1 ] || [ -z "$port" ] || port_open "$port"; then
      port=$(free_port)
    fi
  fi
  PORTS+="$key=$port"$'\n'
  TAKEN_PORTS="${TAKEN_PORTS:-} $port"
}

port_of() { sed -n "s/^$2=//p" "$(dir_of "$1")/ports"; }

pid_of() {
  local file
  file="$(dir_of "$1")/pid"
  [ -f "$file" ] && cat "$file"
}

# Whether the service's recorded process is alive.
alive() {
  local pid
  pid=$(pid_of "$1") || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# Whether any process of process group PGID remains. Zombies do not count:
# an orphaned service is reaped by PID 1 whenever it gets to it (seconds,
# in some containers).
group_alive() {
  local pids
  pids=$(pgrep -d, -g "$1") || return 1
  ps -o stat= -p "$pids" | grep -qv '^Z'
}

log_tail() {
  local log
  log="$(dir_of "$1")/log"
  echo "--- last lines of $log" >&2
  tail -n "${2:-40}" "$log" >&2 || true
}

# The user a service drops to when started as root; empty: run as we are.
service_user() {
  [ "$(id -u)" -eq 0 ] || return 0
  case $1 in
    mariadb) echo mysql ;;
    postgres) echo postgres ;;
  esac
}

# Runs "$@" as the service's user (as we are when there is none).
as_user() {
  local user=$1
  shift
  if [ -n "$user" ]; then
    setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"
  else
    "$@"
  fi
}

# Gives USER its own folder DIR, and checks that USER can reach it: the
# database servers refuse to run as root.
own_dir() {
  local user=$1 dir=$2
  mkdir -p "$dir"
  [ -n "$user" ] || return 0
  chown -R "$user:$user" "$dir"
  as_user "$user" test -x "$dir" ||
    die "$user cannot reach $dir (a parent folder is not traversable); choose --dir elsewhere, e.g. under /tmp"
}

# ---------------------------------------------------------------- services
#
# Each service NAME has:
#   NAME_ports      the keys of its ports, the main one first
#   NAME_prepare    writes its configuration, initializes data on first use
#   NAME_command    prints its command line, one word a line
#   NAME_ready      succeeds once it answers
#   NAME_after      one-time work once ready (optional)
#   NAME_env        its `export` lines
#   NAME_address    what `up` and `status` print
#   NAME_signal     the signal that stops it cleanly (default TERM)

# --- mariadb: an own instance with a row binlog and GTIDs (the CDC source)

mariadb_ports() { echo main; }
mariadb_prepare() {
  local d=$1 user
  user=$(service_user mariadb)
  own_dir "$user" "$d/data"
  own_dir "$user" "$d/binlog"
  own_dir "$user" "$d/run"
  {
    echo "[mariadbd]"
    [ -z "$user" ] || echo "user=$user"
    cat <<EOF
datadir=$d/data
socket=$d/run/mariadb.sock
pid-file=$d/run/mariadb.pid
port=$(port_of mariadb main)
bind-address=127.0.0.1
skip-name-resolve
log_bin=$d/binlog/mariadb-bin
binlog_format=ROW
binlog_row_image=FULL
binlog_row_metadata=FULL
server_id=1
gtid_domain_id=0
gtid_strict_mode=ON
log_slave_updates=ON
character-set-server=utf8mb4
collation-server=utf8mb4_unicode_ci
innodb_buffer_pool_size=128M
EOF
  } >"$d/my.cnf"
  if [ ! -d "$d/data/mysql" ]; then
    local install_db
    install_db=$(find_exe mariadb-install-db)
    if ! as_user "$user" "$install_db" --no-defaults --datadir="$d/data" --skip-test-db \
      >"$d/install-db.log" 2>&1; then
      tail -n 30 "$d/install-db.log" >&2
      die "mariadb-install-db failed"
    fi
  fi
}
mariadb_command() { printf '%s\n' "$(find_exe mariadbd)" "--defaults-file=$1/my.cnf"; }
mariadb_ready() {
  mariadb --no-defaults --socket="$1/run/mariadb.sock" -u "$(id -un)" -e 'SELECT 1' >/dev/null 2>&1
}
# Logins over TCP from 127.0.0.1: root, and the CDC user with the grants a
# binlog reader needs.
mariadb_after() {
  mariadb --no-defaults --socket="$1/run/mariadb.sock" -u "$(id -un)" <<EOF
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '$MARIADB_ROOT_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'cdc'@'127.0.0.1' IDENTIFIED BY '$MARIADB_CDC_PASSWORD';
CREATE USER IF NOT EXISTS 'cdc'@'localhost' IDENTIFIED BY '$MARIADB_CDC_PASSWORD';
GRANT SELECT, RELOAD, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'cdc'@'127.0.0.1';
GRANT SELECT, RELOAD, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'cdc'@'localhost';
EOF
}
mariadb_env() {
  local port
  port=$(port_of mariadb main)
  cat <<EOF
export RTDW_MARIADB_HOST=127.0.0.1
export RTDW_MARIADB_PORT=$port
export RTDW_MARIADB_USER=root
export RTDW_MARIADB_PASSWORD=$MARIADB_ROOT_PASSWORD
export RTDW_MARIADB_CDC_USER=cdc
export RTDW_MARIADB_CDC_PASSWORD=$MARIADB_CDC_PASSWORD
export RTDW_MARIADB_URL=mysql://root:$MARIADB_ROOT_PASSWORD@127.0.0.1:$port
EOF
}
mariadb_address() { echo "127.0.0.1:$(port_of mariadb main)"; }

# --- postgres: an own cluster, trusting local connections

postgres_ports() { echo main; }
postgres_prepare() {
  local d=$1 user
  user=$(service_user postgres)
  own_dir "$user" "$d/data"
  own_dir "$user" "$d/run"
  if [ ! -f "$d/data/PG_VERSION" ]; then
    if ! as_user "$user" "$(postgres_bin)/initdb" -D "$d/data" -U postgres -A trust -E UTF8 \
      >"$d/initdb.log" 2>&1; then
      tail -n 30 "$d/initdb.log" >&2
      die "initdb failed"
    fi
  fi
}
postgres_command() {
  local user
  user=$(service_user postgres)
  [ -z "$user" ] || printf '%s\n' setpriv "--reuid=$user" "--regid=$user" --init-groups --
  printf '%s\n' "$(postgres_bin)/postgres" -D "$1/data" -p "$(port_of postgres main)" -k "$1/run" \
    -c listen_addresses=127.0.0.1
}
postgres_ready() {
  psql -h 127.0.0.1 -p "$(port_of postgres main)" -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1
}
# Fast shutdown: TERM waits for clients to disconnect.
postgres_signal() { echo INT; }
postgres_env() {
  local port
  port=$(port_of postgres main)
  cat <<EOF
export RTDW_POSTGRES_HOST=127.0.0.1
export RTDW_POSTGRES_PORT=$port
export RTDW_POSTGRES_USER=postgres
export RTDW_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/postgres
EOF
}
postgres_address() { echo "127.0.0.1:$(port_of postgres main)"; }

# --- kafka: one combined broker and controller in KRaft mode
#
# Besides PLAINTEXT it listens with SASL_PLAINTEXT and SASL_SSL (PLAIN,
# SCRAM-SHA-256 and SCRAM-SHA-512 for user rtdw, password rtdw-secret), its
# certificate signed by a CA of its own whose PEM file `env` names.

readonly KAFKA_SASL_USER=rtdw
readonly KAFKA_SASL_PASSWORD=rtdw-secret
readonly KAFKA_STORE_PASSWORD=rtdw-store

kafka_ports() { echo main controller sasl sasl-ssl; }

# A CA and the broker's certificate (for 127.0.0.1 and localhost) in a
# PKCS12 keystore, made once per state directory with the JDK's keytool.
kafka_tls() {
  local t=$1/tls pass=$KAFKA_STORE_PASSWORD
  [ -f "$t/broker.p12" ] && return 0
  mkdir -p "$t"
  {
    keytool -genkeypair -alias ca -dname "CN=rtdw test CA" -ext bc:c -keyalg RSA -keysize 2048 \
      -validity 3650 -storetype PKCS12 -keystore "$t/ca.p12" -storepass "$pass" -noprompt &&
      keytool -exportcert -rfc -alias ca -keystore "$t/ca.p12" -storepass "$pass" -file "$t/ca.pem" &&
      keytool -genkeypair -alias broker -dname "CN=localhost" -keyalg RSA -keysize 2048 \
        -validity 3650 -storetype PKCS12 -keystore "$t/broker.p12" -storepass "$pass" -noprompt &&
      keytool -certreq -alias broker -keystore "$t/broker.p12" -storepass "$pass" -file "$t/broker.csr" &&
      keytool -gencert -alias ca -keystore "$t/ca.p12" -storepass "$pass" -infile "$t/broker.csr" \
        -ext "san=dns:localhost,ip:127.0.0.1" -ext "eku=serverAuth" -validity 3650 -rfc -outfile "$t/broker.pem" &&
      keytool -importcert -alias ca -file "$t/ca.pem" -keystore "$t/broker.p12" -storepass "$pass" -noprompt &&
      keytool -importcert -alias broker -file "$t/broker.pem" -keystore "$t/broker.p12" -storepass "$pass" -noprompt
  } >"$t/keytool.log" 2>&1 || {
    cat "$t/keytool.log" >&2
    rm -f "$t/broker.p12"
    die "making Kafka's TLS certificates failed"
  }
}

kafka_prepare() {
  local d=$1 port controller sasl sasl_ssl
  port=$(port_of kafka main)
  controller=$(port_of kafka controller)
  sasl=$(port_of kafka sasl)
  sasl_ssl=$(port_of kafka sasl-ssl)
  mkdir -p "$d/data"
  kafka_tls "$d"
  local plain="org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_SASL_USER=\"$KAFKA_SASL_PASSWORD\";"
  local scram="org.apache.kafka.common.security.scram.ScramLoginModule required;"
  cat >"$d/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller,SASL_PLAINTEXT://127.0.0.1:$sasl,SASL_SSL://127.0.0.1:$sasl_ssl
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sasl,SASL_SSL://127.0.0.1:$sasl_ssl
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=$plain
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=$scram
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$scram
listener.name.sasl_ssl.plain.sasl.jaas.config=$plain
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=$scram
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$scram
ssl.keystore.type=PKCS12
ssl.keystore.location=$d/tls/broker.p12
ssl.keystore.password=$KAFKA_STORE_PASSWORD
ssl.key.password=$KAFKA_STORE_PASSWORD
log.dirs=$d/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  cat >"$d/log4j2.properties" <<'EOF'
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = info
EOF
  if [ ! -f "$d/data/meta.properties" ]; then
    local libs cluster_id
    libs=$(kafka_libs)
    cluster_id=$(java -cp "$libs/*" kafka.tools.StorageTool random-uuid 2>"$d/format.log") || {
      cat "$d/format.log" >&2
      die "kafka-storage random-uuid failed"
    }
    local user="name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD"
    if ! java -Dlog4j2.configurationFile="$d/log4j2.properties" -cp "$libs/*" kafka.tools.StorageTool \
      format -t "$cluster_id" -c "$d/server.properties" \
      --add-scram "SCRAM-SHA-256=[$user]" --add-scram "SCRAM-SHA-512=[$user]" >"$d/format.log" 2>&1; then
      cat "$d/format.log" >&2
      die "formatting Kafka's storage failed"
    fi
  fi
}
kafka_command() {
  printf '%s\n' java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$1/log4j2.properties" -cp "$(kafka_libs)/*" kafka.Kafka "$1/server.properties"
}
kafka_ready() {
  grep -q 'Kafka Server started' "$1/log" && port_open "$(port_of kafka main)"
}
kafka_env() {
  cat <<EOF
export RTDW_KAFKA_BOOTSTRAP=127.0.0.1:$(port_of kafka main)
export RTDW_KAFKA_SASL_BOOTSTRAP=127.0.0.1:$(port_of kafka sasl)
export RTDW_KAFKA_SASL_SSL_BOOTSTRAP=127.0.0.1:$(port_of kafka sasl-ssl)
export RTDW_KAFKA_SASL_USER=$KAFKA_SASL_USER
export RTDW_KAFKA_SASL_PASSWORD=$KAFKA_SASL_PASSWORD
export RTDW_KAFKA_CA=$(dir_of kafka)/tls/ca.pem
export RTDW_KAFKA_LIBS=$(kafka_libs)
EOF
}
kafka_address() { echo "127.0.0.1:$(port_of kafka main)"; }

# --- etcd: a single-member cluster

etcd_ports() { echo main peer; }
etcd_prepare() { mkdir -p "$1/data"; }
etcd_command() {
  local client peer
  client="http://127.0.0.1:$(port_of etcd main)"
  peer="http://127.0.0.1:$(port_of etcd peer)"
  printf '%s\n' etcd --name rtdw --data-dir "$1/data" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "rtdw=$peer" --logger zap --log-level error
}
etcd_ready() {
  curl -sf "http://127.0.0.1:$(port_of etcd main)/health" 2>/dev/null | grep -q '"health":"true"'
}
etcd_env() {
  local port
  port=$(port_of etcd main)
  cat <<EOF
export RTDW_ETCD_ENDPOINT=http://127.0.0.1:$port
export RTDW_ETCD_URL=etcd://127.0.0.1:$port
export ETCDCTL_API=3
EOF
}
etcd_address() { echo "http://127.0.0.1:$(port_of etcd main)"; }

# --- s3: s3s-fs, a bucket per folder under data/

s3_ports() { echo main; }
s3_prepare() { mkdir -p "$1/data"; }
s3_command() {
  printf '%s\n' "$(s3_binary)" --host 127.0.0.1 --port "$(port_of s3 main)" \
    --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" "$1/data"
}
# A signed ListBuckets request answered (S3 wants the payload's hash
# header, which curl does not add by itself).
s3_ready() {
  curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "http://127.0.0.1:$(port_of s3 main)/" >/dev/null 2>&1
}
s3_env() {
  cat <<EOF
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
export AWS_REGION=us-east-1
export AWS_ENDPOINT=http://127.0.0.1:$(port_of s3 main)
export AWS_ALLOW_HTTP=true
export AWS_VIRTUAL_HOSTED_STYLE_REQUEST=false
export RTDW_S3_ENDPOINT=http://127.0.0.1:$(port_of s3 main)
export RTDW_S3_ROOT=$1/data
EOF
}
s3_address() { echo "http://127.0.0.1:$(port_of s3 main)"; }

# --- prometheus: the given configuration, else one scraping itself

prometheus_ports() { echo main; }
prometheus_prepare() {
  local d=$1
  mkdir -p "$d/data"
  if [ -n "${CONFIG_OPTION[prometheus]:-}" ]; then
    cp "${CONFIG_OPTION[prometheus]}" "$d/prometheus.yml"
  elif [ ! -f "$d/prometheus.yml" ]; then
    cat >"$d/prometheus.yml" <<EOF
global:
  scrape_interval: 5s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:$(port_of prometheus main)']
EOF
  fi
}
prometheus_command() {
  printf '%s\n' prometheus --config.file="$1/prometheus.yml" --storage.tsdb.path="$1/data" \
    --web.listen-address="127.0.0.1:$(port_of prometheus main)" --web.enable-lifecycle
}
prometheus_ready() { curl -sf "http://127.0.0.1:$(port_of prometheus main)/-/ready" >/dev/null 2>&1; }
prometheus_env() { echo "export RTDW_PROMETHEUS_URL=http://127.0.0.1:$(port_of prometheus main)"; }
prometheus_address() { echo "http://127.0.0.1:$(port_of prometheus main)"; }

# --- jaeger: Jaeger v2 all-in-one with memory storage, every port chosen

jaeger_ports() { echo main otlp otlp-http query-grpc health metrics; }
jaeger_prepare() {
  local d=$1
  if [ -n "${CONFIG_OPTION[jaeger]:-}" ]; then
    cp "${CONFIG_OPTION[jaeger]}" "$d/jaeger.yaml"
    return
  fi
  # The module proxy's sources carry no built UI (the query port serves a
  # placeholder page); a folder of built jaeger-ui assets can be served.
  local ui=""
  if [ -n "${RTDW_JAEGER_UI_ASSETS:-}" ]; then
    ui=$'    ui:\n      assets_path: '"$RTDW_JAEGER_UI_ASSETS"$'\n'
  fi
  cat >"$d/jaeger.yaml" <<EOF
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: basic
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: $(port_of jaeger metrics)
    logs:
      level: warn

extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:$(port_of jaeger health)
  jaeger_query:
    # Jaeger would otherwise trace itself to 127.0.0.1:4317, whatever runs
    # there, and wait 10 s on stopping for exports nobody takes.
    enable_tracing: false
    storage:
      traces: memstore
$ui    http:
      endpoint: 127.0.0.1:$(port_of jaeger main)
    grpc:
      endpoint: 127.0.0.1:$(port_of jaeger query-grpc)
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000

receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$(port_of jaeger otlp)
      http:
        endpoint: 127.0.0.1:$(port_of jaeger otlp-http)

processors:
  batch:

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
EOF
}
jaeger_command() { printf '%s\n' "$(jaeger_binary)" --config "$1/jaeger.yaml"; }
jaeger_ready() {
  curl -sf "http://127.0.0.1:$(port_of jaeger main)/api/services" >/dev/null 2>&1 &&
    port_open "$(port_of jaeger otlp)" && port_open "$(port_of jaeger otlp-http)"
}
jaeger_env() {
  cat <<EOF
export RTDW_JAEGER_OTLP=http://127.0.0.1:$(port_of jaeger otlp)
export RTDW_JAEGER_OTLP_HTTP=http://127.0.0.1:$(port_of jaeger otlp-http)
export RTDW_JAEGER_QUERY=http://127.0.0.1:$(port_of jaeger main)
EOF
}
jaeger_address() {
  echo "http://127.0.0.1:$(port_of jaeger main) (UI and query API), OTLP/gRPC http://127.0.0.1:$(port_of jaeger otlp)"
}

# ---------------------------------------------------------------- up/down

# How long a service may take to answer after its start, in seconds.
ready_timeout() {
  case $1 in
    kafka | jaeger | mariadb) echo "${RTDW_SERVICES_TIMEOUT:-120}" ;;
    *) echo "${RTDW_SERVICES_TIMEOUT:-60}" ;;
  esac
}

# Starts one service (already installed), retrying with other free ports
# when it lost a race for one.
start() {
  local name=$1 d attempt
  d=$(dir_of "$name")
  mkdir -p "$d"
  for attempt in 1 2 3; do
    PORTS="" PORTS_FIXED="" TAKEN_PORTS=""
    local key
    for key in $("${name}_ports"); do choose_port "$name" "$key" "$attempt"; done
    printf '%s' "$PORTS" >"$d/ports"
    "${name}_prepare" "$d"
    local -a argv
    mapfile -t argv < <("${name}_command" "$d")
    [ -f "$d/log" ] && mv "$d/log" "$d/log.previous"
    # A session of its own: the service's processes are one process group,
    # which `down` stops as a whole.
    setsid "${argv[@]}" >"$d/log" 2>&1 </dev/null &
    echo $! >"$d/pid"
    local deadline
    deadline=$((SECONDS + $(ready_timeout "$name")))
    while :; do
      if ! alive "$name"; then
        break
      fi
      if "${name}_ready" "$d"; then
        if declare -F "${name}_after" >/dev/null; then
          "${name}_after" "$d" >>"$d/log" 2>&1 || {
            log_tail "$name"
            stop "$name"
            die "$name started but could not be set up"
          }
        fi
        {
          "${name}_env" "$d"
          # Where its pid, ports, log and data are.
          echo "export RTDW_${name^^}_STATE=$d"
        } >"$d/env"
        return 0
      fi
      if [ "$SECONDS" -ge "$deadline" ]; then
        log_tail "$name"
        stop "$name"
        die "$name did not answer within $(ready_timeout "$name") s"
      fi
      sleep 0.1
    done
    wait "$(pid_of "$name")" 2>/dev/null || true
    rm -f "$d/pid"
    if [ -z "$PORTS_FIXED" ] && grep -qi 'address already in use' "$d/log"; then
      note "$name lost a race for a port; starting it again"
      continue
    fi
    log_tail "$name"
    die "$name exited before it answered"
  done
  log_tail "$name"
  die "$name could not get free ports"
}

up() {
  local name d
  for name in "$@"; do
    install "$name"
    d=$(dir_of "$name")
    if alive "$name" && "${name}_ready" "$d"; then
      echo "$name: running at $("${name}_address")"
      continue
    fi
    if alive "$name"; then
      log_tail "$name"
      die "$name runs (pid $(pid_of "$name")) but does not answer; stop it with: $0 down $name --dir $STATE"
    fi
    start "$name"
    echo "$name: running at $("${name}_address")"
  done
}

# Stops a service's process group: its clean-stop signal, then KILL after
# 30 s; returns once no process of the group remains.
stop() {
  local name=$1 pid signal waited=0
  pid=$(pid_of "$name") || return 0
  if [ -n "$pid" ] && group_alive "$pid"; then
    signal=TERM
    declare -F "${name}_signal" >/dev/null && signal=$("${name}_signal")
    kill "-$signal" -- "-$pid" 2>/dev/null || true
    while group_alive "$pid"; do
      waited=$((waited + 1))
      if [ "$waited" -eq 300 ]; then
        note "$name did not stop within 30 s after SIG$signal; killing it"
        kill -KILL -- "-$pid" 2>/dev/null || true
      fi
      sleep 0.1
    done
  fi
  rm -f "$(dir_of "$name")/pid" "$(dir_of "$name")/env"
}

# The services with state under the state directory.
known_services() {
  local name
  for name in "${ALL_SERVICES[@]}"; do
    [ -d "$(dir_of "$name")" ] && echo "$name"
  done
  return 0
}

down() {
  local name
  for name in "$@"; do
    if alive "$name"; then
      stop "$name"
      echo "$name: stopped"
    else
      stop "$name"
    fi
  done
}

status() {
  local name stopped=0
  for name in "$@"; do
    if alive "$name"; then
      echo "$name: running (pid $(pid_of "$name")) at $("${name}_address")"
    else
      echo "$name: stopped"
      stopped=1
    fi
  done
  [ "$stopped" -eq 0 ] || return 3
}

print_env() {
  local name
  for name in "$@"; do
    alive "$name" && [ -f "$(dir_of "$name")/env" ] || die "$name is not running (state: $(dir_of "$name"))"
    cat "$(dir_of "$name")/env"
  done
}

# ---------------------------------------------------------------- main

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

main() {
  [ $# -gt 0 ] || usage
  local action=$1
  shift
  local -a names=()
  while [ $# -gt 0 ]; do
    case $1 in
      --dir)
        [ $# -ge 2 ] || usage
        STATE=$2
        shift 2
        ;;
      --port | --config)
        [ $# -ge 2 ] && [[ $2 == *=* ]] || usage
        if [ "$1" = --port ]; then PORT_OPTION[${2%%=*}]=${2#*=}; else CONFIG_OPTION[${2%%=*}]=${2#*=}; fi
        shift 2
        ;;
      -h | --help) usage ;;
      -*) die "unknown option $1" ;;
      *)
        [[ " ${ALL_SERVICES[*]} " == *" $1 "* ]] || die "unknown service '$1' (known: ${ALL_SERVICES[*]})"
        names+=("$1")
        shift
        ;;
    esac
  done
  mkdir -p "$STATE"
  STATE=$(cd "$STATE" && pwd)
  # The database servers run as their own users and must reach their data.
  [ "$(id -u)" -ne 0 ] || chmod a+x "$STATE"
  if [ "${#names[@]}" -eq 0 ]; then
    case $action in
      down | status) mapfile -t names < <(known_services) ;;
      *) usage ;;
    esac
  fi
  case $action in
    install) install "${names[@]}" ;;
    up) up "${names[@]}" ;;
    down) down "${names[@]}" ;;
    status) status "${names[@]}" ;;
    env) print_env "${names[@]}" ;;
    *) usage ;;
  esac
}

# Parsed whole before it runs: editing this file cannot disturb a running
# instance.
{
  main "$@"
  exit
}
