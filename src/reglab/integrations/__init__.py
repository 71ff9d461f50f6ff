"""Where people look while a model trains: reglab's numbers in TensorBoard, Weights & Biases and PyTorch
Lightning.

Each integration is its own module, imported by name, so that its framework stays optional
(``pip install 'reglab[integrations]'``):

- :mod:`reglab.integrations.tensorboard`: :class:`~reglab.integrations.tensorboard.TensorBoardWriter`,
  for any training loop;
- :mod:`reglab.integrations.wandb`: :class:`~reglab.integrations.wandb.WandbWriter`, the same numbers
  to a W&B run (under ``reglab/``, on its own x-axis ``reglab/step``);
- :mod:`reglab.integrations.lightning`: :class:`~reglab.integrations.lightning.RegLabCallback`, a
  Lightning callback that logs through the trainer's loggers.

Each logs, every N optimizer steps, each parameter tensor's L2 and L1 norms and fraction of exact
zeros, the penalty value (under :class:`~reglab.Regularized`) and chosen weights' values, and at
the end the :func:`~reglab.diagnose` of a :class:`~reglab.Recorder` kept beside them.
"""
