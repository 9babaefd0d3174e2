#!/usr/bin/env bash
# Runs the whole suite on SQLite and on PostgreSQL, the two passes at the same time (each with
# its own xdist workers, databases and Redis databases: tests/redis_db.py), then prints each
# pass's output and the wall time. CRM_TEST_SERIAL=1 runs them one after the other instead.
# With CRM_REQUIRE_POSTGRES=1 (CI) an unreachable PostgreSQL fails the run instead of skipping it.
# PYTEST_ARGS adds pytest options to both passes; PYTEST_WORKERS (default 2) and PYTEST_DIST
# (default loadfile) choose the distribution.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PG_URL="${TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
WORKERS="${PYTEST_WORKERS:-2}"
DIST="${PYTEST_DIST:-loadfile}"
LOGS="$(mktemp -d)"
trap 'rm -rf "$LOGS"' EXIT
status=0
SECONDS=0

# The static checks run beside the tests (they take ~20 s of one core, mostly mypy) and are
# reported first.
static_checks() {
  local rc=0
  $PY -m ruff check . || rc=1
  $PY -m ruff format --check . || rc=1
  $PY -m bandit -q -r crm -ll || rc=1
  $PY -m mypy || rc=1
  echo "$rc" >"$LOGS/lint.rc"
}
static_checks >"$LOGS/lint.log" 2>&1 &
lint_pid=$!

pytest_pass() {  # name, then the environment for the pass
  local name=$1
  shift
  local started=$SECONDS
  env "$@" $PY -m pytest -q -n "$WORKERS" --dist "$DIST" -p no:cacheprovider ${PYTEST_ARGS:-} \
    >"$LOGS/$name.log" 2>&1
  local rc=$?
  echo "$rc $((SECONDS - started))" >"$LOGS/$name.rc"
}

report() {  # name, title
  echo "== $2"
  cat "$LOGS/$1.log"
  read -r rc took <"$LOGS/$1.rc"
  echo "-- $2: exit $rc after $((took / 60))m$((took % 60))s"
  [ "$rc" = "0" ] || status=1
}

postgres_reachable() {
  $PY - "$PG_URL" <<'PYEOF'
import sys, psycopg
try:
    psycopg.connect(sys.argv[1], connect_timeout=3).close()
except Exception as error:
    print(f"PostgreSQL not reachable at {sys.argv[1]}: {error}")
    sys.exit(1)
PYEOF
}

postgres=0
if postgres_reachable; then
  postgres=1
elif [ "${CRM_REQUIRE_POSTGRES:-0}" = "1" ]; then
  echo "FAIL: PostgreSQL is required (CRM_REQUIRE_POSTGRES=1) but not reachable"
  status=1
else
  echo "SKIPPED: the PostgreSQL run (PostgreSQL not reachable; set CRM_REQUIRE_POSTGRES=1 to fail instead)"
fi

echo "== tests on SQLite$([ $postgres = 1 ] && echo " and PostgreSQL")$([ "${CRM_TEST_SERIAL:-0}" = 1 ] || echo ", at the same time")"
# Both passes: work that is the same in both is done once (CRM_TEST_SPLIT; tests/conftest.py: the
# own-PostgreSQL tests run in the PostgreSQL pass; tests/browser/conftest.py: a journey's two
# viewports, one per pass). CRM_BROWSER_EVERY_VIEWPORT=1 runs every viewport in both passes.
sqlite_env=(-u TEST_DATABASE_URL)
[ $postgres = 1 ] && sqlite_env+=(CRM_TEST_SPLIT=sqlite)
postgres_env=(TEST_DATABASE_URL="$PG_URL" CRM_TEST_SPLIT=postgresql)
if [ "${CRM_TEST_SERIAL:-0}" = "1" ]; then
  pytest_pass sqlite "${sqlite_env[@]}"
  [ $postgres = 1 ] && pytest_pass postgres "${postgres_env[@]}"
else
  pytest_pass sqlite "${sqlite_env[@]}" &
  [ $postgres = 1 ] && pytest_pass postgres "${postgres_env[@]}" &
  wait
fi
wait "$lint_pid"
echo "== static checks (make lint): ruff, the formatter, bandit, mypy"
cat "$LOGS/lint.log"
[ "$(cat "$LOGS/lint.rc")" = "0" ] || { echo "-- static checks FAILED"; status=1; }
report sqlite "tests on SQLite"
[ $postgres = 1 ] && report postgres "tests on PostgreSQL"

echo "== wall time: $((SECONDS / 60))m$((SECONDS % 60))s ($([ $status = 0 ] && echo passed || echo FAILED))"
exit $status
