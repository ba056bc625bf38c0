"""casebisect's probe trainer for nnU-Net v2 (2.5 to 2.8), and the entry point that registers it.

Run by harness/nnunet/casebisect-nnunet-train with the Python that owns `nnUNetv2_train`:

    casebisect_nnunet_probe.py DATASET CONFIGURATION all -tr nnUNetTrainer_CasebisectProbe [-device cpu] ...

Everything after the script name goes to nnU-Net's own argument parser (`run_training_entry`).

nnUNetTrainer_CasebisectProbe sends every voxel of every case of the subset through nnU-Net's own
train_step and loss, CASEBISECT_PASSES times (default 1), cases in the order of
$CASEBISECT_CASES_FILE (the reducer puts cases already cleared last, so a crash comes early).
Each case is cut into patches of the plans' patch_size on the grid of nnU-Net's sliding-window
predictor (compute_steps_for_sliding_window) with tile_step_size 1: the fewest patches that
cover every voxel (per axis ceil(size / patch); neighbours overlap only where the size is not a
multiple of the patch), where nnU-Net's own loader would crop ONE random patch per case and a
bad voxel outside it would never reach the loss. A case smaller than a patch is padded as the
loader pads it (image 0, label -1), centred as the predictor pads. Patches go through the
trainer's validation transforms (what nnUNetTrainerNoDA trains with: -1 -> 0, regions,
deep-supervision targets), batch_size patches a step; cases of up to batch_size patches share
steps, a bigger case has steps of its own (so a crash names it alone), a short batch repeats
its last patch. It prints `casebisect probe: <case>: <n> patches ...` when it starts a case,
`CASEBISECT_BATCH <case> ...` (the case IDs of the step's patches) before each step, and
`CASEBISECT_PASS` at the end. No
augmentation, one epoch, no validation, no checkpoints, no worker processes (it does not use
nnU-Net's loaders). It never catches what the loss raises: a bad label crashes it where it
crashes the stock nnUNetTrainer.

nnUNetTrainer_CasebisectProbeOnePatch is the probe as it was before tiling (one patch per case,
cut by nnU-Net's loader), kept only for tests/nnunet/e2e.sh to measure how often that misses
bad voxels in a corner. Not for searches.

nnUNetTrainer_CasebisectShort is the stock nnUNetTrainer (stock augmentation, stock random
sampling, worker processes as nnUNet_n_proc_DA says) cut to one epoch of
$CASEBISECT_ITERATIONS steps (default 50) without validation or checkpoints: for comparing the
probe with stock training on the same data (tests/nnunet/e2e.sh).
"""
import itertools
import os
import sys

import numpy as np
import torch

from nnunetv2.training.nnUNetTrainer import nnUNetTrainer as _trainer_module
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from nnunetv2.training.nnUNetTrainer.variants.data_augmentation.nnUNetTrainerNoDA import nnUNetTrainerNoDA


def _positive_env(name, default):
    raw = os.environ.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise SystemExit('casebisect probe: %s=%r: expected a whole number from 1' % (name, raw))
    return value


def _visit_order(in_folder):
    """The cases to visit: $CASEBISECT_CASES_FILE's order, then any other case of the folder."""
    path = os.environ.get('CASEBISECT_CASES_FILE')
    if not path:
        return sorted(in_folder)
    with open(path) as f:
        order = [line.strip() for line in f if line.strip()]
    missing = [k for k in order if k not in in_folder]
    if missing:
        raise SystemExit('casebisect probe: %d case(s) of %s are not in the preprocessed folder, e.g. %s'
                         % (len(missing), path, ' '.join(missing[:5])))
    return order + sorted(in_folder - set(order))


class _CasebisectProbeBase(nnUNetTrainerNoDA):
    # __init__ is not overridden: nnU-Net reads its signature (and it differs between 2.5 and 2.6).
    def initialize(self):
        self.num_epochs = 1                    # before super(): the LR scheduler is built from it
        self.disable_checkpointing = True
        super().initialize()

    def perform_actual_validation(self, save_probabilities: bool = False):
        pass

    def run_training(self):
        self.on_train_start()
        order = _visit_order(set(str(k) for k in self.do_split()[0]))
        passes = _positive_env('CASEBISECT_PASSES', 1)
        self.on_epoch_start()
        self.on_train_epoch_start()
        self._visit(order, passes)
        print('CASEBISECT_PASS', flush=True)
        self.on_train_end()

    def _step(self, batch):
        keys = [str(k) for k in batch['keys']]
        print('CASEBISECT_BATCH ' + ' '.join(dict.fromkeys(keys)), flush=True)
        self.train_step(batch)                 # ends in .cpu(): synchronous on CUDA too
        return keys


