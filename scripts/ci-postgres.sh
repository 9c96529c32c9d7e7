#!/usr/bin/env bash
# ci-postgres.sh: a PostgreSQL server for the tests that need one.
#
# Installs PostgreSQL from Debian's packages when it is missing (as root), then
# starts a throwaway cluster of its own -- not the system's "main" cluster --
# listening on 127.0.0.1 only, with trust authentication for the postgres
# user, owned by the postgres system user (or by you when not root). A cluster
# that already runs is reused, so calling this twice is cheap.
#
# It prints the server's URL on stdout (progress goes to stderr), ready for
# the tests (host-test/pgtest reads OORE_TEST_POSTGRES_URL):
#
#   export OORE_TEST_POSTGRES_URL="$(scripts/ci-postgres.sh)"
#   go test ./host-test/...
#
#   scripts/ci-postgres.sh stop     # stop the cluster (its files stay)
#   scripts/ci-postgres.sh url      # print the URL without starting anything
#
# Settings (environment): OORE_PG_PORT (default 55432), OORE_PG_DIR (default
# ${TMPDIR:-/tmp}/oore-postgres-<port>). The cluster is for tests: never point
# a real installation at it.
set -euo pipefail

port="${OORE_PG_PORT:-55432}"
dir="${OORE_PG_DIR:-${TMPDIR:-/tmp}/oore-postgres-${port}}"
url="postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable"

log() { echo "ci-postgres: $*" >&2; }

bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then
    echo "$d"
    return
  fi
  if command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  fi
}

install_postgres() {
  if [ "$(id -u)" -ne 0 ]; then
    log "PostgreSQL is not installed and installing it needs root: sudo apt-get install -y postgresql"
    exit 1
  fi
  log "installing PostgreSQL from Debian's packages"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
}

# as_owner runs a command as the cluster's owner: postgres when we are root
# (initdb and the server refuse to run as root), else ourselves.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "${1:-start}" in
url)
  echo "$url"
  exit 0
  ;;
stop)
  bin="$(bindir)"
  if [ -n "$bin" ] && [ -f "$dir/PG_VERSION" ]; then
    as_owner "$bin/pg_ctl" -D "$dir" -m fast -w stop >&2 || true
  fi
  exit 0
  ;;
start) ;;
*)
  log "usage: $0 [start|stop|url]"
  exit 2
  ;;
esac

bin="$(bindir)"
if [ -z "$bin" ]; then
  install_postgres
  bin="$(bindir)"
  [ -n "$bin" ] || { log "PostgreSQL installed but initdb not found"; exit 1; }
fi

start_server() {
  log "starting PostgreSQL ($("$bin/postgres" --version)) on 127.0.0.1:${port}"
  as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >&2 ||
    { log "start failed; the server's log:"; tail -n 30 "$dir/server.log" >&2 || true; exit 1; }
}

# ready waits up to $1 half-seconds for the server to accept connections.
ready() {
  for _ in $(seq 1 "$1"); do
    if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; then
      return 0
    fi
    sleep 0.5
  done
  return 1
}

if as_owner "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
  log "reusing the cluster running in $dir"
  if ! ready 10; then
    # A server that was killed can look alive for a moment: start it again.
    log "it does not answer; restarting it"
    as_owner "$bin/pg_ctl" -D "$dir" -m immediate -w stop >&2 || true
    start_server
  fi
else
  if [ ! -f "$dir/PG_VERSION" ]; then
    log "creating a test cluster in $dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    chmod 0700 "$dir"
    if [ "$(id -u)" -eq 0 ]; then
      chown postgres:postgres "$dir"
    fi
    as_owner "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
    # Loopback only, a socket inside the cluster's folder, room for several
    # hosts and parallel test packages. fsync off: a throwaway test cluster
    # need not survive an operating-system crash, and creating a database
    # per test is three times faster without it (transactions stay atomic,
    # and committed data survives any process being killed).
    cat >>"$dir/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = ${port}
unix_socket_directories = '${dir}'
max_connections = 300
fsync = off
EOF
  fi
  start_server
fi

if ready 120; then
  echo "$url"
  exit 0
fi
log "PostgreSQL did not answer on 127.0.0.1:${port}"
exit 1
