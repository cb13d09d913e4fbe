-- What a backup holds, one "name|value" line each: the Alembic revision, then the row
-- count of every table of the public schema (used by backup.sh and check-restore.sh).
SELECT 'alembic_version|' || coalesce(string_agg(version_num, ',' ORDER BY version_num), 'none')
FROM alembic_version;
SELECT 'rows.' || table_name || '|'
       || (xpath('/row/n/text()',
                 query_to_xml(format('SELECT count(*) AS n FROM %I.%I', table_schema, table_name),
                              false, true, '')))[1]::text
FROM information_schema.tables
WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'alembic_version'
ORDER BY table_name;
