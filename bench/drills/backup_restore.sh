#!/usr/bin/env bash
# Drill 18: back up (pg_dump + the model directory) and restore into a new database and folder, then
# check every table's row count and every model file's checksum are identical. Prints one JSON line.
#
#   bench/drills/backup_restore.sh          (uses ecomsight_backup_src and ecomsight_backup_dst)
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=ecomsight_backup_src DST=ecomsight_backup_dst
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export DJANGO_SETTINGS_MODULE=ecomsight.settings.test CELERY_TASK_ALWAYS_EAGER=true
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$SRC MODEL_DIR=$WORK/models
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $SRC" -c "DROP DATABASE IF EXISTS $DST" -c "CREATE DATABASE $SRC"
.venv/bin/python manage.py migrate -v 0
.venv/bin/python manage.py simulate_shop --customers 1500 --products 150 --days 400 --seed 9 --out "$WORK/sim" >/dev/null 2>&1
for kind in customers products orders order_lines events; do
  .venv/bin/python manage.py import_data "$kind" "$WORK/sim/$kind.csv" --shop drill >/dev/null 2>&1
done
.venv/bin/python manage.py train --task churn --algorithms bgnbd,lgbm --json >/dev/null 2>&1
.venv/bin/python manage.py score --json >/dev/null 2>&1
.venv/bin/python manage.py build_recommendations --json >/dev/null 2>&1

# Backup: the database and the model directory, together.
pg_dump -h 127.0.0.1 -U postgres -Fc -d $SRC -f "$WORK/ecomsight.dump"
tar czf "$WORK/models.tgz" -C "$WORK/models" .
# Restore into a new database and a new folder.
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DST"
pg_restore -h 127.0.0.1 -U postgres -d $DST "$WORK/ecomsight.dump"
mkdir -p "$WORK/restored" && tar xzf "$WORK/models.tgz" -C "$WORK/restored"

counts() {
  psql -h 127.0.0.1 -U postgres -d "$1" -Atc "SELECT string_agg(format('%s=%s', relname, n_live_tup), ',' ORDER BY relname) FROM (SELECT c.relname, (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I', c.relname), false, true, '')))[1]::text::bigint AS n_live_tup FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE c.relkind = 'r' AND s.nspname = 'public') t"
}
A=$(counts $SRC) B=$(counts $DST)
MA=$(cd "$WORK/models" && find . -type f -exec sha256sum {} + | sort | sha256sum | cut -c1-16)
MB=$(cd "$WORK/restored" && find . -type f -exec sha256sum {} + | sort | sha256sum | cut -c1-16)
TABLES=$(echo "$A" | tr ',' '\n' | wc -l)
ROWS=$(echo "$A" | tr ',' '\n' | cut -d= -f2 | paste -sd+ | bc)
FILES=$(find "$WORK/models" -type f | wc -l)
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE $SRC" -c "DROP DATABASE $DST"
echo "{\"tables\": $TABLES, \"rows\": $ROWS, \"row_counts_identical\": $([ "$A" = "$B" ] && echo true || echo false), \"model_files\": $FILES, \"model_files_identical\": $([ "$MA" = "$MB" ] && echo true || echo false)}"
