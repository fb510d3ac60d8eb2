"""``healthcnn study NAME ...``: the clinical experiments, one sub-command per study.

Each study lives in ``healthcnn.studies.<module>`` and has a CLI module
``healthcnn.cli.study_<name>`` with ``register(study_subparsers)``; list it in ``STUDIES``.
"""

from __future__ import annotations

import argparse
import importlib

#: CLI modules of the studies (``healthcnn/cli/study_<name>.py``), in help order.
STUDIES: list[str] = ["skin", "ecg", "dr", "volumes"]


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="study", metavar="STUDY", required=True)
    for name in STUDIES:
        importlib.import_module(f"{__package__}.study_{name}").register(sub)
