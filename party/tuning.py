"""Process-wide settings of the runtime, applied by the entry points (``party`` CLI, the bench
harness, the test suite) before any large array exists.

numpy asks the kernel for transparent huge pages (``madvise(MADV_HUGEPAGE)``) on every large
allocation.  Where the kernel's THP ``defrag`` policy is ``madvise`` (a common default), each
first touch of such memory may trigger synchronous compaction: measured on the 2-core VMs this
project runs on, first-touching 1 GB took 2.4 s with the advice and 0.45 s without, and building
the COP client's prepared operands (GBs of fresh memory at session set-up) ran 2.7× faster.  The
advice is therefore off unless ``PARTY_NUMPY_HUGEPAGE=1`` (numpy's own ``NUMPY_MADVISE_HUGEPAGE``,
read when numpy is imported, is honoured when set).
"""
from __future__ import annotations

import os


def configure_numpy() -> bool:
    """Apply the huge-page choice above; returns whether numpy's advice is now on."""
    import numpy as np

    try:
        from numpy._core import multiarray as ma  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray as ma
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return bool(ma._get_madvise_hugepage())
    want = os.environ.get("PARTY_NUMPY_HUGEPAGE", "0") == "1"
    ma._set_madvise_hugepage(want)
    del np
    return want
