#!/bin/sh
# tests/install.sh MAKE: `make install` into a temporary DESTDIR, then the
# installed casebisect used as a user would, from outside the checkout: its
# man page, its bash completion, and the demo, which must find its helpers
# in PREFIX/libexec/casebisect/ (not in the source tree); then `make
# uninstall` must leave nothing of it behind. Run by `make test`.
set -eu
make=${1:-make}
src=$(pwd)
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "test-install: $*" >&2; exit 1; }

$make --no-print-directory install DESTDIR="$d/root" PREFIX=/usr/local >/dev/null
p=$d/root/usr/local
for f in bin/casebisect share/man/man1/casebisect.1 \
	share/bash-completion/completions/casebisect \
	libexec/casebisect/toytrain libexec/casebisect/toytrain.c libexec/casebisect/mkcases \
	libexec/casebisect/nnunet/casebisect-nnunet-train; do
	[ -f "$p/$f" ] || fail "make install did not install $f"
done

# The demo from an unrelated folder: helpers from libexec, the verdict found.
mkdir "$d/elsewhere"
cd "$d/elsewhere"
"$p/bin/casebisect" demo --workdir "$d/demo" >"$d/demo.out" 2>&1 ||
	{ cat "$d/demo.out" >&2; fail "the installed demo failed"; }
grep -q 'verdict: culprits_found' "$d/demo.out" || fail "the installed demo found no culprits"
grep -q "\"$p/libexec/casebisect/toytrain" "$d/demo/run.json" ||
	fail "the installed demo did not run PREFIX/libexec/casebisect/toytrain: $(grep -o '"[^"]*toytrain[^"]*"' "$d/demo/run.json" | head -1)"
case $(grep -o '"/[^"]*toytrain[^"]*"' "$d/demo/run.json") in
*"$src"*) fail "the installed demo used the source tree's toytrain" ;;
esac
# Its bundle carries toytrain with the installed source, to rebuild it elsewhere.
cmp -s "$d/demo/bundle/tools/toytrain.c" "$src/harness/toytrain.c" ||
	fail "the installed demo's bundle lacks tools/toytrain.c (libexec/casebisect/toytrain.c)"

# man finds the installed page; bash completes from the installed binary.
groff -man -Tutf8 -P-cbou "$p/share/man/man1/casebisect.1" 2>&1 | grep -q '^   casebisect audit' ||
	fail "the installed man page does not render its commands"
out=$(PATH=$p/bin:$PATH bash -c '. "$0"; COMP_WORDS=(casebisect cla); COMP_CWORD=1; _casebisect; echo "${COMPREPLY[*]}"' \
	"$p/share/bash-completion/completions/casebisect")
[ "$out" = classify ] || fail "the installed completion gave '$out' for 'casebisect cla'"

cd "$src"
$make --no-print-directory uninstall DESTDIR="$d/root" PREFIX=/usr/local >/dev/null
left=$(find "$d/root" -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left: $left"
[ ! -e "$p/libexec/casebisect" ] || fail "make uninstall left libexec/casebisect/"
echo "test-install: make install, the installed demo, man page and completion, make uninstall: ok"
