#!/usr/bin/env bash
# Captures what real PyTorch prints when a DataLoader worker raises: the main
# process re-raises it from torch/_utils.py ("Caught ValueError in DataLoader
# worker process 0."), then prints the worker's "Original Traceback". Three
# runs into DIR (default: this folder), which must tell three bugs apart:
#   torch-dataloader-valueerror.log       ValueError raised in read_label
#   torch-dataloader-valueerror-crop.log  ValueError raised in crop_patch
#   torch-dataloader-keyerror.log         KeyError raised in read_label
# The .log files next to this script came from PyTorch 2.15.0 (pip, Python
# 3.11), one worker; `make test-torch PYTHON=...` redoes it live.
set -u
python=${PYTHON:-python3}
dir=${1:-$(dirname "$0")}
work=$(mktemp -d "${TMPDIR:-/tmp}/casebisect-dataloader.XXXXXX")
trap 'rm -rf "$work"' EXIT

cat >"$work/cases.py" <<'PY'
import sys
import torch
from torch.utils.data import DataLoader, Dataset

MODE = sys.argv[1]


def read_label(i):
    if MODE == "value":
        raise ValueError(f"case_{i:03d}: label value 7 outside 0..2")
    return {"case_000": 0}[f"case_{i:03d}"]


def crop_patch(label):
    raise ValueError(f"patch 128^3 does not fit a label of shape {tuple(label.shape)}")


class Cases(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        if i != 2:
            return torch.zeros(2)
        if MODE == "crop":
            return crop_patch(torch.zeros(2, 3))
        return torch.tensor(read_label(i))


for batch in DataLoader(Cases(), batch_size=1, num_workers=1):
    pass
PY
for mode in value:valueerror crop:valueerror-crop key:keyerror; do
	(cd "$work" && "$python" cases.py "${mode%%:*}") >"$dir/torch-dataloader-${mode#*:}.log" 2>&1
done
# each must have failed in its worker; a missing torch is an error, not a pass
for f in "$dir"/torch-dataloader-*.log; do
	grep -q "in DataLoader worker process 0" "$f" || {
		echo "capture-torch-dataloader.sh: $f shows no worker error (torch missing? set PYTHON=...):" >&2
		tail -3 "$f" >&2
		exit 1
	}
done
