#!/usr/bin/env bash
# GPU check for a lent device machine: provoke the real CUDA failures the
# classifier must know (device-side assert from an out-of-range label in
# cross_entropy and in the one-hot scatter, CUDA OOM), keep each raw log
# under $OUT (commit them as tests/logs/gpu-*.log: real GPU output is rare),
# and classify each with ./casebisect; run the demo on the GPU (the toy
# trainer's CUDA build), the PyTorch trainer, and real nnU-Net (stock trainer
# and casebisect nnunet) where nnunetv2 is installed. Runs on the CPU too: then it says
# that no GPU was found and captures nothing. Usage:
#   OUT=/tmp/out harness/gpu-check.sh        (PYTHON=... to pick a python)
set -u
out=${OUT:-$(mktemp -d)}
python=${PYTHON:-python3}
mkdir -p "$out"
cd "$(dirname "$0")/.." || exit 1

{ nvidia-smi || echo "nvidia-smi: not found"; } > "$out/nvidia-smi.txt" 2>&1
# On a bare device machine the binaries and their libraries travel
# (harness/gpu-libs.sh); elsewhere, build.
if [ -d build/gpu-libs ] && [ -x casebisect ]; then
	export LD_LIBRARY_PATH=$PWD/build/gpu-libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
else
	make -s >/dev/null || exit 1
fi
# The devices and a health probe, then the demo end to end with the toy
# trainer's CUDA build (a real device-side assert in a gather kernel): the
# verdict must name case_013 and case_042; keep a failing trial's log.
./casebisect gpus --probe > "$out/gpus-probe.txt" 2>&1
cat "$out/gpus-probe.txt"
./casebisect demo --workdir "$out/demo" > "$out/demo.txt" 2>&1
echo "demo exit=$?" >> "$out/demo.txt"
cat "$out/demo.txt"
cp "$out"/demo/trials/0001/stderr.log "$out/gpu-toytrain-cuda-assert.log" 2>/dev/null
./casebisect classify "$out/gpu-toytrain-cuda-assert.log"
rm -rf "$out/demo/dataset" "$out/demo/bundle" "$out/demo/bundle.tar.gz"
# Real nnU-Net on CUDA, where that python has nnunetv2 (a device machine has no
# network, and nnunetv2's dependencies are ~300 MB of wheels: too many to carry).
# The stock nnUNetTrainer's real device-side assert, then casebisect nnunet.
# GPU_CHECK_NNUNET_DEVICE=cpu runs this part on a machine without a GPU (to test
# the script). Needs nnUNetv2_* beside that python.
check_nnunet() {
	local dev=$1 pybin nn
	if ! "$python" -c 'import nnunetv2' > "$out/nnunet-probe.txt" 2>&1; then
		echo "gpu-check: no nnunetv2 for $python: nnU-Net not checked" | tee -a "$out/nnunet-probe.txt"
		return
	fi
	pybin=$(dirname "$(command -v "$python")")
	nn=$out/nnunet && rm -rf "$nn" && mkdir -p "$nn/raw" "$nn/pp"
	examples/mkcases --cases 12 --size 32 --bad case_003=5 --bad case_009=5 \
		"$nn/raw/Dataset991_BadLabels" >/dev/null
	export PATH="$pybin:$PATH" nnUNet_raw=$nn/raw nnUNet_preprocessed=$nn/pp
	timeout 240 nnUNetv2_plan_and_preprocess -d 991 -c 3d_fullres -np 4 -npfp 4 \
		> "$out/nnunet-preprocess.txt" 2>&1 || tail -20 "$out/nnunet-preprocess.txt"
	./casebisect trial --workdir "$nn/stock" --timeout 180 --env nnUNet_results="$nn/res" -- \
		nnUNetv2_train Dataset991_BadLabels 3d_fullres all -device "$dev" > "$out/nnunet-stock.txt" 2>&1
	cat "$out/nnunet-stock.txt"
	cat "$nn"/stock/trials/0001/stdout.log "$nn"/stock/trials/0001/stderr.log \
		> "$out/gpu-nnunet-stock-$dev.log" 2>/dev/null
	timeout 400 ./casebisect nnunet --device "$dev" --workdir "$nn/run" 991 > "$out/nnunet-run.txt" 2>&1
	echo "nnunet exit=$?" >> "$out/nnunet-run.txt"
	cat "$out/nnunet-run.txt"
	cat "$nn"/run/trials/0001/stdout.log "$nn"/run/trials/0001/stderr.log \
		> "$out/gpu-nnunet-probe-$dev.log" 2>/dev/null
	cp "$nn/run/report.md" "$out/nnunet-report.md" 2>/dev/null
	rm -rf "$nn"
}
if ! "$python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 3)' \
	> "$out/torch-probe.txt" 2>&1; then
	echo "gpu-check: no CUDA-capable torch for $python (see $out/torch-probe.txt)"
	cat "$out/torch-probe.txt"
	[ "${GPU_CHECK_NNUNET_DEVICE:-}" = cpu ] && check_nnunet cpu
	exit 0
fi

run() { # name, python code: run it as a trial would, keep stdout+stderr
	local name=$1 code=$2
	CUDA_LAUNCH_BLOCKING=1 PYTHONUNBUFFERED=1 PYTHONFAULTHANDLER=1 \
		timeout 120 "$python" -c "$code" > "$out/gpu-$name.log" 2>&1
	echo "exit=$?" > "$out/gpu-$name.exit"
	./casebisect classify "$out/gpu-$name.log"
}

"$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
run cross-entropy-label-5 '
import torch
logits = torch.zeros(2, 3, 8, 8, device="cuda", requires_grad=True)
target = torch.zeros(2, 8, 8, dtype=torch.long, device="cuda")
target[1, 4, 4] = 5
torch.nn.functional.cross_entropy(logits, target).backward()
torch.cuda.synchronize()'
run scatter-label-255 '
import torch
seg = torch.zeros(2, 1, 16, 16, 16, dtype=torch.long, device="cuda")
seg[0, 0, 3, 3, 3] = 255
onehot = torch.zeros(2, 3, 16, 16, 16, device="cuda")
onehot.scatter_(1, seg, 1)
torch.cuda.synchronize()'
run nll-label-minus-2 '
import torch
logp = torch.log_softmax(torch.randn(4, 3, device="cuda"), 1)
torch.nn.functional.nll_loss(logp, torch.tensor([0, 1, -2, 2], device="cuda"))
torch.cuda.synchronize()'
run oom '
import torch
free, total = torch.cuda.mem_get_info()
x = torch.empty(int(total * 2), dtype=torch.uint8, device="cuda")'
# the real trainer through a real trial, on the GPU: the device-side assert
# of the one-hot scatter, the batch line naming the bad case, no worker left
rm -rf "$out/ds"
examples/mkcases --cases 6 --bad case_004=255 "$out/ds" >/dev/null
./casebisect gpus > "$out/gpus.txt" 2>&1
./casebisect trial --json --workdir "$out/trial" --timeout 300 \
	--cases-file "$out/ds/cases.txt" --files-file "$out/ds/files.txt" -- \
	"$python" harness/torchtrain.py --cases-file {cases_file} --files-file {files_file} \
	--device cuda > "$out/trial-torchtrain-cuda.json" 2>&1
cat "$out/trial-torchtrain-cuda.json"
cp "$out"/trial/trials/0001/stderr.log "$out/gpu-torchtrain-cuda.log" 2>/dev/null
rm -rf "$out/ds" "$out/trial"

check_nnunet cuda
echo "gpu-check: logs in $out"
