"""Training (the ``train`` extra): data, teacher, distillation, int8 export.

Entry point: :mod:`edge.train.cli` (``edge train``). Nothing in the daemon
imports this package.
"""

import sys as _sys

# Training reads its own docstrings: the operating-point rules written into a manifest's ``tuning``
# (edge.train.operating), argparse descriptions. Under python -OO / PYTHONOPTIMIZE=2 (how edge.service
# runs the daemon, systemd/edge.service) they are None: refuse at once rather than write a manifest
# without its rules or fail half-way.
if _sys.flags.optimize >= 2:
    raise ImportError("edge's training tools need their docstrings: run them without python -OO "
                      "(unset PYTHONOPTIMIZE)")
