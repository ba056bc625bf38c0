#!/usr/bin/env python3
"""torchtrain: a small but real PyTorch segmentation trainer for casebisect's
end-to-end tests. It trains a tiny Conv3d network on the cases of a subset with
nnU-Net's loss shape (soft Dice whose one-hot uses scatter_, computed first, then
cross-entropy), so an out-of-range label fails exactly where it fails in nnU-Net:
PyTorch's own CPU error, or the real device-side assert on a GPU. It never catches
those exceptions.

Usage: torchtrain.py --cases-file F --files-file F [--classes 3] [--workers 2]
                     [--passes 1] [--device auto|cpu|cuda] [--patch 16] [--seed 0]

The cases file has one case ID per line; the files file one line per case with its
files, tab separated (image first, label in labelsTr/ or last). It prints
"CASEBISECT_BATCH <case>" before each step and "CASEBISECT_PASS" once every case
went through the loss --passes times, then exits 0.
"""

import argparse
import os
import random
import sys

import nibabel as nib
import numpy as np
import torch
import torch.nn as nn
import torch.utils.data

NIFTI_ENDINGS = (".nii.gz", ".nii")


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="torchtrain.py",
        description="A small real PyTorch segmentation trainer (casebisect's test trainer).")
    p.add_argument("--cases-file", required=True, help="case IDs, one per line")
    p.add_argument("--files-file", required=True,
                   help="per case one line: image TAB label (absolute paths)")
    p.add_argument("--classes", type=int, default=3,
                   help="output channels, background included (default 3)")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (default 2)")
    p.add_argument("--passes", type=int, default=1,
                   help="times every case goes through the loss (default 1)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--patch", type=int, default=16,
                   help="edge of the cubic patch cut from the centre of each volume (default 16)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.classes < 2:
        p.error("--classes %d: at least 2 (background and one class)" % a.classes)
    if a.workers < 0:
        p.error("--workers %d: must not be negative" % a.workers)
    if a.passes < 1:
        p.error("--passes %d: at least 1" % a.passes)
    if not 1 <= a.patch <= 512:
        p.error("--patch %d: expected 1..512" % a.patch)
    if a.device == "auto":
        a.device = "cuda" if torch.cuda.is_available() else "cpu"
    elif a.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: this PyTorch (%s) sees no CUDA device" % torch.__version__)
    return p, a


def strip_ending(name):
    for e in NIFTI_ENDINGS:
        if name.endswith(e):
            return name[: -len(e)]
    return name


def read_cases(parser, path):
    with open(path, encoding="utf-8") as f:
        cases = [line.strip() for line in f if line.strip()]
    if not cases:
        parser.error("%s: no case IDs" % path)
    if len(set(cases)) != len(cases):
        parser.error("%s: a case ID repeats" % path)
    return cases


def read_files(parser, path, cases):
    """Maps each case to (image path, label path). A line belongs to the case whose
    ID is one of its columns, or whose ID its label file is named after; failing
    both, lines and cases are paired in order (same count needed)."""
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\r\n") for line in f if line.strip()]
    known = set(cases)
    by_case, in_order = {}, []
    for n, line in enumerate(lines, 1):
        cols = [c for c in line.split("\t") if c]
        ids = [c for c in cols if c in known]
        paths = [c for c in cols if c not in known]
        if len(paths) < 2:
            parser.error("%s:%d: expected an image and a label path, tab separated" % (path, n))
        in_label_dir = [c for c in paths if "labelsTr" in c.split(os.sep)[:-1]]
        label = in_label_dir[-1] if in_label_dir else paths[-1]
        rest = [c for c in paths if c != label]
        images = [c for c in rest if c.endswith(NIFTI_ENDINGS)]
        image = images[0] if images else rest[0]
        case = ids[0] if ids else strip_ending(os.path.basename(label))
        in_order.append((image, label))
        if case in known:
            by_case[case] = (image, label)
    if all(c in by_case for c in cases):
        return [(c,) + by_case[c] for c in cases]
    if len(in_order) == len(cases):
        return [(c,) + in_order[i] for i, c in enumerate(cases)]
    missing = [c for c in cases if c not in by_case]
    parser.error("%s: no files for case %s" % (path, ", ".join(missing[:5])))


def load_volume(path, what):
    data = np.asanyarray(nib.load(path).dataobj)
    # drop trailing singleton axes (X, Y, Z, 1), as a 4D single-channel file has
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError("%s: %s has shape %s, expected a 3D volume" % (path, what, data.shape))
    return data


def centre_crop(a, patch, fill):
    """The patch^3 block around the volume's centre, padded with fill where the
    volume is smaller. mkcases puts its bad voxels at the centre for this reason."""
    out = np.full((patch,) * 3, fill, dtype=a.dtype)
    src, dst = [], []
    for n in a.shape:
        if n >= patch:
            s = (n - patch) // 2
            src.append(slice(s, s + patch))
            dst.append(slice(0, patch))
        else:
            d = (patch - n) // 2
            src.append(slice(0, n))
            dst.append(slice(d, d + n))
    out[tuple(dst)] = a[tuple(src)]
    return out


class CaseDataset(torch.utils.data.Dataset):
    """One item per case: (case ID, image [1,P,P,P] float32, label [1,P,P,P] int64).
    Reading happens here, in the DataLoader's worker processes, as in nnU-Net."""

    def __init__(self, items, patch):
        self.items = items
        self.patch = patch

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        case, image_path, label_path = self.items[i]
        image = load_volume(image_path, "the image").astype(np.float32)
        label = load_volume(label_path, "the label")
        if image.shape != label.shape:
            raise ValueError("%s: label shape %s differs from image shape %s (%s)"
                             % (case, label.shape, image.shape, image_path))
        if not np.issubdtype(label.dtype, np.integer):
            label = np.rint(label)
        # int64 keeps every stored value as it is (255, 40000, -5): the loss must see it
        label = label.astype(np.int64)
        image = (image - image.mean()) / max(float(image.std()), 1e-8)
        image = centre_crop(image, self.patch, 0.0)
        label = centre_crop(label, self.patch, 0)
        return case, torch.from_numpy(image[None]), torch.from_numpy(label[None])


class TinyNet(nn.Module):
    """nnU-Net's building block (conv, instance norm, leaky ReLU) once, then a 1x1x1
    conv to the class channels. A second 3x3x3 conv would cost 6x the step time on
    the CPU (about 40 ms instead of 7 for a 16^3 patch) and test nothing more."""

    def __init__(self, classes):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(1, 8, 3, padding=1),
            nn.InstanceNorm3d(8, affine=True),
            nn.LeakyReLU(0.01),
            nn.Conv3d(8, classes, 1),
        )

    def forward(self, x):
        return self.body(x)


