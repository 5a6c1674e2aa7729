#!/usr/bin/env bash
# make test-c and test-cpp: the code blocks the docs mark, made into programs the Makefile compiles
# and runs, so the README's snippets and the docs' fragments stay code that builds and counts.
# Usage: doc-snippets.sh c|cpp FILE (the block after `<!-- snippet: c ` or `cpp`), or
#        doc-snippets.sh cpp-fragments FILE... (every block after `<!-- fragment: cpp`); to stdout.
set -euo pipefail

# The first fenced block after the first line matching the awk pattern $1, in file $2.
first_block() {
	awk "$1"' { on = 1; next } on && /^```/ { if (code) exit; code = 1; next } code' "$2"
}

case "${1:-}" in
c)
	# The README's C snippet: its #include lines, then the rest as the body of main().
	body=$(first_block '/<!-- snippet: c /' "$2")
	test -n "$body" || { echo "$2 has no C snippet" >&2; exit 1; }
	echo '#include <stdio.h>'
	echo '#include <string.h>'
	grep '^#include' <<<"$body" || true
	echo 'int main(void) {'
	grep -v '^#include' <<<"$body" || true
	echo 'return 0; }'
	;;
cpp)
	# The README's C++ snippet, a whole program as it stands.
	program=$(first_block '/<!-- snippet: cpp/' "$2")
	test -n "$program" || { echo "$2 has no C++ snippet" >&2; exit 1; }
	printf '%s\n' "$program"
	;;
cpp-fragments)
	# Each fragment in its own block of one main() that has a registry and an adapter.
	shift
	fragments=$(awk '/<!-- fragment: cpp/ { on = 1; next } on && /^```/ { if (code) { print "}"; on = 0; code = 0 }
		else { print "{"; code = 1 } next } on && code' "$@")
	if [ "$(grep -c '^{$' <<<"$fragments")" -lt 3 ]; then
		echo "$(printf '%s or ' "$@" | sed 's/ or $//') lacks its C++ fragments" >&2
		exit 1
	fi
	echo '#include <iostream>'
	echo '#include <string>'
	echo '#include <vector>'
	echo '#include <kano_tokenizer.hpp>'
	echo 'int main() {'
	echo 'kano::Registry registry;'
	echo 'kano::Adapter adapter = registry.resolve("tiktoken", "gpt-4o");'
	printf '%s\n' "$fragments"
	echo '}'
	;;
*)
	echo "usage: $0 c|cpp FILE, or $0 cpp-fragments FILE..." >&2
	exit 2
	;;
esac
