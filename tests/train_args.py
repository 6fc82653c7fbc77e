"""``edge train``'s parsed options for tests: ``train_args(data=..., out=..., quick=True)``
is what ``edge train --data ... --out ... --quick`` gives (True = a bare flag)."""

import argparse


def train_args(**kw) -> argparse.Namespace:
    from edge.train.cli import add_arguments

    p = argparse.ArgumentParser()
    add_arguments(p)
    argv = []
    for k, v in kw.items():
        flag = "--" + k.replace("_", "-")
        argv += [flag] if v is True else [flag, str(v)]
    a = p.parse_args(argv)
    a.argv = argv
    return a
