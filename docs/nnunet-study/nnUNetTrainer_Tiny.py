# Tiny stock-behaving trainer for a smoke test: 1 epoch, TINY_ITERS (default 2) train + 1 val iterations.
import os
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class nnUNetTrainer_Tiny(nnUNetTrainer):
    def initialize(self):
        # no __init__ override (nnunet.md 5.3); LR scheduler is built from num_epochs in initialize()
        self.num_epochs = 1
        self.num_iterations_per_epoch = int(os.environ.get('TINY_ITERS', '2'))
        self.num_val_iterations_per_epoch = 1
        super().initialize()
