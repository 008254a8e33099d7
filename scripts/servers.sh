# Throwaway PostgreSQL and MariaDB servers for the test suite.
# Source this file, then call `servers_start`: it starts both servers on
# free 127.0.0.1 ports in a temporary directory (as an unprivileged user
# when run as root, since the servers refuse root), exports
# TIDE_TEST_PG_URL / TIDE_TEST_MYSQL_URL (admin URLs with a password), and
# tears everything down at exit, on failure and on Ctrl-C (a Galera cluster
# started with galera_start, below, too).
# A server that fails to start is reported; the specs then fail or skip it
# (TIDE_REQUIRE_BACKENDS decides). $TIDE_TEST_SERVERS_DIR/{pg,my}-{start,stop}
# restart a server with the same settings (fault-injection specs use them).
# `tide test` (lua/tide/testing.lua) starts it the same way when it is given
# no server URL.

TIDE_SERVERS_DIR=""
TIDE_TEST_PASSWORD="tide-secret-pw"

servers_stop() {
  galera_stop
  [ -n "$TIDE_SERVERS_DIR" ] && [ -d "$TIDE_SERVERS_DIR" ] || return 0
  if [ -f "$TIDE_SERVERS_DIR/pg/postmaster.pid" ]; then
    as_server "$(pg_bin)/pg_ctl" -D "$TIDE_SERVERS_DIR/pg" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  local pid
  pid=$(cat "$TIDE_SERVERS_DIR/my.pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$TIDE_SERVERS_DIR"
  TIDE_SERVERS_DIR=""
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# Runs a command as the server user (nobody when we are root).
as_server() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}

free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 20000))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}

