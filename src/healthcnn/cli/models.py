"""``healthcnn models list [PATTERN]`` and ``healthcnn models info NAME``."""

from __future__ import annotations

import argparse

from ..models import list_models, model_info
from . import add_format_option, add_info_action, printed_as_json


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    ls = sub.add_parser("list", help="name, family, parameters (2D, 3 channels, 1000 classes)")
    ls.add_argument("pattern", nargs="?", default="*", help="shell pattern, e.g. 'resnet*'")
    add_format_option(ls)
    ls.set_defaults(func=_list)

    add_info_action(sub, "everything the registry knows about one model", "name", _info)


def _list(args: argparse.Namespace) -> int:
    names = list_models(args.pattern)
    if not names:
        raise ValueError(
            f"no registered model matches {args.pattern!r}; try 'healthcnn models list'"
        )
    infos = [model_info(n) for n in names]
    if printed_as_json(args, [i.as_dict() for i in infos]):
        return 0
    header = ("name", "family", "parameters", "default input", "min input")
    rows = [
        (i.name, i.family, f"{i.params:,}", f"{i.default_input_size} px", f"{i.min_input_size} px")
        for i in infos
    ]
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    for r in [header, *rows]:
        print(
            "  ".join(
                v.ljust(w) if c < 2 else v.rjust(w)
                for c, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    print(
        "parameters: every learnable scalar of the 2D model with 3 input channels and 1000 "
        "classes, default options"
    )
    return 0


def _info(args: argparse.Namespace) -> int:
    info = model_info(args.name)
    if printed_as_json(args, info.as_dict()):
        return 0
    for key, value in info.as_dict().items():
        print(f"{key:>19}: {value:,}" if isinstance(value, int) else f"{key:>19}: {value}")
    return 0
