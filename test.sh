#!/usr/bin/env bash
# Set up (first run) and run the default test suite (long benchmarks live in bench/, not here).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
exec .venv/bin/python -m pytest -m "not slow" -q "$@"
