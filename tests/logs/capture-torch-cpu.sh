#!/usr/bin/env bash
# Captures what real PyTorch prints on the CPU for an out-of-range label, into
# DIR (default: this folder). The .log files next to this script came from
# PyTorch 2.15.0 (pip, Python 3.11). `make test-torch PYTHON=...` runs this
# against the PyTorch you have and classifies the fresh output.
set -u
python=${PYTHON:-python3}
dir=${1:-$(dirname "$0")}

# cross_entropy on a 3-class output with a label 5 (a mask value the dataset
# does not declare)
"$python" - > "$dir/torch-cpu-cross-entropy.log" 2>&1 <<'PY'
import torch
logits = torch.zeros(1, 3, 4, 4)
target = torch.zeros(1, 4, 4, dtype=torch.long)
target[0, 2, 2] = 5
torch.nn.functional.cross_entropy(logits, target)
PY
# the one-hot scatter of nnU-Net's Dice loss, label 5 into 3 channels
"$python" - > "$dir/torch-cpu-scatter.log" 2>&1 <<'PY'
import torch
seg = torch.zeros(1, 1, 4, 4, dtype=torch.long)
seg[0, 0, 1, 1] = 5
onehot = torch.zeros(1, 3, 4, 4)
onehot.scatter_(1, seg, 1)
PY
# both must have failed; a missing torch is an error, not a pass
if grep -q "No module named 'torch'" "$dir"/torch-cpu-*.log; then
	echo "capture-torch-cpu.sh: $python has no torch (set PYTHON=...)" >&2
	exit 1
fi
