#!/usr/bin/env bash
# e2e.sh: casebisect on real nnU-Net v2 (from PyPI, on the CPU), end to end. `make test-nnunet`.
#
#  1. harness/nnunet/venv.sh: nnunetv2 and torch in a virtual environment (once per machine).
#  2. Three raw datasets written with niftilib (examples/mkcases) and preprocessed by the real
#     nnU-Net planner and preprocessor (once per machine; kept beside the venv):
#     Dataset991_BadLabels, 12 cases of 32^3 with labels {0,1,2}, case_003 and case_009 hold 5;
#     Dataset992_Clean, 6 clean cases;
#     Dataset993_CornerLabel, 6 cases of 96^3 planned with a 32^3 patch (27 patches a case),
#     case_004 holds 5 in a 12^3 cube at the corner far from the origin.
#  3. The stock nnUNetTrainer and casebisect's probe trainer on Dataset991: both crash, and the
#     probe's crash matches the stock one at `kernel` level (trial --target-log --match kernel).
#  4. `casebisect nnunet 991 --device cpu`: culprits exactly case_003 and case_009, the report
#     quotes nnU-Net's real error.
#     Its bundle, unpacked in another folder and run under env -i (another $HOME, no nnUNet_*
#     variables): repro.sh's probe, --stock and --from-raw each crash with the report's class.
#     `bundle --synthetic`: the raw cases de-identified, verified (repro.sh --from-raw), and its
#     tarball's repro.sh --from-raw, unpacked elsewhere under env -i, crashes the same way.
#  5. `casebisect nnunet 992 --device cpu`, from a `make install` copy: not_reproduced (exit 3)
#     after one pass of the probe over every case in each of its two full runs.
#  6. Dataset993, case_004 alone, $TRIALS times each (default 10): the one-patch probe
#     (nnUNetTrainer_CasebisectProbeOnePatch, the probe before tiling: one random patch by
#     nnU-Net's loader) misses the corner most times; the tiling probe must crash every time,
#     on the case's last patch. Prints misses out of N and the time per trial.
#  7. `casebisect nnunet 993 --device cpu`: the culprit is exactly case_004.
#  8. Throughout: the datasets are unchanged (paths, sizes, mtimes), no nnU-Net process is left.
#
# Environment: CASEBISECT_NNUNET_VENV (see venv.sh), CASEBISECT_NNUNET_DATA (where the datasets
# are kept; default beside the venv), TRIALS (step 6, default 10), KEEP=1 keeps the work folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
bin=$src/casebisect
launcher=$src/harness/nnunet/casebisect-nnunet-train
[ -x "$bin" ] && [ -x examples/mkcases ] || { echo "e2e.sh: run make first" >&2; exit 1; }

step() { printf '\n== %s\n' "$*"; }
fail() { echo "e2e.sh: FAIL: $*" >&2; exit 1; }

venv=$(harness/nnunet/venv.sh)
# What the datasets are made of: a change makes them again, in a folder of their own (named by
# its checksum), so that checkouts with other fixtures on one machine do not remove each other's.
gen="mkcases --cases 12 --size 32 --classes 3 --bad case_003=5 --bad case_009=5; --cases 6 --size 32"
gen="$gen; --cases 6 --size 96 --classes 3 --bad case_004=5 --bad-at corner, patch 32"
data=${CASEBISECT_NNUNET_DATA:-$(dirname "$venv")/nnunet-e2e-data-$(basename "$venv")-$(echo "$gen" | cksum | cut -d ' ' -f 1)}
export PATH="$venv/bin:$PATH"
export nnUNet_raw=$data/raw nnUNet_preprocessed=$data/preprocessed
unset nnUNet_results VIRTUAL_ENV CONDA_PREFIX
work=$(mktemp -d "${TMPDIR:-/tmp}/casebisect-nnunet-e2e.XXXXXX")
[ "${KEEP:-0}" = 1 ] && echo "work folder: $work" || trap 'rm -rf "$work"' EXIT

