#!/usr/bin/env bash
# e2e.sh: casebisect on real nnU-Net v2 (from PyPI, on the CPU), end to end. `make test-nnunet`.
#
#  1. harness/nnunet/venv.sh: nnunetv2 and torch in a virtual environment (once per machine).
#  2. Two raw datasets written with niftilib (examples/mkcases) and preprocessed by the real
#     nnUNetv2_plan_and_preprocess (once per machine; kept beside the venv):
#     Dataset991_BadLabels, 12 cases of 32^3 with labels {0,1,2}, case_003 and case_009 hold 5;
#     Dataset992_Clean, 6 clean cases.
#  3. The stock nnUNetTrainer and casebisect's probe trainer on Dataset991: both crash, and the
#     probe's crash matches the stock one at `kernel` level (trial --target-log --match kernel).
#  4. `casebisect nnunet 991 --device cpu`: culprits exactly case_003 and case_009, the report
#     quotes nnU-Net's real error.
#  5. `casebisect nnunet 992 --device cpu`, from a `make install` copy: not_reproduced (exit 3)
#     after one pass of the probe over every case in each of its two full runs.
#  6. Throughout: the datasets are unchanged (paths, sizes, mtimes), no nnU-Net process is left.
#
# Environment: CASEBISECT_NNUNET_VENV (see venv.sh), CASEBISECT_NNUNET_DATA (where the datasets
# are kept; default beside the venv), KEEP=1 keeps the work folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
bin=$src/casebisect
launcher=$src/harness/nnunet/casebisect-nnunet-train
[ -x "$bin" ] && [ -x examples/mkcases ] || { echo "e2e.sh: run make first" >&2; exit 1; }

step() { printf '\n== %s\n' "$*"; }
fail() { echo "e2e.sh: FAIL: $*" >&2; exit 1; }

venv=$(harness/nnunet/venv.sh)
data=${CASEBISECT_NNUNET_DATA:-$(dirname "$venv")/nnunet-e2e-data-$(basename "$venv")}
export PATH="$venv/bin:$PATH"
export nnUNet_raw=$data/raw nnUNet_preprocessed=$data/preprocessed
unset nnUNet_results VIRTUAL_ENV CONDA_PREFIX
work=$(mktemp -d "${TMPDIR:-/tmp}/casebisect-nnunet-e2e.XXXXXX")
[ "${KEEP:-0}" = 1 ] && echo "work folder: $work" || trap 'rm -rf "$work"' EXIT

# nnU-Net processes still running: a trial's python, by its command line.
leftovers() {
	ps -eo pid=,args= | grep -E 'casebisect_nnunet_probe|nnUNetv2_(train|plan)|multiprocessing' |
		grep -v -E 'grep|e2e.sh' || true
}
# What a dataset is on disk: every path, size and mtime.
snapshot() { (cd "$data" && find raw preprocessed -printf '%p %s %T@ %l\n' | sort); }

step "datasets in $data"
gen="mkcases --cases 12 --size 32 --classes 3 --bad case_003=5 --bad case_009=5; --cases 6 --size 32"
if [ "$(cat "$data/.made" 2>/dev/null)" != "$gen" ]; then
	rm -rf "$data"
	mkdir -p "$data/raw" "$data/preprocessed"
	examples/mkcases --cases 12 --size 32 --classes 3 --bad case_003=5 --bad case_009=5 \
		"$data/raw/Dataset991_BadLabels"
	examples/mkcases --cases 6 --size 32 --classes 3 "$data/raw/Dataset992_Clean"
	# No --verify_dataset_integrity: it would refuse the bad labels, which is the point here.
	# -np/-npfp 2: the default pool waits ~30 s for workers on a 2-core machine.
	nnUNetv2_plan_and_preprocess -d 991 992 -c 3d_fullres -np 2 -npfp 2 \
		>"$work/preprocess.log" 2>&1 || { tail -30 "$work/preprocess.log"; fail "preprocessing"; }
	echo "$gen" >"$data/.made"
else
	echo "(made before: $gen)"
fi
before=$(snapshot)
pre=$nnUNet_preprocessed/Dataset991_BadLabels

