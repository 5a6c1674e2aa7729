#!/usr/bin/env bash
# make test-plain-cargo: what a Rust user types first, `cargo build --release` alone in a fresh
# target directory, leaves a library a C program links against and starts with (build.rs makes
# the SONAME link); the library alone (`default-features = false`) builds without cbindgen, clap,
# indicatif; and `cargo package` packs the crate with its header.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CARGO:=cargo}" "${CC:=cc}" "${C_STRICT:?}" "${VERSION:?}" "${OUT:?}"
# CARGO, CC and C_STRICT are command lines: split into words, as make does.
read -ra cargo <<<"$CARGO"
read -ra cc <<<"$CC"
read -ra c_strict <<<"$C_STRICT"

tmp=$OUT/plain-cargo
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
set -x

CARGO_TARGET_DIR=$tmp/target "${cargo[@]}" build --release --lib --quiet
"${cc[@]}" "${c_strict[@]}" examples/c/count.c -Iinclude -L"$tmp/target/release" -lkano_tokenizer -o "$tmp/count"
LD_LIBRARY_PATH=$tmp/target/release "$tmp/count" > "$tmp/out"
grep -q 'tiktoken gpt-4o .* 10  exact' "$tmp/out"

CARGO_TARGET_DIR=$tmp/target "${cargo[@]}" check --lib --no-default-features --quiet
if "${cargo[@]}" tree --no-default-features -e normal,build | grep -E '^.* (cbindgen|clap|indicatif) '; then exit 1; fi

CARGO_TARGET_DIR=$tmp/target "${cargo[@]}" package --no-verify --allow-dirty --quiet
tar -tzf "$tmp/target/package/kano-tokenizer-$VERSION.crate" > "$tmp/crate.list"
grep -q 'include/kano_tokenizer.h' "$tmp/crate.list"
echo "test-plain-cargo: cargo build --release alone gives a library a C program starts with;" \
	"without default features the library builds with neither the C ABI nor the CLI's dependencies"