# Processes still running that this script's trials started: every trial's environment names a
# folder under $work (nnUNet_results, the view), and its children inherit it. Not by command
# line: another checkout's tests may be running nnU-Net on the same machine.
leftovers() {
	local p
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" != $$ ] && [ "${p#/proc/}" != "$BASHPID" ] || continue
		grep -qsz -F "$work/" "$p/environ" && echo "${p#/proc/} $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)"
	done
	return 0
}
# finds ID WORKDIR CASE...: `casebisect nnunet ID --device cpu` exits 0 and names exactly CASE...
finds() {
	local id=$1 dir=$2 rc=0
	shift 2
	"$bin" nnunet --device cpu --workdir "$dir" "$id" || rc=$?
	[ "$rc" = 0 ] || fail "casebisect nnunet $id exited $rc, not 0"
	/usr/bin/python3 - "$dir/report.json" "$@" <<-'PY' || fail "casebisect nnunet $id did not find exactly $*"
	import json, sys
	r = json.load(open(sys.argv[1]))
	culprits = sorted(c['case'] for c in r['culprits'])
	assert r['verdict'] == 'culprits_found', r['verdict']
	assert culprits == sorted(sys.argv[2:]), culprits
	print('report.json: verdict culprits_found, culprits', ' '.join(culprits))
	PY
}
# What a dataset is on disk: every path, size and mtime.
snapshot() { (cd "$data" && find raw preprocessed -printf '%p %s %T@ %l\n' | sort); }

step "datasets in $data"
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
	# Real-size volumes, CPU-size patches: nnU-Net plans 96^3 (the whole case) for these; a
	# 32^3 patch fits its 5-stage U-Net (strides multiply to 16) and makes 3x3x3 patches a case.
	examples/mkcases --cases 6 --size 96 --classes 3 --bad case_004=5 --bad-at corner \
		"$data/raw/Dataset993_CornerLabel"
	{ nnUNetv2_extract_fingerprint -d 993 -np 2 && nnUNetv2_plan_experiment -d 993 &&
		"$venv/bin/python" - "$nnUNet_preprocessed/Dataset993_CornerLabel/nnUNetPlans.json" <<-'PY' &&
		import json, sys
		plans = json.load(open(sys.argv[1]))
		plans['configurations']['3d_fullres']['patch_size'] = [32, 32, 32]
		json.dump(plans, open(sys.argv[1], 'w'), indent=4)
		PY
		nnUNetv2_preprocess -d 993 -c 3d_fullres -np 2; } >>"$work/preprocess.log" 2>&1 ||
		{ tail -30 "$work/preprocess.log"; fail "preprocessing Dataset993"; }
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
finds 991 "$work/run" case_003 case_009
grep -q 'RuntimeError: index 5 is out of bounds for dimension 1 with size 3' "$work/run/report.md" ||
	fail "report.md does not quote nnU-Net's error"
grep -q '^nnunetv2: ' "$work/run/report.md" || fail "report.md lacks the nnU-Net version"

step "the bundle of 991, unpacked elsewhere, run as another user: the probe, --stock, --from-raw"
# env -i: no nnUNet_* variable, no venv activated, another $HOME; only nnU-Net's bin/ on PATH,
# as a maintainer with nnU-Net installed would run it. TMPDIR keeps repro.sh's temporary
# folder under $work, where leftovers() looks.
mkdir -p "$work/elsewhere" "$work/home" "$work/tmp"
tar xzf "$work/run/bundle.tar.gz" -C "$work/elsewhere"
b=$work/elsewhere/bundle
for f in case_003 case_009; do
	[ -f "$b/dataset/nnUNet_raw/Dataset991_BadLabels/labelsTr/$f.nii.gz" ] || fail "the bundle lacks $f's raw label"
	grep -qF "dataset/nnUNet_raw/Dataset991_BadLabels/labelsTr/$f.nii.gz" "$b/README.md" ||
		fail "the bundle's README does not name $f's label file to fix"
done
! grep -rqF "$src" "$b/repro.sh" "$b/README.md" "$b/tools" || fail "the bundle names the checkout $src"
want=$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["target"]["class"])' \
	"$work/run/report.json")
for mode in --probe --stock --from-raw; do
	rc=0
	(cd "$work/elsewhere" && env -i HOME="$work/home" TMPDIR="$work/tmp" PATH="$venv/bin:/usr/bin:/bin" \
		timeout 900 bash bundle/repro.sh "$mode") >"$work/bundle$mode.log" 2>&1 || rc=$?
	grep -m 1 '^repro.sh: ' "$work/bundle$mode.log" || fail "repro.sh $mode does not say what it runs"
	[ "$rc" != 0 ] && [ "$rc" != 124 ] || { tail -30 "$work/bundle$mode.log"; fail "repro.sh $mode exited $rc: no crash"; }
	got=$("$bin" classify --json "$work/bundle$mode.log" |
		/usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["class"])' || true)
	[ "$got" = "$want" ] || { tail -30 "$work/bundle$mode.log"; fail "repro.sh $mode: $got, not $want"; }
	echo "repro.sh $mode: exit $rc, $got"
done
# (torch keeps its own cache there too, torchinductor_$USER: not repro.sh's to remove)
[ -z "$(find "$work/tmp" -maxdepth 1 -name 'casebisect-repro.*')" ] || fail "repro.sh left its temporary folder: $(ls "$work/tmp")"

