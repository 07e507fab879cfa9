#!/usr/bin/env bash
# Starts PostgreSQL 15 (Debian's package, installed if missing) and creates an empty test
# database with a crm role, then prints the URL the tests take as CRM_TEST_POSTGRES_URL.
# PostgreSQL refuses to run as root: the cluster runs as the postgres user.
#
#   export CRM_TEST_POSTGRES_URL=$(bash scripts/postgres-test-db.sh)
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null || [ ! -d /usr/lib/postgresql/15 ]; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >&2
fi
if ! pg_lsclusters 15 main >/dev/null 2>&1; then
  pg_createcluster 15 main >&2
fi
if ! grep -q online <<<"$(pg_lsclusters 15 main)"; then
  pg_ctlcluster --skip-systemctl-redirect 15 main start >&2
fi
for _ in $(seq 1 50); do
  su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break
  sleep 0.2
done
su postgres -c "psql -q -v ON_ERROR_STOP=1" >&2 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crm') THEN
    CREATE ROLE crm LOGIN PASSWORD 'crm' CREATEDB;
  END IF;
END $$;
DROP DATABASE IF EXISTS crm_test WITH (FORCE);
CREATE DATABASE crm_test OWNER crm;
SQL
echo "postgres://crm:crm@127.0.0.1:5432/crm_test"
