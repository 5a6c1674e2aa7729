"""`pip install .` at the repository root: the package of bindings/python (pyproject.toml here
names it), built by bindings/python/cargo_wheel.py like `pip install ./bindings/python`.
"""

import pathlib
import sys

from setuptools import setup

PYTHON_DIR = pathlib.Path(__file__).resolve().parent / "bindings" / "python"
sys.path.insert(0, str(PYTHON_DIR))
from cargo_wheel import SETUP_ARGUMENTS  # noqa: E402

# setuptools' build directory is bindings/python/build (gitignored, as for the other build),
# not build/ at the root, which is the Makefile's.
setup(**SETUP_ARGUMENTS, options={"build": {"build_base": str(PYTHON_DIR / "build")}})
