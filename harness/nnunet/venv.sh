#!/bin/sh
# venv.sh: make, once per machine, a virtual environment holding real nnU-Net v2 and
# PyTorch from PyPI, and print its path. The end-to-end tests on real nnU-Net
# (tests/nnunet/e2e.sh, `make test-nnunet`) run in it; the system Python is never touched.
#
# Where: $CASEBISECT_NNUNET_VENV, else ${XDG_CACHE_HOME:-~/.cache}/casebisect/nnunet-<versions>.
# A second run finds the finished environment and returns at once. The versions are
# pinned so that a CI run measures casebisect, not a new nnU-Net release:
# nnunetv2 2.8.1 wants torch>=2.1.2 (not 2.9.*) and Python >= 3.10; Debian's torch is
# 1.13. PyPI's only x86_64 torch is the CUDA build: about 3.2 GB to download and 6.3 GB
# on disk, 3 to 4 minutes here. It runs on a machine without a GPU (`-device cpu`).
set -eu
NNUNET_VERSION=${NNUNET_VERSION:-2.8.1}
TORCH_VERSION=${TORCH_VERSION:-2.15.0}
PYTHON=${PYTHON:-/usr/bin/python3}
venv=${CASEBISECT_NNUNET_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/casebisect/nnunet-$NNUNET_VERSION-torch-$TORCH_VERSION}
need_kb=$((8 * 1024 * 1024))

say() { echo "venv.sh: $*" >&2; }

if [ -x "$venv/bin/nnUNetv2_train" ] && [ -f "$venv/.complete" ]; then
	echo "$venv"
	exit 0
fi
parent=$(dirname "$venv")
mkdir -p "$parent"
# One install at a time: two test runs on one machine (two checkouts, CI beside a
# developer) would otherwise delete each other's half-made folder. The second waits,
# then finds the first one's environment finished.
exec 9>"$venv.lock"
if ! flock -n 9; then
	say "another venv.sh is installing into $venv; waiting for it"
	flock 9
fi
if [ -x "$venv/bin/nnUNetv2_train" ] && [ -f "$venv/.complete" ]; then
	echo "$venv"
	exit 0
fi
free_kb=$(df -Pk "$parent" | awk 'NR == 2 { print $4 }')
if [ "$free_kb" -lt "$need_kb" ]; then
	say "only $((free_kb / 1024)) MB free under $parent; real nnU-Net and PyTorch need about 8 GB."
	say "free some space, or set CASEBISECT_NNUNET_VENV to a folder on a bigger disk."
	exit 1
fi
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
	say "$PYTHON is older than 3.10, which nnunetv2 $NNUNET_VERSION needs; set PYTHON=/path/to/python3.10+"
	exit 1
}
say "installing torch $TORCH_VERSION and nnunetv2 $NNUNET_VERSION from PyPI into $venv (about 3.2 GB, a few minutes; once per machine)"
rm -rf "$venv.partial"
"$PYTHON" -m venv "$venv.partial"
# --no-cache-dir: the 3 GB of wheels would be kept twice otherwise.
"$venv.partial/bin/pip" install --quiet --no-cache-dir --progress-bar off \
	"torch==$TORCH_VERSION" "nnunetv2==$NNUNET_VERSION" >&2
"$venv.partial/bin/python" -c 'import torch, nnunetv2.run.run_training' >&2
# A venv's scripts name their interpreter by absolute path: move the folder, then rewrite them.
rm -rf "$venv"
mv "$venv.partial" "$venv"
for f in "$venv"/bin/*; do
	[ -f "$f" ] && [ ! -L "$f" ] || continue
	head -c 2 "$f" | grep -q '#!' || continue
	sed -i "1s|^#!$venv.partial/|#!$venv/|" "$f"
done
sed -i "s|$venv.partial|$venv|g" "$venv/pyvenv.cfg" "$venv/bin/activate"* 2>/dev/null || true
"$venv/bin/nnUNetv2_train" -h >/dev/null 2>&1 || { say "$venv/bin/nnUNetv2_train does not run"; exit 1; }
touch "$venv/.complete"
echo "$venv"
