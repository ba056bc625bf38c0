#!/bin/sh
# mkman.sh BIN VERSION TEMPLATE: prints the man page casebisect.1, the
# hand-written TEMPLATE (docs/casebisect.1.in) with its @COMMANDS@ line
# replaced by one .SS per command, each made from `BIN CMD --help`.
#
# Design note: the commands' sections are generated, not written by hand,
# because --help is where options are added (one line of a struct
# cli_option table), and a hand-kept copy of ~100 options drifts. The make
# rule regenerates the page whenever the binary is rebuilt, and the page
# is committed, so `man` works from a tarball without running anything;
# CI fails when the committed page is not what the binary generates
# (.ci/run), and tests/test_install.c checks it option by option.
set -eu
bin=$1 version=$2 template=$3

# The "commands:" block of `casebisect --help`: "  NAME  summary".
commands=$("$bin" --help | awk '/^commands:/ { on = 1; next }
	on && /^$/ { exit }
	on && $1 != "help" { print $1 }')

# One command's help as roff: usage, prose (indented lines kept as they
# are, in .nf), the options as a .TP list, the example in .nf.
section() {
	"$bin" "$1" --help | awk -v cmd="$1" '
	function esc(s) {
		gsub(/\\/, "\\e", s)
		gsub(/-/, "\\-", s)
		if (s ~ /^[.\047]/)
			s = "\\&" s
		return s
	}
	function literal(on) {
		if (on && !lit) print ".RS 2\n.nf"
		if (!on && lit) print ".fi\n.RE"
		lit = on
	}
	NR == 1 {
		sub(/^usage: casebisect [^ ]+ ?/, "")
		print ".SS \"casebisect " cmd "\""
		print "\\fBcasebisect " cmd "\\fR " esc($0)
		next
	}
	part == "" && /^$/ { literal(0); blank = 1; next }
	part == "" && /^options:$/ { literal(0); part = "options"
		print ".PP\nOptions:"; next }
	part == "" {
		if (blank) print ".PP"
		blank = 0
		if (/^  /) { literal(1); sub(/^  /, "") } else literal(0)
		print esc($0)
		next
	}
	part == "options" && /^$/ { next }
	part == "options" && /^example:$/ { part = "example"
		print ".PP\nExample:\n.RS 2\n.nf"; next }
	part == "options" {
		# "  -j, --jobs N             text": name(s), metavar, help.
		line = substr($0, 3)
		match(line, /^(-[A-Za-z], )?--[A-Za-z0-9-]+( [^ ]+)?/)
		left = substr(line, 1, RLENGTH)
		text = substr(line, RLENGTH + 1)
		sub(/^ +/, "", text)
		n = split(left, w, " ")
		item = ""
		for (i = 1; i <= n; i++) {
			if (w[i] ~ /^-/) {
				comma = sub(/,$/, "", w[i])
				item = item (i > 1 ? " " : "") "\\fB" esc(w[i]) "\\fR" (comma ? "," : "")
			} else {
				item = item " \\fI" esc(w[i]) "\\fR"
			}
		}
		print ".TP\n" item "\n" esc(text)
		next
	}
	part == "example" {
		if (/^$/) { print ".sp"; next }
		sub(/^  /, "")
		print esc($0)
	}
	END {
		literal(0)
		if (part == "example") print ".fi\n.RE"
	}'
}

while IFS= read -r line; do
	case $line in
	@COMMANDS@)
		for c in $commands; do
			section "$c"
		done ;;
	*) printf '%s\n' "$line" | sed "s/@VERSION@/$version/g" ;;
	esac
done <"$template"
