//go:build !kano_pkgconfig && !kano_static

package kano

// The default: the header and the shared library of this repository (run `make build` first;
// it also creates the libkano_tokenizer.so.MAJOR link the SONAME asks for). The rpath lets
// programs find the library without LD_LIBRARY_PATH.

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: -L${SRCDIR}/../../target/release -lkano_tokenizer -Wl,-rpath,${SRCDIR}/../../target/release
import "C"
