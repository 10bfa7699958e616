#!/usr/bin/env bash
# README command 1: set up (idempotent) and run the main job on built-in demo
# material. Writes into ./demo_out (override with NEUROMASTER_DEMO_OUT).
# Extra arguments go to `neuromaster demo`, e.g. scripts/demo.sh --genre edm
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" ""
out="${NEUROMASTER_DEMO_OUT:-$root/demo_out}"
exec "$root/.venv/bin/neuromaster" demo --out "$out" --force "$@"