step "bundle --synthetic of 991: the raw cases de-identified, verified by repro.sh --from-raw"
"$bin" bundle --synthetic "$work/run" >"$work/synthetic.txt" || { cat "$work/synthetic.txt"; fail "bundle --synthetic"; }
cat "$work/synthetic.txt"
grep -q '^synthetic repro verified: crashes with the same signature' "$work/synthetic.txt" ||
	fail "the synthetic repro of 991 is not verified"
mkdir -p "$work/elsewhere-synthetic"
tar xzf "$work/run/synthetic/synthetic-bundle.tar.gz" -C "$work/elsewhere-synthetic"
sb=$work/elsewhere-synthetic/bundle
for f in case_003 case_009; do
	[ -f "$sb/dataset/nnUNet_raw/Dataset991_BadLabels/labelsTr/$f.nii.gz" ] || fail "the synthetic bundle lacks $f's raw label"
done
[ -z "$(find "$sb" -name '*.b2nd' -o -name '*.pkl' -o -name '*.npz')" ] || fail "the synthetic bundle holds preprocessed arrays"
rc=0
(cd "$work/elsewhere-synthetic" && env -i HOME="$work/home" TMPDIR="$work/tmp" PATH="$venv/bin:/usr/bin:/bin" \
	timeout 900 bash bundle/repro.sh --from-raw) >"$work/synthetic-repro.log" 2>&1 || rc=$?
got=$("$bin" classify --json "$work/synthetic-repro.log" |
	/usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["class"])' || true)
[ "$rc" != 0 ] && [ "$got" = "$want" ] || { tail -30 "$work/synthetic-repro.log"; fail "the synthetic repro.sh --from-raw: exit $rc, $got, not $want"; }
echo "synthetic repro.sh --from-raw: exit $rc, $got"

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

step "Dataset993 (96^3, patch 32^3), case_004 alone: one-patch probe vs tiling probe, ${TRIALS:=10} trials each"
echo case_004 >"$work/culprit.txt"
pre993=$nnUNet_preprocessed/Dataset993_CornerLabel
for trainer in nnUNetTrainer_CasebisectProbeOnePatch nnUNetTrainer_CasebisectProbe; do
	mkdir "$work/$trainer"
	for i in $(seq "$TRIALS"); do
		"$bin" trial --json --workdir "$work/$trainer/$i" --timeout 600 --dataset "$pre993" \
			--cases-file "$work/culprit.txt" --env nnUNet_n_proc_DA=0 -- "$launcher" \
			--cases-file '{cases_file}' Dataset993_CornerLabel 3d_fullres all -tr "$trainer" \
			-device cpu >>"$work/$trainer.jsonl" || fail "casebisect trial ($trainer, $i)"
	done
done
/usr/bin/python3 - "$work" "$TRIALS" <<'PY' || fail "the tiling probe did not find case_004's corner every time"
import json, re, sys
work, n = sys.argv[1], int(sys.argv[2])
def trials(trainer):
    return [json.loads(line) for line in open('%s/%s.jsonl' % (work, trainer))]
def times(rs):
    t = sorted(r['duration_s'] for r in rs)
    return 'median %.1f s (%.1f..%.1f)' % (t[len(t) // 2], t[0], t[-1])
one, tiled = trials('nnUNetTrainer_CasebisectProbeOnePatch'), trials('nnUNetTrainer_CasebisectProbe')
missed = [r for r in one if r['outcome'] != 'FAIL']
print('one-patch probe: missed the culprit in %d of %d trials, %s a trial'
      % (len(missed), n, times(one)))
found = [r for r in tiled if r['outcome'] == 'FAIL' and r['class'] == 'cpu_index_error']
patches = set()
for r in tiled:
    log = open(r['stdout_log']).read()
    patches.update(re.findall(r'^casebisect probe: case_004: (\d+) patches', log, re.M))
    steps = log.count('CASEBISECT_BATCH ')
    if steps != 14:
        sys.exit('e2e: the tiling probe crashed at step %d of 14, not on the last patch (%s)'
                 % (steps, r['stdout_log']))
print('tiling probe: found the culprit in %d of %d trials, %s a trial; patches per case: %s'
      % (len(found), n, times(tiled), ' '.join(sorted(patches))))
if len(found) != n or patches != {'27'}:
    sys.exit('e2e: expected %d of %d crashes with 27 patches a case' % (n, n))
if not missed:
    sys.exit('e2e: the one-patch probe never missed: the fixture no longer shows what it is for')
PY

step "casebisect nnunet 993 --device cpu (the culprit's bad voxels in a corner)"
finds 993 "$work/corner" case_004

step "nothing left behind"
[ -z "$(leftovers)" ] || { leftovers; fail "nnU-Net processes left running"; }
[ "$(snapshot)" = "$before" ] || fail "the datasets changed on disk"
echo "no nnU-Net process left; $data unchanged"
printf '\ne2e.sh: PASS\n'
