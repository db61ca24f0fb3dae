"""party/tuning.py: numpy's huge-page advice is off by default and the opt-in is honoured."""
import os
import subprocess
import sys


def _state(env: dict) -> str:
    code = ("from party.tuning import configure_numpy; from numpy._core import multiarray as ma; "
            "configure_numpy(); print(ma._get_madvise_hugepage())")
    e = {k: v for k, v in os.environ.items() if k not in ("NUMPY_MADVISE_HUGEPAGE", "PARTY_NUMPY_HUGEPAGE")}
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True, check=True).stdout.strip()


def test_hugepage_advice_default_off_and_opt_in():
    assert _state({}) == "False"
    assert _state({"PARTY_NUMPY_HUGEPAGE": "1"}) == "True"
    assert _state({"NUMPY_MADVISE_HUGEPAGE": "1"}) == "True"  # numpy's own variable wins