def soft_dice_loss(logits, target, smooth=1e-5):
    """nnU-Net's MemoryEfficientSoftDiceLoss in short: the one-hot target is built
    with scatter_ under no_grad, so a label >= classes (or < 0) is an out-of-bounds
    scatter index: the first kernel that fails, before cross-entropy runs."""
    with torch.no_grad():
        y_onehot = torch.zeros(logits.shape, device=logits.device, dtype=logits.dtype)
        y_onehot.scatter_(1, target.long(), 1)
    probs = torch.softmax(logits, 1)
    axes = tuple(range(2, logits.ndim))
    intersect = (probs * y_onehot).sum(axes)
    denom = probs.sum(axes) + y_onehot.sum(axes)
    dc = (2 * intersect + smooth) / torch.clamp(denom + smooth, min=1e-8)
    return -dc.mean()


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    # Not torch.use_deterministic_algorithms(True): CUDA's nll_loss2d has no
    # deterministic implementation and would raise an error of its own.
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def main(argv):
    parser, args = parse_args(argv)
    cases = read_cases(parser, args.cases_file)
    items = read_files(parser, args.files_file, cases)
    seed_everything(args.seed)
    device = torch.device(args.device)
    if device.type == "cpu":
        # one thread: 16^3 volumes gain nothing from more, and parallel trials share the CPUs
        torch.set_num_threads(1)
    print("torchtrain: torch %s, device %s, %d cases, %d classes, %d workers, %d passes, patch %d"
          % (torch.__version__, device, len(cases), args.classes, args.workers, args.passes,
             args.patch), flush=True)

    net = TinyNet(args.classes).to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    ce = nn.CrossEntropyLoss()
    dataset = CaseDataset(items, args.patch)
    # persistent workers: started once, not once per pass (each start costs ~0.1 s)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=1, shuffle=False, num_workers=args.workers,
        persistent_workers=args.workers > 0,
        generator=torch.Generator().manual_seed(args.seed))
    for n in range(1, args.passes + 1):
        total = 0.0
        for case, image, label in loader:
            print("CASEBISECT_BATCH %s" % case[0], flush=True)
            image = image.to(device)
            label = label.to(device)
            logits = net(image)
            # the Dice term first (its scatter_ fails first), then cross-entropy, as nnU-Net
            loss = soft_dice_loss(logits, label) + ce(logits, label[:, 0])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            # a host copy each step, as nnU-Net's train_step does: a device-side
            # assert surfaces at this case's step, before the next BATCH line
            total += float(loss.detach().cpu().numpy())
        print("torchtrain: pass %d/%d, mean loss %.4f" % (n, args.passes, total / len(dataset)),
              flush=True)
    # stop the workers before the pass line: a supervisor may end the run as soon as it sees it
    del loader
    print("CASEBISECT_PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