class nnUNetTrainer_CasebisectProbe(_CasebisectProbeBase):
    """Every voxel of every case through the loss: each case is cut into patches of the plans'
    patch_size on the sliding-window grid of nnU-Net's predictor with tile_step_size 1 (the
    fewest patches that cover every voxel; neighbours overlap only where the size is not a
    multiple of the patch), padded where the case is smaller than a patch (image 0 and label -1
    as nnU-Net's loader pads, centred as its predictor pads), through the trainer's validation
    transforms (what NoDA trains with: -1 -> 0, regions, deep-supervision targets) and
    train_step, batch_size patches a step."""

    def get_dataloaders(self):
        # The patches are cut in _visit; nnU-Net's loaders (and, with nnUNet_n_proc_DA > 0,
        # their worker processes) would only load a first random batch and wait.
        return None, None

    def _visit(self, order, passes):
        tiles = _Tiles(self)
        size = self.batch_size
        total = steps = 0

        def flush(pending):
            # A short batch repeats its last patch: every step has the plans' batch size.
            self._step(tiles.batch(pending + [pending[-1]] * (size - len(pending))))
            return steps + 1

        for p in range(passes):
            pending = []
            for key in order:
                n = 0
                for patch in tiles.of_case(key, announce=p == 0):
                    pending.append(patch)
                    n += 1
                    if len(pending) == size:
                        steps, pending = flush(pending), []
                # Cases of up to a batch of patches share steps; a bigger case ends its own
                # last step, so that a crash there names it alone: a second suspect would
                # cost the search a trial of a whole case.
                if n > size and pending:
                    steps, pending = flush(pending), []
                total += n
            if pending:
                steps = flush(pending)
        print('casebisect probe: %d case(s), %d patch(es) in %d step(s) of %d, %d pass(es)'
              % (len(order), total, steps, size, passes), flush=True)


