"""Builds rnnlab's compiled cell engine (rnnlab/engine/_cells.c); everything else is in pyproject.toml.

The extension is optional: where it cannot be compiled (no C compiler, no Python headers) the
install still succeeds and rnnlab runs its NumPy cells (``rnnlab info`` says which engine is active).
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "rnnlab.engine._cells",
    sources=["rnnlab/engine/_cells.c"],
    depends=["rnnlab/engine/_cells_impl.h"],
    extra_compile_args=["-O3", "-std=gnu11", "-pthread"],
    extra_link_args=["-pthread"],
    optional=True,
)])
