"""Training (the ``train`` extra): data, teacher, distillation, int8 export.

Entry point: :mod:`edge.train.cli` (``edge train``). Nothing in the daemon
imports this package.
"""
