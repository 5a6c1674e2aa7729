"""Builds kano-tokenizer's wheel with libkano_tokenizer inside it: the build logic of both
setup.py files (bindings/python/setup.py, and the repository root's for `pip install .`).

`pip install ./bindings/python`, `pip install .` at the root and `pip wheel` on either run `cargo
build --release --lib` at the repository root and copy the shared library beside the package
(`kano_tokenizer/libkano_tokenizer.so`), the second place `_native.py` looks (after
`KANO_TOKENIZER_LIBRARY`). The Python code stays pure ctypes, so one wheel serves every Python 3
(tag `py3-none-<platform>`); `auditwheel repair` gives it its manylinux tag.

Settings: `CARGO` (the cargo to run) and `CARGO_TARGET_DIR` (where cargo builds; the repository's
`target/` by default, so a `make build` done before is reused).
"""

import os
import pathlib
import shutil
import subprocess
import sys

from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def library_file_name():
    if sys.platform == "darwin":
        return "libkano_tokenizer.dylib"
    if sys.platform == "win32":
        return "kano_tokenizer.dll"
    return "libkano_tokenizer.so"


def build_library():
    """Runs cargo at the repository root; returns the path of the shared library it built."""
    manifest = ROOT / "Cargo.toml"
    if not manifest.is_file():
        sys.exit(
            f"kano-tokenizer: {manifest} is missing: the wheel is built from a checkout of the "
            "repository (pip install ./bindings/python, or pip install . at its root), where the Rust sources are"
        )
    cargo = os.environ.get("CARGO", "cargo")
    if shutil.which(cargo) is None:
        sys.exit(
            f"kano-tokenizer: `{cargo}` was not found: building the wheel needs Rust (https://rustup.rs); "
            "a wheel built elsewhere (pip wheel) installs without it"
        )
    command = [cargo, "build", "--release", "--lib", "--manifest-path", str(manifest)]
    print("kano-tokenizer: " + " ".join(command), flush=True)
    subprocess.run(command, check=True)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not target.is_absolute():
        target = ROOT / target
    built = target / "release" / library_file_name()
    if not built.is_file():
        sys.exit(f"kano-tokenizer: cargo finished but {built} is not there")
    return built


class BuildPyWithLibrary(build_py):
    """The package's Python files, and the library cargo built beside them."""

    def run(self):
        super().run()
        package_dir = pathlib.Path(self.build_lib) / "kano_tokenizer"
        package_dir.mkdir(parents=True, exist_ok=True)
        bundled = package_dir / library_file_name()
        shutil.copyfile(build_library(), bundled)
        # The release profile keeps line tables for profiling (52 MB); the wheel needs none (15 MB).
        if sys.platform.startswith("linux") and shutil.which("strip"):
            subprocess.run(["strip", "--strip-debug", str(bundled)], check=True)


class PlatformWheel(bdist_wheel):
    """A platform wheel (it holds a native library) for any Python 3: the code is ctypes only."""

    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True


# What both setup.py files pass to setuptools.setup().
SETUP_ARGUMENTS = {
    "cmdclass": {"build_py": BuildPyWithLibrary, "bdist_wheel": PlatformWheel},
    "distclass": BinaryDistribution,
}
