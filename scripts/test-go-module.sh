#!/usr/bin/env bash
# make test-go-module: the Go module as a service outside this repository gets it. A git repository
# of bindings/go tagged bindings/go/vVERSION stands in for the published one (git's insteadOf sends
# github.com/kano-tokenizer/kano-tokenizer there); a module in a temporary directory `go get`s it and
# builds with -tags kano_pkgconfig and -tags kano_static against a `make install` prefix.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${GO:=go}" "${MAKE:=make}" "${VERSION:?}" "${SONAME:?}" "${OUT:?}"
# GO is a command line: split into words, as make does.
read -ra go <<<"$GO"
# make runs this script as a command, not as a sub-make, so it gets none of make -j's jobserver:
# the makes started here (make install) run their own instead of warning about it.
MAKEFLAGS=$(sed -E 's/ ?--jobserver-(auth|fds)=[^ ]*//' <<<"${MAKEFLAGS:-}")
export MAKEFLAGS
GO_MODULE=github.com/kano-tokenizer/kano-tokenizer/bindings/go

tmp=$OUT/go-module
rm -rf "$tmp"
mkdir -p "$tmp/remote" "$tmp/app"
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
set -x

"$MAKE" --no-print-directory install PREFIX="$prefix" >/dev/null
mkdir -p "$tmp/remote/bindings"
cp -r bindings/go "$tmp/remote/bindings/"
git -C "$tmp/remote" init -q
git -C "$tmp/remote" add .
git -C "$tmp/remote" -c user.name=ci -c user.email=ci@localhost commit -q -m "bindings/go $VERSION"
git -C "$tmp/remote" tag "bindings/go/v$VERSION"
printf '[url "file://%s/remote"]\n\tinsteadOf = https://github.com/kano-tokenizer/kano-tokenizer\n' "$tmp" \
	> "$tmp/gitconfig"
export GIT_CONFIG_GLOBAL="$tmp/gitconfig" GIT_CONFIG_NOSYSTEM=1 GOPRIVATE=github.com/kano-tokenizer \
	GOPROXY=off GOMODCACHE="$tmp/modcache" GOFLAGS='' PKG_CONFIG_PATH="$prefix/lib/pkgconfig"

cd "$tmp/app"
"${go[@]}" mod init example.com/service >/dev/null 2>&1
cat > main.go <<GO
package main

import (
	"fmt"

	kano "$GO_MODULE"
)

func main() {
	r, err := kano.NewRegistry()
	if err != nil {
		panic(err)
	}
	defer r.Close()
	a, err := r.Resolve("tiktoken", "gpt-4o")
	if err != nil {
		panic(err)
	}
	defer a.Close()
	c, err := a.Count("hello world")
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Count, c.IsExact)
}
GO
GOPROXY=direct "${go[@]}" get "$GO_MODULE@v$VERSION"
grep -q "$GO_MODULE v$VERSION" go.mod

# With pkg-config: the program asks for the SONAME of the installed library.
CGO_LDFLAGS="-Wl,-rpath,$prefix/lib" "${go[@]}" build -tags kano_pkgconfig -o service_shared .
readelf -d service_shared | grep -q "NEEDED.*\[$SONAME\]"
test "$(./service_shared)" = "2 true"

# Statically linked: no libkano_tokenizer at run time.
"${go[@]}" build -tags kano_static -o service_static .
if readelf -d service_static | grep -q libkano_tokenizer; then exit 1; fi
test "$(./service_static)" = "2 true"
echo "test-go-module: go get $GO_MODULE@v$VERSION from a module outside the tree; built with pkg-config and statically, both count"
