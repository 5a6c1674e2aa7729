//go:build kano_static && !kano_pkgconfig

package kano

// -tags kano_static: the static library of this repository is linked into the program, which
// then needs no libkano_tokenizer.so at run time.

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: ${SRCDIR}/../../target/release/libkano_tokenizer.a -lpthread -ldl -lm
import "C"
