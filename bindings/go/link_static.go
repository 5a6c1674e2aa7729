//go:build kano_static && !kano_pkgconfig

package kano

// -tags kano_static: the static library is linked into the program, which then needs no
// libkano_tokenizer.so at run time. It is found through `pkg-config kano_tokenizer-static`
// (written by `make install`, and by `make build` into target/release/pkgconfig for this
// repository): set PKG_CONFIG_PATH to PREFIX/lib/pkgconfig for a prefix pkg-config does not
// search.

// #cgo pkg-config: kano_tokenizer-static
import "C"