start_pg() {
  local dir=$TIDE_SERVERS_DIR/pg bin port
  bin=$(pg_bin)
  [ -x "$bin/initdb" ] || { echo "servers: PostgreSQL is not installed"; return 1; }
  port=$(free_port)
  echo "$TIDE_TEST_PASSWORD" > "$TIDE_SERVERS_DIR/pgpw"
  chmod 644 "$TIDE_SERVERS_DIR/pgpw"
  as_server "$bin/initdb" -D "$dir" -U tide --pwfile="$TIDE_SERVERS_DIR/pgpw" -A scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >"$TIDE_SERVERS_DIR/pg-init.log" 2>&1 ||
    { cat "$TIDE_SERVERS_DIR/pg-init.log"; return 1; }
  local as="" ; [ "$(id -u)" -eq 0 ] && as="runuser -u nobody --"
  # the scripts clear LD_PRELOAD: the sanitizer pass preloads libasan,
  # which must not reach the servers
  cat > "$TIDE_SERVERS_DIR/pg-start" <<SH
#!/bin/sh
unset LD_PRELOAD
$as "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1 && exit 0
exec $as "$bin/pg_ctl" -D "$dir" -w -t 60 -l "$TIDE_SERVERS_DIR/pg.log" -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null
SH
  # a clean shutdown: the servers run without synchronous commits, so a
  # crash could lose the last transactions
  cat > "$TIDE_SERVERS_DIR/pg-stop" <<SH
#!/bin/sh
unset LD_PRELOAD
exec $as "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
SH
  chmod +x "$TIDE_SERVERS_DIR/pg-start" "$TIDE_SERVERS_DIR/pg-stop"
  "$TIDE_SERVERS_DIR/pg-start" || { cat "$TIDE_SERVERS_DIR/pg.log"; return 1; }
  export TIDE_TEST_PG_URL="postgres://tide:$TIDE_TEST_PASSWORD@127.0.0.1:$port/postgres"
  export TIDE_TEST_PG_SOCKET_DIR=$dir TIDE_TEST_PG_PORT=$port
  echo "servers: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}

start_mysql() {
  local dir=$TIDE_SERVERS_DIR/my port
  command -v mariadbd >/dev/null || command -v /usr/sbin/mariadbd >/dev/null ||
    { echo "servers: MariaDB is not installed"; return 1; }
  port=$(free_port)
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown nobody "$dir"
  as_server mariadb-install-db --no-defaults --datadir="$dir" --auth-root-authentication-method=socket \
    --skip-test-db >"$TIDE_SERVERS_DIR/my-init.log" 2>&1 || { cat "$TIDE_SERVERS_DIR/my-init.log"; return 1; }
  cat > "$TIDE_SERVERS_DIR/my-init.sql" <<SQL
CREATE USER IF NOT EXISTS 'tide'@'%' IDENTIFIED BY '$TIDE_TEST_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'tide'@'%' WITH GRANT OPTION;
SQL
  chmod 644 "$TIDE_SERVERS_DIR/my-init.sql"
  local as="" ; [ "$(id -u)" -eq 0 ] && as="runuser -u nobody --"
  cat > "$TIDE_SERVERS_DIR/my-start" <<SH
#!/bin/bash
unset LD_PRELOAD
kill -0 "\$(cat "$TIDE_SERVERS_DIR/my.pid" 2>/dev/null)" 2>/dev/null && exit 0
$as /usr/sbin/mariadbd --no-defaults --datadir="$dir" --port="$port" --bind-address=127.0.0.1 \
  --socket="$TIDE_SERVERS_DIR/my.sock" --pid-file="$TIDE_SERVERS_DIR/my.pid" \
  --init-file="$TIDE_SERVERS_DIR/my-init.sql" --skip-log-bin --innodb-flush-log-at-trx-commit=0 \
  --innodb-buffer-pool-size=256M --innodb-log-file-size=64M --max-connections=300 \
  --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
  --log-error="$TIDE_SERVERS_DIR/my.log" >/dev/null 2>&1 &
for _ in \$(seq 300); do
  [ -S "$TIDE_SERVERS_DIR/my.sock" ] && (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && exit 0
  sleep 0.1
done
exit 1
SH
  cat > "$TIDE_SERVERS_DIR/my-stop" <<SH
#!/bin/sh
unset LD_PRELOAD
pid=\$(cat "$TIDE_SERVERS_DIR/my.pid" 2>/dev/null) || exit 0
kill -TERM "\$pid" 2>/dev/null
while kill -0 "\$pid" 2>/dev/null; do sleep 0.05; done
rm -f "$TIDE_SERVERS_DIR/my.sock" "$TIDE_SERVERS_DIR/my.pid"
SH
  chmod +x "$TIDE_SERVERS_DIR/my-start" "$TIDE_SERVERS_DIR/my-stop"
  "$TIDE_SERVERS_DIR/my-start" || { cat "$TIDE_SERVERS_DIR/my.log"; return 1; }
  export TIDE_TEST_MYSQL_URL="mysql://tide:$TIDE_TEST_PASSWORD@127.0.0.1:$port/mysql"
  export TIDE_TEST_MYSQL_SOCKET=$TIDE_SERVERS_DIR/my.sock TIDE_TEST_MYSQL_PORT=$port
  echo "servers: MariaDB $(/usr/sbin/mariadbd --version | awk '{print $3}') on 127.0.0.1:$port"
}

servers_start() {
  TIDE_SERVERS_DIR=$(mktemp -d /tmp/tide-servers.XXXXXX)
  export TIDE_TEST_SERVERS_DIR=$TIDE_SERVERS_DIR
  chmod 755 "$TIDE_SERVERS_DIR"
  [ "$(id -u)" -eq 0 ] && chown nobody "$TIDE_SERVERS_DIR"
  trap servers_stop EXIT
  trap 'servers_stop; exit 130' INT
  trap 'servers_stop; exit 143' TERM
  start_pg || echo "servers: PostgreSQL did not start"
  start_mysql || echo "servers: MariaDB did not start"
}

# A throwaway 3-node MariaDB Galera cluster on 127.0.0.1, for the Galera
# spec only (its own directory and ports; the shared servers are never
# touched). `galera_start` bootstraps node 1 (--wsrep-new-cluster), then
# joins 2 and 3 (rsync SST: mariabackup is not installed everywhere); a
# node killed is noticed within about 3 s (evs timeouts); it
# exports TIDE_TEST_GALERA_URLS (three admin URLs, space-separated) and
# TIDE_TEST_GALERA_DIR, whose node{1,2,3}-{start,stop,kill} restart or kill
# one node. `galera_stop` kills the nodes and removes the directory.
TIDE_GALERA_DIR=""

galera_stop() {
  [ -n "$TIDE_GALERA_DIR" ] && [ -d "$TIDE_GALERA_DIR" ] || return 0
  local n
  for n in 3 2 1; do "$TIDE_GALERA_DIR/node$n-kill" 2>/dev/null || true; done
  rm -rf "$TIDE_GALERA_DIR"
  TIDE_GALERA_DIR=""
}

# Writes nodeN-start / -stop / -kill for node $1; node 1 bootstraps when
# started with the argument "new".
galera_node_scripts() {
  local n=$1 dir=$TIDE_GALERA_DIR/node$1 port=$2 gport=$3 ist=$4 sst=$5 peers=$6
  local as="" ; [ "$(id -u)" -eq 0 ] && as="runuser -u nobody --"
  local init=""; [ "$n" -eq 1 ] && init="--init-file=$TIDE_GALERA_DIR/init.sql"
  cat > "$TIDE_GALERA_DIR/node$n-start" <<SH
#!/bin/bash
# node$n of the test cluster; "new" bootstraps a new cluster
unset LD_PRELOAD
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
# a node already running (perhaps still joining) is only waited for
if ! kill -0 "\$(cat "$dir.pid" 2>/dev/null)" 2>/dev/null; then
new=""; [ "\${1:-}" = new ] && new=--wsrep-new-cluster
$as /usr/sbin/mariadbd --no-defaults --datadir="$dir" --port=$port --bind-address=127.0.0.1 \\
  --socket="$dir.sock" --pid-file="$dir.pid" --log-error="$dir.log" $init \\
  --skip-log-bin --innodb-flush-log-at-trx-commit=0 --innodb-buffer-pool-size=32M \\
  --innodb-log-file-size=16M --max-connections=100 --performance-schema=OFF \\
  --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \\
  --binlog-format=ROW --default-storage-engine=InnoDB --innodb-autoinc-lock-mode=2 \\
  --wsrep-on=ON --wsrep-provider=$(galera_provider) --wsrep-cluster-name=tide_test \\
  --wsrep-cluster-address=gcomm://$peers --wsrep-node-name=node$n \\
  --wsrep-node-address=127.0.0.1:$gport --wsrep-node-incoming-address=127.0.0.1:$port \\
  --wsrep-sst-method=rsync --wsrep-sst-receive-address=127.0.0.1:$sst \\
  --wsrep-provider-options="gmcast.listen_addr=tcp://127.0.0.1:$gport;ist.recv_addr=127.0.0.1:$ist;gcache.size=32M;evs.keepalive_period=PT0.5S;evs.suspect_timeout=PT2S;evs.inactive_timeout=PT3S;evs.inactive_check_period=PT0.5S;evs.install_timeout=PT3S" \\
  \$new >/dev/null 2>&1 &
echo \$! > "$dir.launcher"
fi
echo \$\$ > "$dir.starter"
trap 'rm -f "$dir.starter"' EXIT
for _ in \$(seq 600); do
  if [ -S "$dir.sock" ] && [ "\$(mariadb --no-defaults -uroot --socket="$dir.sock" -N -e "SHOW STATUS LIKE 'wsrep_ready'" 2>/dev/null | awk '{print \$2}')" = ON ]; then exit 0; fi
  sleep 0.1
done
exit 1
SH
  # the server's pid: its pid file, or (still starting) the child of the
  # runuser that launched it; the start script waiting for it is ended too
  local find_pid='pid=$(cat "'"$dir"'.pid" 2>/dev/null)
l=$(cat "'"$dir"'.launcher" 2>/dev/null)
if [ -z "$pid" ] && [ -n "$l" ]; then
  if [ "$(ps -o comm= -p "$l")" = mariadbd ]; then pid=$l; else pid=$(pgrep -P "$l" mariadbd); fi
fi
kill "$(cat "'"$dir"'.starter" 2>/dev/null)" 2>/dev/null
[ -n "$pid" ] || exit 0'
  local sig
  for sig in stop:TERM kill:KILL; do
    cat > "$TIDE_GALERA_DIR/node$n-${sig%%:*}" <<SH
#!/bin/sh
$find_pid
kill -${sig#*:} "\$pid" 2>/dev/null
while kill -0 "\$pid" 2>/dev/null; do sleep 0.05; done
rm -f "$dir.sock" "$dir.pid" "$dir.launcher" "$dir.starter"
SH
  done
  chmod +x "$TIDE_GALERA_DIR/node$n-start" "$TIDE_GALERA_DIR/node$n-stop" "$TIDE_GALERA_DIR/node$n-kill"
}

galera_provider() { ls /usr/lib/galera/libgalera_smm.so /usr/lib/libgalera_smm.so 2>/dev/null | head -1; }

galera_start() {
  command -v /usr/sbin/mariadbd >/dev/null || { echo "galera: MariaDB is not installed"; return 1; }
  [ -n "$(galera_provider)" ] || { echo "galera: libgalera_smm.so is not installed (galera-4)"; return 1; }
  command -v rsync >/dev/null || { echo "galera: rsync (the SST method) is not installed"; return 1; }
  TIDE_GALERA_DIR=$(mktemp -d /tmp/tide-galera.XXXXXX)
  chmod 755 "$TIDE_GALERA_DIR"
  [ "$(id -u)" -eq 0 ] && chown nobody "$TIDE_GALERA_DIR"
  cat > "$TIDE_GALERA_DIR/init.sql" <<SQL
CREATE USER IF NOT EXISTS 'tide'@'%' IDENTIFIED BY '$TIDE_TEST_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'tide'@'%' WITH GRANT OPTION;
SQL
  chmod 644 "$TIDE_GALERA_DIR/init.sql"
  # 12 ports (client, group, IST, SST per node), none picked twice
  local n p all=" " ports=()
  while [ "${#ports[@]}" -lt 12 ]; do
    p=$(free_port) || { echo "galera: no free port"; return 1; }
    [[ $all == *" $p "* ]] && continue
    all="$all$p "; ports+=("$p")
  done
  local peers="127.0.0.1:${ports[1]},127.0.0.1:${ports[5]},127.0.0.1:${ports[9]}" urls=""
  for n in 1 2 3; do
    local b=$(( (n - 1) * 4 ))
    galera_node_scripts "$n" "${ports[b]}" "${ports[b + 1]}" "${ports[b + 2]}" "${ports[b + 3]}" "$peers"
    urls="$urls mysql://tide:$TIDE_TEST_PASSWORD@127.0.0.1:${ports[b]}/mysql"
  done
  # node 1 gets the system tables; 2 and 3 receive them by SST
  mkdir -p "$TIDE_GALERA_DIR/node1" "$TIDE_GALERA_DIR/node2" "$TIDE_GALERA_DIR/node3"
  [ "$(id -u)" -eq 0 ] && chown nobody "$TIDE_GALERA_DIR"/node?
  as_server mariadb-install-db --no-defaults --datadir="$TIDE_GALERA_DIR/node1" \
    --auth-root-authentication-method=socket --skip-test-db >"$TIDE_GALERA_DIR/init.log" 2>&1 ||
    { cat "$TIDE_GALERA_DIR/init.log"; return 1; }
  "$TIDE_GALERA_DIR/node1-start" new || { echo "galera: node 1 did not bootstrap"; tail -20 "$TIDE_GALERA_DIR/node1.log"; return 1; }
  for n in 2 3; do
    "$TIDE_GALERA_DIR/node$n-start" || { echo "galera: node $n did not join"; tail -20 "$TIDE_GALERA_DIR/node$n.log"; return 1; }
  done
  export TIDE_TEST_GALERA_URLS="${urls# }" TIDE_TEST_GALERA_DIR=$TIDE_GALERA_DIR
  echo "galera: 3 nodes on 127.0.0.1:${ports[0]},${ports[4]},${ports[8]}"
}
