//go:build kano_pkgconfig

package kano

// -tags kano_pkgconfig: an installed library (`make install PREFIX=...`), found through
// `pkg-config --cflags --libs kano_tokenizer`; set PKG_CONFIG_PATH to PREFIX/lib/pkgconfig
// for a prefix pkg-config does not search.

// #cgo pkg-config: kano_tokenizer
import "C"
