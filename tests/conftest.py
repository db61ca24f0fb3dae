import os

import numpy as np
import pytest

# Tests run offline: nothing may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# the runtime's numpy settings (party/tuning.py), as in the CLI the suite's processes start
from party.tuning import configure_numpy  # noqa: E402

configure_numpy()


@pytest.fixture
def rng():
    """numpy RNG for *test inputs only* (never for shares, masks or keys)."""
    return np.random.default_rng(12345)


@pytest.fixture(params=["c", "numpy"])
def native_path(request, monkeypatch):
    """Run a test on the compiled kernels (``protocols.native``) and on the numpy paths; both must
    match the test's plaintext twin.  A missing module fails where a C compiler exists (the build
    broke); only a machine without one skips the compiled variant."""
    from protocols import native

    if request.param == "numpy":
        monkeypatch.setattr(native, "kernels", None)
    else:
        _require_kernels()
    return request.param


def _require_kernels():
    """The compiled kernels; a missing module fails where a C compiler exists (the build broke),
    and only a machine without one skips."""
    from protocols import native

    if native.kernels is None:
        import shutil
        import sysconfig

        cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
        if shutil.which(cc) is None:
            pytest.skip(f"no C compiler ({cc}) on this machine: only the numpy paths exist here")
        pytest.fail("the compiled kernels (protocols._native) are missing although a C compiler is "
                    "available: reinstall (pip install -e .) — the numpy paths work but are ~3x slower")
    return native.kernels


@pytest.fixture
def aesni_kernels():
    """The compiled kernels on a CPU with AES-NI, for the hash kernels' twin tests.  Without AES-NI
    the kernels refuse to run (``native.aesni()`` is False) and only the numpy hashes exist, which
    every OT test exercises: there is no second path to compare, so those twin tests skip."""
    from protocols import native

    k = _require_kernels()
    if not native.aesni():
        pytest.skip("this CPU has no AES-NI: only the numpy hashes run here")
    return k


@pytest.fixture
def compiled_kernels():
    """For tests comparing the compiled kernels with their numpy twins directly (policy of
    :func:`native_path`)."""
    return _require_kernels()
