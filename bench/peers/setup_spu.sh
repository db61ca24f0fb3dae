#!/usr/bin/env bash
# Create (once) the SPU peer's own virtual environment, bench/.venv-spu, and install spu==0.9.5 there.
#
# Why a separate venv: spu 0.9.5 ships a Python 3.10/3.11 wheel that pins numpy<2 and jax<=0.4.34,
# which conflict with the project's own environment (numpy 2.x).  Our benchmark code (bench/peers/spu.py)
# only ever starts this venv's python on bench/peers/spu_worker.py as a subprocess; nothing is imported
# across the two environments.  Idempotent: re-running checks the install and exits quickly.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${SPU_VENV:-$HERE/../.venv-spu}"
PY="${SPU_PYTHON:-python3.11}"
SPU_VERSION="0.9.5"

if ! command -v "$PY" >/dev/null 2>&1; then
    echo "setup_spu.sh: $PY not found; spu==$SPU_VERSION needs Python 3.10 or 3.11 (set SPU_PYTHON=...)" >&2
    exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
VENV="$(cd "$VENV" && pwd)"
if "$VENV/bin/python" - "$SPU_VERSION" <<'PYEOF' 2>/dev/null
import sys, importlib.metadata as md
assert md.version("spu") == sys.argv[1]
import spu, spu.libspu.link, spu.utils.frontend  # noqa: F401  (import check: the wheel works here)
PYEOF
then
    echo "spu==$SPU_VERSION already installed in $VENV"
else
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    # the wheel itself pins numpy<2 and jax/jaxlib<=0.4.34; psutil is for the worker's peak-memory figure
    "$VENV/bin/python" -m pip install "spu==$SPU_VERSION" psutil
    "$VENV/bin/python" -c "import spu, spu.libspu.link, spu.utils.frontend; print('spu', spu.__version__ if hasattr(spu, '__version__') else '')"
fi
echo "SPU venv: $VENV"
echo "SPU python: $VENV/bin/python"
