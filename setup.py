"""Build hook for the one compiled kernel (the rest of the project is in pyproject.toml).

``protocols.ot._lpn`` (the LPN expansion's inner loop, ``protocols/ot/_lpn.c``) is optional: if no
C compiler is available the install still succeeds and ``protocols.ot.ferret`` uses its numpy
path, which gives identical output more slowly.
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("protocols.ot._lpn", ["protocols/ot/_lpn.c"], extra_compile_args=["-O3"],
                             optional=True)])
