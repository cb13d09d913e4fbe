#!/usr/bin/env bash
# Back up the Echo AI database: a custom-format dump plus a manifest of what is in it.
#
#   scripts/backup.sh [DATABASE_URL] OUTPUT.dump
#
# Writes OUTPUT.dump (pg_dump -Fc) and OUTPUT.dump.manifest: the Alembic revision and the
# exact row count of every table, taken from the same snapshot as the dump (the dump runs
# with --snapshot inside the transaction that counts), so scripts/check-restore.sh can
# prove that a restore brought back exactly what was backed up, even on a busy database.
#
# The connection is DATABASE_URL (postgresql://, postgres:// or postgresql+asyncpg://) or,
# when none is given, the usual libpq variables (PGHOST, PGPORT, PGUSER, PGDATABASE,
# PGPASSWORD or ~/.pgpass). Needs psql and pg_dump of the server's major version or newer.
set -euo pipefail
umask 077  # a backup holds password hashes and API-key digests

usage() { echo "usage: $0 [DATABASE_URL] OUTPUT.dump" >&2; exit 2; }

case $# in
  1) url=""; output=$1 ;;
  2) url=$1; output=$2 ;;
  *) usage ;;
esac
# libpq does not know SQLAlchemy's driver suffix.
url=${url/postgresql+asyncpg:\/\//postgresql://}
url=${url/postgres:\/\//postgresql://}
conn=()
[[ -n $url ]] && conn=(--dbname="$url")

for tool in psql pg_dump; do
  command -v "$tool" >/dev/null || { echo "$0: $tool not found" >&2; exit 1; }
done

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/manifest.sql
manifest_sql=$(cat "$script_dir/manifest.sql")

tmp_dump="$output.partial"
tmp_manifest="$output.manifest.partial"
dumped="$output.dumped"
trap 'rm -f "$tmp_dump" "$tmp_manifest" "$dumped"' EXIT
rm -f "$dumped"
export ECHO_AI_BACKUP_URL=$url ECHO_AI_BACKUP_FILE=$tmp_dump ECHO_AI_BACKUP_DONE=$dumped

# One psql session holds a REPEATABLE READ transaction open: it exports its snapshot,
# pg_dump (run from inside that session) dumps that snapshot, and the counts are read in
# the same transaction afterwards.
psql -X -q -A -t -v ON_ERROR_STOP=1 --output="$tmp_manifest" "${conn[@]}" <<SQL
BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
SELECT pg_export_snapshot() AS snapshot \gset
\setenv ECHO_AI_BACKUP_SNAPSHOT :snapshot
\! pg_dump -Fc --snapshot="\$ECHO_AI_BACKUP_SNAPSHOT" --file="\$ECHO_AI_BACKUP_FILE" \${ECHO_AI_BACKUP_URL:+--dbname="\$ECHO_AI_BACKUP_URL"} && touch "\$ECHO_AI_BACKUP_DONE"
$manifest_sql
COMMIT;
SQL

[[ -f $dumped ]] || { echo "$0: pg_dump failed" >&2; exit 1; }
mv "$tmp_dump" "$output"
mv "$tmp_manifest" "$output.manifest"
echo "backup written: $output ($(wc -c <"$output") bytes), manifest: $output.manifest" >&2
