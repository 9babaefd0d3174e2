#!/usr/bin/env bash
# Runs the whole suite on SQLite, then on PostgreSQL. With CRM_REQUIRE_POSTGRES=1 (CI) an
# unreachable PostgreSQL fails the run instead of skipping it.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PG_URL="${TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
status=0

echo "== static checks: ruff, bandit"
$PY -m ruff check . || status=1
$PY -m bandit -q -r crm -ll || status=1

echo "== tests on SQLite"
env -u TEST_DATABASE_URL $PY -m pytest -q -n 2 --dist loadfile -p no:cacheprovider ${PYTEST_ARGS:-} || status=1

if $PY - "$PG_URL" <<'PYEOF'
import sys, psycopg
try:
    psycopg.connect(sys.argv[1], connect_timeout=3).close()
except Exception as error:
    print(f"PostgreSQL not reachable at {sys.argv[1]}: {error}")
    sys.exit(1)
PYEOF
then
  echo "== tests on PostgreSQL"
  TEST_DATABASE_URL="$PG_URL" $PY -m pytest -q -n 2 --dist loadfile -p no:cacheprovider ${PYTEST_ARGS:-} || status=1
elif [ "${CRM_REQUIRE_POSTGRES:-0}" = "1" ]; then
  echo "FAIL: PostgreSQL is required (CRM_REQUIRE_POSTGRES=1) but not reachable"
  status=1
else
  echo "SKIPPED: the PostgreSQL run (PostgreSQL not reachable; set CRM_REQUIRE_POSTGRES=1 to fail instead)"
fi
exit $status
