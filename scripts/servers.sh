# Throwaway PostgreSQL and MariaDB servers for the test suite.
# Source this file, then call `servers_start`: it starts both servers on
# free 127.0.0.1 ports in a temporary directory (as an unprivileged user
# when run as root, since the servers refuse root), exports
# TIDE_TEST_PG_URL / TIDE_TEST_MYSQL_URL (admin URLs with a password), and
# tears everything down at exit, on failure and on Ctrl-C.
# A server that fails to start is reported; the specs then fail or skip it
# (TIDE_REQUIRE_BACKENDS decides). $TIDE_TEST_SERVERS_DIR/{pg,my}-{start,stop}
# restart a server with the same settings (fault-injection specs use them).
# `tide test` (lua/tide/testing.lua) starts it the same way when it is given
# no server URL.

TIDE_SERVERS_DIR=""
TIDE_TEST_PASSWORD="tide-secret-pw"

servers_stop() {
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
