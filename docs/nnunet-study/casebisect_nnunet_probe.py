"""casebisect's nnU-Net v2 probe trainer and launcher (study sketch, tested on nnunetv2 2.8.1 / torch 2.15 CPU).

Usage (the launcher passes everything to nnU-Net's own `nnUNetv2_train` argument parser):
    python casebisect_nnunet_probe.py DATASET CONFIG all -tr nnUNetTrainer_CasebisectProbe [-device cpu] ...
Environment:
    CASEBISECT_CASES_FILE  optional: case IDs, one per line, visited in this order (default: nnU-Net's split order)
    CASEBISECT_PASSES      passes over the subset (default 1)
    CASEBISECT_MAX_ITERS   cap for the random-sampling fallback with worker processes (default 5000)
Prints "CASEBISECT_BATCH <case> [<case>...]" before each train_step and "CASEBISECT_PASS" once every case went
through the loss CASEBISECT_PASSES times. Never catches exceptions from the loss.
"""
import os
import sys

from nnunetv2.training.nnUNetTrainer import nnUNetTrainer as _trainer_module
from nnunetv2.training.nnUNetTrainer.variants.data_augmentation.nnUNetTrainerNoDA import nnUNetTrainerNoDA


def _read_order(want):
    path = os.environ.get('CASEBISECT_CASES_FILE')
    if not path:
        return sorted(want)
    with open(path) as f:
        order = [l.strip() for l in f if l.strip()]
    missing = [k for k in order if k not in want]
    if missing:
        raise RuntimeError('casebisect probe: cases not in the preprocessed folder: %s' % ' '.join(missing[:10]))
    # cases of the split that the file does not name still run, last
    return order + sorted(want - set(order))


class nnUNetTrainer_CasebisectProbe(nnUNetTrainerNoDA):
    """No-DA trainer: same label values reach the same loss as nnUNetTrainer; one epoch of exactly
    passes*ceil(m/B) train steps (round robin with nnUNet_n_proc_DA=0), no per-epoch validation,
    no final validation, no checkpoints."""

    def initialize(self):                      # never override __init__ (signature differs 2.5 vs 2.6+)
        self.num_epochs = 1
        self.disable_checkpointing = True
        super().initialize()

    def perform_actual_validation(self, save_probabilities: bool = False):
        pass

    def run_training(self):
        self.on_train_start()                  # builds loaders (one throw-away batch each, no loss)
        want = set(str(k) for k in self.do_split()[0])
        order = _read_order(want)
        passes = max(1, int(os.environ.get('CASEBISECT_PASSES', '1')))
        B = self.batch_size
        dl = getattr(self.dataloader_train, 'data_loader', None)   # SingleThreadedAugmenter only
        self.on_epoch_start()
        self.on_train_epoch_start()
        if dl is not None and hasattr(dl, 'get_indices'):
            # deterministic: batch i holds order[i*B:(i+1)*B]; a short last batch repeats its own last case
            plan = []
            for _ in range(passes):
                for i in range(0, len(order), B):
                    ks = order[i:i + B]
                    ks = ks + [ks[-1]] * (B - len(ks))
                    plan.append(ks)
            step = {'i': 0}

            def get_indices():
                ks = plan[step['i']]
                step['i'] += 1
                return list(ks)
            dl.get_indices = get_indices
            for _ in range(len(plan)):
                batch = next(self.dataloader_train)
                self._probe_step(batch)
        else:
            # worker processes: nnU-Net's random sampling with replacement; stop when every case
            # went through the loss `passes` times (or at the cap)
            cap = int(os.environ.get('CASEBISECT_MAX_ITERS', '5000'))
            count = {k: 0 for k in want}
            it = 0
            while min(count.values()) < passes and it < cap:
                batch = next(self.dataloader_train)
                for k in self._probe_step(batch):
                    count[k] = count.get(k, 0) + 1
                it += 1
            if min(count.values()) < passes:
                print('CASEBISECT_INCOMPLETE %d iterations' % it, flush=True)
                self.on_train_end()
                sys.exit(3)
        print('CASEBISECT_PASS', flush=True)
        self.on_train_end()                    # stops worker processes; "No checkpoint written"; "Training done."

    def _probe_step(self, batch):
        ks = [str(k) for k in batch['keys']]
        uniq = list(dict.fromkeys(ks))
        print('CASEBISECT_BATCH ' + ' '.join(uniq), flush=True)   # only case IDs after the marker
        self.train_step(batch)                 # ends in .cpu(): synchronous on CUDA too
        return ks


def main():
    # version-independent discovery (2.5 .. 2.8): the trainer search imports this module first
    setattr(_trainer_module, 'nnUNetTrainer_CasebisectProbe', nnUNetTrainer_CasebisectProbe)
    os.environ.setdefault('nnUNet_compile', 'f')
    from nnunetv2.run.run_training import run_training_entry
    sys.argv = ['nnUNetv2_train'] + sys.argv[1:]
    run_training_entry()


if __name__ == '__main__':
    main()
