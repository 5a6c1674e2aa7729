"""Where the library is found: KANO_TOKENIZER_LIBRARY, then beside the package, then the
system loader. Each case runs in a new interpreter with its own environment."""

import ctypes.util
import os
import shutil
import subprocess
import sys

import kano_tokenizer

LIBRARY = os.environ["KANO_TOKENIZER_LIBRARY"]
PACKAGE = os.path.dirname(kano_tokenizer.__file__)
PROBE = (
    "import kano_tokenizer as k\n"
    "try:\n"
    "    print(k.library_path()); print(k.library_version())\n"
    "    print(k.get_default_registry().resolve('tiktoken', model_name='gpt-4').count_tokens('Hello, world!').count)\n"
    "except k.LibraryNotFoundError as e:\n"
    "    print('NOT FOUND'); print(e)\n"
)


def probe(tmp_path, package_parent, **env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("KANO_TOKENIZER_LIBRARY", "LD_LIBRARY_PATH", "PYTHONPATH")}
    env["PYTHONPATH"] = str(package_parent)
    env.update(env_changes)
    run = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout.splitlines()


def copy_package(tmp_path):
    """A copy of the package without any library beside it."""
    parent = tmp_path / "site"
    shutil.copytree(PACKAGE, parent / "kano_tokenizer", ignore=shutil.ignore_patterns("__pycache__", "*.so*"))
    return parent


def test_the_environment_variable_comes_first(tmp_path):
    parent = copy_package(tmp_path)
    shutil.copy(LIBRARY, parent / "kano_tokenizer" / "libkano_tokenizer.so")  # not used: the variable wins
    out = probe(tmp_path, parent, KANO_TOKENIZER_LIBRARY=LIBRARY)
    assert out[0] == LIBRARY and out[2] == "4"


def test_a_wrong_environment_variable_is_an_error(tmp_path):
    parent = copy_package(tmp_path)
    shutil.copy(LIBRARY, parent / "kano_tokenizer" / "libkano_tokenizer.so")
    out = probe(tmp_path, parent, KANO_TOKENIZER_LIBRARY=str(tmp_path / "nowhere.so"))
    assert out[0] == "NOT FOUND"
    assert "KANO_TOKENIZER_LIBRARY" in out[1] and any("nowhere.so" in line for line in out)


def test_beside_the_package(tmp_path):
    parent = copy_package(tmp_path)
    beside = parent / "kano_tokenizer" / "libkano_tokenizer.so"
    shutil.copy(LIBRARY, beside)
    out = probe(tmp_path, parent)
    assert out[0] == str(beside) and out[2] == "4"


def test_the_system_loader(tmp_path):
    parent = copy_package(tmp_path)
    libdir = tmp_path / "lib"
    libdir.mkdir()
    # As `make install` lays it out: the SONAME file and the development link.
    shutil.copy(LIBRARY, libdir / f"libkano_tokenizer.so.{kano_tokenizer._native.MAJOR_VERSION}")
    os.symlink(f"libkano_tokenizer.so.{kano_tokenizer._native.MAJOR_VERSION}", libdir / "libkano_tokenizer.so")
    out = probe(tmp_path, parent, LD_LIBRARY_PATH=str(libdir))
    assert out[0] == f"libkano_tokenizer.so.{kano_tokenizer._native.MAJOR_VERSION}" and out[2] == "4"


def test_nowhere(tmp_path):
    out = probe(tmp_path, copy_package(tmp_path))
    if ctypes.util.find_library("kano_tokenizer") is None:
        assert out[0] == "NOT FOUND"
        assert "beside the package" in out[1] or any("beside the package" in line for line in out)
    else:  # installed on this machine: the system loader finds it
        assert out[2] == "4"
