"""Builds kano-tokenizer's wheel with libkano_tokenizer inside it (`pip install ./bindings/python`,
`pip wheel ./bindings/python`): cargo_wheel.py beside this file has the build logic, which the
repository root's setup.py (`pip install .`) shares.
"""

import pathlib
import sys

from setuptools import setup

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from cargo_wheel import SETUP_ARGUMENTS  # noqa: E402

setup(**SETUP_ARGUMENTS)
