#!/usr/bin/env bash
# Prove a backup restores: restore it into a scratch database, migrate, compare.
#
#   scripts/check-restore.sh [--database NAME] [--keep] BACKUP.dump
#
# 1. creates the scratch database NAME (default echo_ai_restore_check_<time>); it must not
#    exist yet, so a production database is never overwritten;
# 2. pg_restore --exit-on-error --no-owner BACKUP.dump into it;
# 3. compares the restored Alembic revision and the row count of every table with
#    BACKUP.dump.manifest (written by scripts/backup.sh): any difference fails;
# 4. runs the migration command against it ($ECHO_AI_MIGRATE, default `echo-ai migrate`,
#    with DATABASE_URL pointing at the scratch database; a no-op when the backup is as new
#    as the code, otherwise it proves the backup upgrades). ECHO_AI_MIGRATE=skip skips it
#    (inside the postgres container, where echo-ai is not installed);
# 5. drops the scratch database, unless --keep.
#
# The server is given by the libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD or
# ~/.pgpass); the user needs CREATEDB. Exit status 0 only when everything matched.
set -euo pipefail

usage() { echo "usage: $0 [--database NAME] [--keep] BACKUP.dump" >&2; exit 2; }

scratch="echo_ai_restore_check_$(date -u +%Y%m%d%H%M%S)"
keep=false
while [[ $# -gt 0 ]]; do
  case $1 in
    --database) [[ $# -ge 2 ]] || usage; scratch=$2; shift 2 ;;
    --keep) keep=true; shift ;;
    -h|--help) usage ;;
    -*) usage ;;
    *) break ;;
  esac
done
[[ $# -eq 1 ]] || usage
dump=$1
[[ $scratch =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "$0: bad database name: $scratch" >&2; exit 2; }
[[ -f $dump ]] || { echo "$0: no such backup: $dump" >&2; exit 1; }
[[ -f $dump.manifest ]] || { echo "$0: no manifest $dump.manifest (scripts/backup.sh writes it)" >&2; exit 1; }
for tool in psql pg_restore createdb dropdb; do
  command -v "$tool" >/dev/null || { echo "$0: $tool not found" >&2; exit 1; }
done

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
migrate_cmd=${ECHO_AI_MIGRATE:-echo-ai migrate}

createdb "$scratch"
echo "restoring $dump into scratch database $scratch" >&2
cleanup() {
  if [[ $keep == true ]]; then
    echo "kept scratch database $scratch (drop it with: dropdb $scratch)" >&2
  else
    dropdb --if-exists "$scratch" || echo "$0: could not drop $scratch" >&2
  fi
}
trap cleanup EXIT

pg_restore --exit-on-error --no-owner --dbname="$scratch" "$dump"

restored=$(mktemp)
trap 'rm -f "$restored"; cleanup' EXIT
psql -X -q -A -t -v ON_ERROR_STOP=1 --dbname="$scratch" -f "$script_dir/manifest.sql" >"$restored"

if ! diff -u --label "backup manifest" --label "restored database" "$dump.manifest" "$restored"; then
  echo "FAILED: the restored database differs from the backup manifest" >&2
  exit 1
fi
echo "restored database matches the manifest:" >&2
sed 's/^/  /' "$restored" >&2

if [[ $migrate_cmd != skip ]]; then
  # libpq's variables, not a password in the URL: asyncpg reads PGPASSWORD / PGPASSFILE too.
  user=${PGUSER:-$(id -un)}
  host=${PGHOST:-localhost}
  if [[ $host == /* ]]; then  # a Unix socket directory
    DATABASE_URL="postgresql://$user@/$scratch?host=$host&port=${PGPORT:-5432}"
  else
    DATABASE_URL="postgresql://$user@$host:${PGPORT:-5432}/$scratch"
  fi
  export DATABASE_URL
  echo "running: $migrate_cmd (DATABASE_URL=$DATABASE_URL)" >&2
  $migrate_cmd
fi
echo "OK: $dump restores (scratch database $scratch)" >&2
