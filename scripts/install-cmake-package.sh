#!/usr/bin/env bash
# make install's CMake package: kano_tokenizer-config.cmake and its version file, filled in from
# cmake/*.cmake.in into DESTDIR CMAKEDIR. The package finds the library and include directories
# relative to itself (paths from CMAKEDIR to LIBDIR and INCLUDEDIR), so it survives DESTDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DESTDIR:=}" "${CMAKEDIR:?}" "${LIBDIR:?}" "${INCLUDEDIR:?}" "${SONAME:?}" "${VERSION:?}"

install -d "$DESTDIR$CMAKEDIR"
sed -e "s|@SONAME@|$SONAME|g" \
	-e "s|@LIBDIR_FROM_CONFIG@|$(realpath -m --relative-to="$CMAKEDIR" "$LIBDIR")|g" \
	-e "s|@INCLUDEDIR_FROM_CONFIG@|$(realpath -m --relative-to="$CMAKEDIR" "$INCLUDEDIR")|g" \
	cmake/kano_tokenizer-config.cmake.in > "$DESTDIR$CMAKEDIR/kano_tokenizer-config.cmake"
sed -e "s|@VERSION@|$VERSION|g" -e "s|@VERSION_MAJOR@|${VERSION%%.*}|g" \
	-e "s|@SIZEOF_VOID_P@|$(getconf LONG_BIT | awk '{ print $1 / 8 }')|g" \
	cmake/kano_tokenizer-config-version.cmake.in > "$DESTDIR$CMAKEDIR/kano_tokenizer-config-version.cmake"