step "the stock nnUNetTrainer on Dataset991 (worker processes, stock augmentation)"
"$bin" trial --workdir "$work/stock" --timeout 600 \
	--env nnUNet_results="$work/stock-results" --env nnUNet_n_proc_DA=2 -- \
	nnUNetv2_train Dataset991_BadLabels 3d_fullres all -device cpu >"$work/stock.txt" || true
cat "$work/stock.txt"
grep -q '^trial 1: FAIL' "$work/stock.txt" || fail "the stock trainer did not crash"
cat "$work"/stock/trials/0001/stdout.log "$work"/stock/trials/0001/stderr.log >"$work/stock-crash.log"

step "the probe trainer on the same data must crash the same way (--match kernel)"
# In the order of the cases file (casebisect puts cleared cases last): here, reversed.
ls "$pre/nnUNetPlans_3d_fullres" | sed -n 's/_seg\.b2nd$//p' | sort -r >"$work/order.txt"
"$bin" trial --workdir "$work/probe" --timeout 600 --target-log "$work/stock-crash.log" \
	--match kernel --dataset "$pre" --cases-file "$work/order.txt" --env nnUNet_n_proc_DA=0 -- \
	"$launcher" --cases-file '{cases_file}' Dataset991_BadLabels 3d_fullres all \
	-tr nnUNetTrainer_CasebisectProbe -device cpu >"$work/probe.txt" || true
cat "$work/probe.txt"
grep -q '^trial 1: FAIL' "$work/probe.txt" || fail "the probe's crash differs from the stock trainer's"
first=$(grep -m 1 '^CASEBISECT_BATCH ' "$work"/probe/trials/0001/stdout.log || true)
[ "$first" = "CASEBISECT_BATCH $(head -n 2 "$work/order.txt" | tr '\n' ' ' | sed 's/ $//')" ] ||
	fail "the probe's first batch is '$first', not the first cases of $work/order.txt"
echo "the probe's first batch follows the cases file: $first"

step "casebisect nnunet 991 --device cpu"
rc=0
"$bin" nnunet --device cpu --workdir "$work/run" 991 || rc=$?
[ "$rc" = 0 ] || fail "casebisect nnunet exited $rc, not 0"
/usr/bin/python3 - "$work/run/report.json" <<'PY' || fail "report.json"
import json, sys
r = json.load(open(sys.argv[1]))
culprits = sorted(c['case'] for c in r['culprits'])
assert r['verdict'] == 'culprits_found', r['verdict']
assert culprits == ['case_003', 'case_009'], culprits
print('report.json: verdict culprits_found, culprits', ' '.join(culprits))
PY
grep -q 'RuntimeError: index 5 is out of bounds for dimension 1 with size 3' "$work/run/report.md" ||
	fail "report.md does not quote nnU-Net's error"
grep -q '^nnunetv2: ' "$work/run/report.md" || fail "report.md lacks the nnU-Net version"

step "casebisect nnunet 992 --device cpu (a clean dataset), installed with make install"
make -s install PREFIX="$work/prefix" >/dev/null
rc=0
"$work/prefix/bin/casebisect" nnunet --device cpu --workdir "$work/clean" 992 || rc=$?
grep -q "\"$work/prefix/libexec/casebisect/nnunet/casebisect-nnunet-train\"" "$work/clean/run.json" ||
	fail "the installed casebisect did not run its installed launcher"
[ "$rc" = 3 ] || fail "casebisect nnunet on a clean dataset exited $rc, not 3 (not_reproduced)"
n=$(wc -l <"$work/clean/journal.jsonl")
[ "$n" = 2 ] || fail "a clean dataset took $n trials, not 2 full runs"
for t in "$work"/clean/trials/*/; do
	[ "$(grep -c '^CASEBISECT_PASS$' "$t/stdout.log")" = 1 ] || fail "$t: not one pass"
	seen=$(sed -n 's/^CASEBISECT_BATCH //p' "$t/stdout.log" | tr ' ' '\n' | sort -u | wc -l)
	[ "$seen" = 6 ] || fail "$t: the probe visited $seen cases, not all 6"
done
echo "not_reproduced after one probe pass over all 6 cases in each of 2 trials"

step "nothing left behind"
[ -z "$(leftovers)" ] || { leftovers; fail "nnU-Net processes left running"; }
[ "$(snapshot)" = "$before" ] || fail "the datasets changed on disk"
echo "no nnU-Net process left; $data unchanged"
printf '\ne2e.sh: PASS\n'
