"""casebisect's probe trainer for nnU-Net v2 (2.5 to 2.8), and the entry point that registers it.

Run by harness/nnunet/casebisect-nnunet-train with the Python that owns `nnUNetv2_train`:

    casebisect_nnunet_probe.py DATASET CONFIGURATION all -tr nnUNetTrainer_CasebisectProbe [-device cpu] ...

Everything after the script name goes to nnU-Net's own argument parser (`run_training_entry`).

nnUNetTrainer_CasebisectProbe visits every case of the subset, in the order of
$CASEBISECT_CASES_FILE (the reducer puts cases already cleared last, so a crash comes early),
through nnU-Net's own train_step and loss, CASEBISECT_PASSES times (default 1). It prints
`CASEBISECT_BATCH <case> ...` (case IDs only) before each step and `CASEBISECT_PASS` once every
case went through the loss. It has no data augmentation (nnUNetTrainerNoDA: loading is cheap and
the label values reach the loss unchanged), one epoch, no validation, no checkpoints. It never
catches what the loss raises: a bad label crashes it where it crashes the stock nnUNetTrainer.

nnUNetTrainer_CasebisectShort is the stock nnUNetTrainer (stock augmentation, stock random
sampling, worker processes as nnUNet_n_proc_DA says) cut to one epoch of
$CASEBISECT_ITERATIONS steps (default 50) without validation or checkpoints: for comparing the
probe with stock training on the same data (tests/nnunet/e2e.sh).
"""
import os
import sys

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


class nnUNetTrainer_CasebisectProbe(nnUNetTrainerNoDA):
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
        loader = getattr(self.dataloader_train, 'data_loader', None)   # SingleThreadedAugmenter
        if loader is not None and hasattr(loader, 'get_indices'):
            self._visit_in_order(loader, order, passes)
        else:
            self._visit_by_sampling(order, passes)
        print('CASEBISECT_PASS', flush=True)
        self.on_train_end()

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

    def _step(self, batch):
        keys = [str(k) for k in batch['keys']]
        print('CASEBISECT_BATCH ' + ' '.join(dict.fromkeys(keys)), flush=True)
        self.train_step(batch)                 # ends in .cpu(): synchronous on CUDA too
        return keys


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
    for cls in (nnUNetTrainer_CasebisectProbe, nnUNetTrainer_CasebisectShort):
        setattr(_trainer_module, cls.__name__, cls)
    # torch.compile would cost minutes per trial (casebisect's trials set it too).
    os.environ.setdefault('nnUNet_compile', 'f')
    from nnunetv2.run.run_training import run_training_entry
    sys.argv = ['nnUNetv2_train'] + sys.argv[1:]
    run_training_entry()


if __name__ == '__main__':
    main()
