#!/usr/bin/env bash
# README command 2: set up (idempotent) and run the whole test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k limiter
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" test,bench
cd "$root"
workers="${NEUROMASTER_TEST_WORKERS:-2}"
exec "$root/.venv/bin/python" -m pytest -n "$workers" --dist loadgroup "$@"
