"""Build hook for the one compiled kernel (the rest of the project is in pyproject.toml).

``protocols._native`` (``protocols/_native.c``: the LPN / EA rows of silent OT and the bit packing of
RLWE coefficients; see ``protocols/native.py``) is optional: if no C compiler is available the
install still succeeds and the callers use their numpy paths, which give identical output more
slowly.
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("protocols._native", ["protocols/_native.c"], extra_compile_args=["-O3"],
                             optional=True)])
