#!/usr/bin/env bash
# make test-install: `make install` into a temporary prefix, then the examples built from there: the C
# one with nothing but `pkg-config --cflags --libs kano_tokenizer` (and statically), the C++ one the
# same way, both again with CMake (tests/cmake: find_package, kano_tokenizer::kano_tokenizer and
# ::static), the Go one with -tags kano_pkgconfig; the Python one finds the library through the loader.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CC:=cc}" "${CXX:=c++}" "${GO:=go}" "${PYTHON:=python3}" "${MAKE:=make}"
: "${C_STRICT:?}" "${VERSION:?}" "${SONAME:?}" "${OUT:?}"
# CC, CXX, GO, PYTHON and C_STRICT are command lines: split into words, as make does.
read -ra cc <<<"$CC"
read -ra cxx <<<"$CXX"
read -ra go <<<"$GO"
read -ra python <<<"$PYTHON"
read -ra c_strict <<<"$C_STRICT"
# make runs this script as a command, not as a sub-make, so it gets none of make -j's jobserver:
# the makes started here (make install, cmake's) run their own instead of warning about it.
MAKEFLAGS=$(sed -E 's/ ?--jobserver-(auth|fds)=[^ ]*//' <<<"${MAKEFLAGS:-}")
export MAKEFLAGS
expected='tiktoken gpt-4o .* 10  exact'

tmp=$OUT/install-test
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
set -x

"$MAKE" --no-print-directory install PREFIX="$prefix" >/dev/null
test "$(readlink "$prefix/lib/libkano_tokenizer.so")" = "$SONAME"
readelf -d "$prefix/lib/$SONAME" | grep -q "SONAME.*\[$SONAME\]"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
test "$(pkg-config --modversion kano_tokenizer)" = "$VERSION"

# C with pkg-config, shared and static.
# shellcheck disable=SC2046 # pkg-config's flags are words
"${cc[@]}" "${c_strict[@]}" examples/c/count.c -o "$tmp/count" $(pkg-config --cflags --libs kano_tokenizer)
readelf -d "$tmp/count" | grep -q "NEEDED.*\[$SONAME\]"
LD_LIBRARY_PATH=$prefix/lib "$tmp/count" > "$tmp/out"
grep -q "$expected" "$tmp/out"
# shellcheck disable=SC2046
"${cc[@]}" "${c_strict[@]}" examples/c/count.c -o "$tmp/count_static" $(pkg-config --cflags kano_tokenizer) \
	"$(pkg-config --variable=libdir kano_tokenizer)/libkano_tokenizer.a" -lpthread -ldl -lm
if readelf -d "$tmp/count_static" | grep -q libkano_tokenizer; then exit 1; fi
"$tmp/count_static" > /dev/null

# C++ with pkg-config.
# shellcheck disable=SC2046
"${cxx[@]}" -std=c++17 -Wall -Wextra -Werror examples/cpp/count.cpp -o "$tmp/count_cpp" \
	$(pkg-config --cflags --libs kano_tokenizer)
LD_LIBRARY_PATH=$prefix/lib "$tmp/count_cpp" examples/kano-tokenizer.toml > /dev/null

# CMake: find_package, both targets, and a request for a newer major version that must fail.
cmake -S tests/cmake -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" > "$tmp/cmake.log"
cmake --build "$tmp/cmake" >> "$tmp/cmake.log"
"$tmp/cmake/count_shared" > "$tmp/out"
grep -q "$expected" "$tmp/out"
readelf -d "$tmp/cmake/count_shared" | grep -q "NEEDED.*\[$SONAME\]"
"$tmp/cmake/count_static" > "$tmp/out"
grep -q "$expected" "$tmp/out"
if readelf -d "$tmp/cmake/count_static" | grep -q libkano_tokenizer; then exit 1; fi
"$tmp/cmake/count_cpp" examples/kano-tokenizer.toml > /dev/null
if cmake -S tests/cmake -B "$tmp/cmake-too-new" -DCMAKE_PREFIX_PATH="$prefix" -DKANO_FIND_VERSION=1.0 \
	> "$tmp/cmake-too-new.log" 2>&1; then exit 1; fi
grep -q "version: $VERSION" "$tmp/cmake-too-new.log"

# Go with -tags kano_pkgconfig; Python through the system loader.
(cd examples/go && CGO_LDFLAGS="-g -O2 -Wl,-rpath,$prefix/lib" \
	"${go[@]}" build -tags kano_pkgconfig -o "$tmp/count_go" .)
"$tmp/count_go" examples/kano-tokenizer.toml > /dev/null
env -u KANO_TOKENIZER_LIBRARY LD_LIBRARY_PATH="$prefix/lib" PYTHONPATH=bindings/python \
	"${python[@]}" examples/python/count.py > /dev/null
echo "test-install: installed into a temporary prefix; C (shared and static), C++, Go and Python examples built against it and ran, and with CMake (find_package, both targets)"
