#!/usr/bin/env bash
# make test-go: the Go binding's gofmt and vet, its tests under the race detector, a short benchmark
# run, and the statically linked build (-tags kano_static), which must not need the shared library;
# then the Go example vetted and built.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${GO:=go}" "${OUT:?}" "${LIB_DIR:?}"
# GO is a command line: split into words, as make does.
read -ra go <<<"$GO"
mkdir -p "$OUT"
set -x

test -z "$(gofmt -l bindings/go examples/go)" || { gofmt -l bindings/go examples/go; exit 1; }
(cd bindings/go && "${go[@]}" vet ./... && "${go[@]}" test -race -count=1 ./...)
(cd bindings/go && "${go[@]}" test -count=1 -run '^$' -bench . -benchtime 200ms .)

# Statically linked: the test binary has no libkano_tokenizer to load, and passes.
(cd bindings/go && PKG_CONFIG_PATH=$LIB_DIR/pkgconfig \
	"${go[@]}" test -c -tags kano_static -o "$OUT/kano_go_static.test" .)
if readelf -d "$OUT/kano_go_static.test" | grep -q libkano_tokenizer; then exit 1; fi
(cd bindings/go && "$OUT/kano_go_static.test" -test.count=1 \
	-test.run 'TestEveryAdapterCounts|TestErrors|TestVersion|Example')

(cd examples/go && "${go[@]}" vet . && "${go[@]}" build -o "$OUT/count_go" .)