class _Tiles:
    """The sliding-window patches of the trainer's cases, as nnU-Net's loader would return them."""

    def __init__(self, trainer):
        try:
            from nnunetv2.inference.sliding_window_prediction import compute_steps_for_sliding_window
        except ImportError as e:
            raise SystemExit('casebisect probe: this nnU-Net has no '
                             'nnunetv2.inference.sliding_window_prediction.compute_steps_for_sliding_window '
                             '(2.5 to 2.8 have it): %s' % e)
        for name in ('get_tr_and_val_datasets', '_get_deep_supervision_scales', 'get_validation_transforms'):
            if not hasattr(trainer, name):
                raise SystemExit('casebisect probe: nnUNetTrainer.%s is missing: this nnU-Net '
                                 'is not one the probe knows (2.5 to 2.8)' % name)
        self.steps_for = compute_steps_for_sliding_window
        self.dataset = trainer.get_tr_and_val_datasets()[0]
        lm = trainer.label_manager
        self.transforms = trainer.get_validation_transforms(
            trainer._get_deep_supervision_scales(), is_cascaded=trainer.is_cascaded,
            foreground_labels=lm.foreground_labels,
            regions=lm.foreground_regions if lm.has_regions else None,
            ignore_label=lm.ignore_label)
        patch = [int(i) for i in trainer.configuration_manager.patch_size]
        self.was_2d = len(patch) == 2          # 2d: one slice at a time, as nnU-Net's loader does
        self.patch = [1] + patch if self.was_2d else patch

    def _load(self, key):
        loaded = self.dataset.load_case(key)
        if len(loaded) == 4:                   # 2.6+: data, seg, seg_prev, properties
            data, seg, seg_prev, _ = loaded
        elif len(loaded) == 3:                 # 2.5: the cascade's seg_prev is already in seg
            (data, seg, _), seg_prev = loaded, None
        else:
            raise SystemExit('casebisect probe: load_case(%r) returned %d values, expected 3 '
                             '(nnU-Net 2.5) or 4 (2.6 to 2.8)' % (key, len(loaded)))
        if len(data.shape) != len(self.patch) + 1:
            raise SystemExit('casebisect probe: %s: data of shape %s does not fit patch_size %s'
                             % (key, tuple(data.shape), self.patch))
        return data, seg, seg_prev

    def of_case(self, key, announce):
        data, seg, seg_prev = self._load(key)
        shape = [int(i) for i in data.shape[1:]]
        # Smaller than a patch: pad to it, centred (pad_nd_image's split, as the predictor pads).
        padded = [max(s, p) for s, p in zip(shape, self.patch)]
        below = [(q - s) // 2 for q, s in zip(padded, shape)]
        grid = self.steps_for(padded, self.patch, 1)
        if announce:
            print('casebisect probe: %s: %d patches (%s) of %s over %s'
                  % (key, _count(grid), 'x'.join(str(len(g)) for g in grid),
                     'x'.join(map(str, self.patch)), 'x'.join(map(str, shape))), flush=True)
        for corner in itertools.product(*grid):
            lbs = [c - b for c, b in zip(corner, below)]
            ubs = [lo + p for lo, p in zip(lbs, self.patch)]
            d = torch.from_numpy(_crop(data, lbs, ubs, 0)).float()
            s = torch.from_numpy(_crop(seg, lbs, ubs, -1).astype(np.int16, copy=False))
            if seg_prev is not None:
                prev = _crop(seg_prev, lbs, ubs, -1).astype(np.int16, copy=False)
                s = torch.cat((s, torch.from_numpy(prev).reshape(1, *prev.shape[-len(lbs):])))
            if self.was_2d:
                d, s = d[:, 0], s[:, 0]
            with torch.no_grad():
                out = self.transforms(**{'image': d, 'segmentation': s})
            yield key, out['image'], out['segmentation']

    @staticmethod
    def batch(patches):
        keys = [k for k, _, _ in patches]
        data = torch.stack([d for _, d, _ in patches])
        first = patches[0][2]
        if isinstance(first, list):            # deep supervision: one target per scale
            target = [torch.stack([s[i] for _, _, s in patches]) for i in range(len(first))]
        else:
            target = torch.stack([s for _, _, s in patches])
        return {'data': data, 'target': target, 'keys': keys}


def _count(grid):
    n = 1
    for g in grid:
        n *= len(g)
    return n


def _crop(array, lbs, ubs, value):
    """array[..., lbs:ubs] with what lies outside the array set to value (the loader's padding:
    0 for the image, -1 for the label). Reads only the patch of a blosc2 or memory-mapped case."""
    lead = len(array.shape) - len(lbs)
    shape = array.shape[lead:]
    inside = tuple(slice(max(lo, 0), min(hi, n)) for lo, hi, n in zip(lbs, ubs, shape))
    part = np.asarray(array[(slice(None),) * lead + inside])
    pad = [(max(-lo, 0), max(hi - n, 0)) for lo, hi, n in zip(lbs, ubs, shape)]
    if any(a or b for a, b in pad):
        part = np.pad(part, [(0, 0)] * lead + pad, 'constant', constant_values=value)
    return part


class nnUNetTrainer_CasebisectProbeOnePatch(_CasebisectProbeBase):
    """The probe before tiling, kept only so that tests/nnunet/e2e.sh can measure what it misses:
    one patch per case, cut by nnU-Net's own loader (random, foreground-oversampled over the
    declared labels), so bad voxels outside that patch never reach the loss. Not for searches."""

    def _visit(self, order, passes):
        loader = getattr(self.dataloader_train, 'data_loader', None)   # SingleThreadedAugmenter
        if loader is not None and hasattr(loader, 'get_indices'):
            self._visit_in_order(loader, order, passes)
        else:
            self._visit_by_sampling(order, passes)

    def _visit_in_order(self, loader, order, passes):
        # nnUNet_n_proc_DA=0: one loader in this process, so its sampler can be replaced. Batch i
        # holds order[i*B:(i+1)*B]; a short last batch repeats its own last case.
        size = self.batch_size
        plan = []
        for _ in range(passes):
            for i in range(0, len(order), size):
                keys = order[i:i + size]
                plan.append(keys + [keys[-1]] * (size - len(keys)))
        steps = iter(plan)
        loader.get_indices = lambda: list(next(steps))
        for _ in range(len(plan)):
            self._step(next(self.dataloader_train))

    def _visit_by_sampling(self, order, passes):
        # Worker processes sample at random with replacement; go on until every case went
        # through the loss `passes` times, or give up (not a PASS: the run is incomplete).
        cap = _positive_env('CASEBISECT_MAX_ITERATIONS', 5000)
        seen = {k: 0 for k in order}
        steps = 0
        while min(seen.values()) < passes and steps < cap:
            for k in self._step(next(self.dataloader_train)):
                seen[k] = seen.get(k, 0) + 1
            steps += 1
        if min(seen.values()) < passes:
            print('casebisect probe: %d steps did not visit every case; set nnUNet_n_proc_DA=0' % steps,
                  file=sys.stderr, flush=True)
            self.on_train_end()
            sys.exit(3)


class nnUNetTrainer_CasebisectShort(nnUNetTrainer):
    def initialize(self):
        self.num_epochs = 1
        self.num_iterations_per_epoch = _positive_env('CASEBISECT_ITERATIONS', 50)
        self.num_val_iterations_per_epoch = 1
        self.disable_checkpointing = True
        super().initialize()

    def perform_actual_validation(self, save_probabilities: bool = False):
        pass


def main():
    # nnU-Net's trainer search imports this module first, in every version: the classes are found
    # there without installing anything into the user's site-packages.
    for cls in (nnUNetTrainer_CasebisectProbe, nnUNetTrainer_CasebisectProbeOnePatch,
                nnUNetTrainer_CasebisectShort):
        setattr(_trainer_module, cls.__name__, cls)
    # torch.compile would cost minutes per trial (casebisect's trials set it too).
    os.environ.setdefault('nnUNet_compile', 'f')
    from nnunetv2.run.run_training import run_training_entry
    sys.argv = ['nnUNetv2_train'] + sys.argv[1:]
    run_training_entry()


if __name__ == '__main__':
    main()
