"""``healthcnn study skin-taxonomy``: HAM10000 over a disease taxonomy (Esteva et al. 2017)."""

from __future__ import annotations

import argparse

from .._json import dumps
from ..data.ham10000 import parse_image_size
from ..studies.skin_taxonomy import (
    DEFAULT_EPOCHS,
    DEFAULT_METADATA,
    DEFAULT_RECIPE,
    DEFAULT_SIZE,
    DEFAULT_VIEWS,
    RECIPES,
    VIEWS,
    SkinStudyConfig,
    recipe_train_config,
)
from . import add_study_options, parse_numbers
from .config import check_device

#: the options that set the full study's images and curve (:class:`SkinStudyConfig`'s fields)
#: and its training (:func:`recipe_train_config`'s settings); an option not given keeps their
#: default, and ``--quick``, which runs a setting of its own, refuses them rather than ignore
#: them (``--recipe``, ``--views``, ``--metadata``, ``--seed`` and the taxonomy still apply)
_STUDY_OPTIONS = ("size", "model", "max_class_size", "curve_fractions", "curve_seeds")
_TRAIN_OPTIONS = ("batch_size", "lr", "weight_decay", "augment", "sampling", "precision",
                  "class_weights", "logit_adjust")  # fmt: skip
#: the defaults the help names: the study's and the chosen recipe's own
_STUDY = SkinStudyConfig(out="")
_TRAIN = recipe_train_config()


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "skin-taxonomy",
        help="HAM10000: benign/malignant vs 7 diagnoses vs PartitionDisease classes",
        description="Train three models on HAM10000 (benign/malignant directly, the 7 "
        "diagnoses, and the training classes PartitionDisease makes from the taxonomy), score "
        "them at the 2-way and 7-way levels with DeLong CIs and paired tests, subgroups and a "
        "learning curve; writes study.json and report.html to --out.",
    )
    add_study_options(
        p, quick="a seconds-long smoke run: 32 px, 700 lesions, small CNN, one epoch", resume=True
    )
    p.add_argument(
        "--size",
        type=size_argument,
        help=f"image side in px (default {DEFAULT_SIZE}, the measured recipe's), WIDTHxHEIGHT "
        "(e.g. 100x75), or 'stored' for the stored 200x150 px images without resampling",
    )
    p.add_argument("--model", help=f"registered model name (default {_STUDY.model})")
    p.add_argument("--taxonomy", default="ham10000", help="shipped name or a JSON file")
    p.add_argument(
        "--max-class-size",
        type=int,
        help=f"PartitionDisease's largest training class (default {_STUDY.max_class_size})",
    )
    p.add_argument(
        "--no-refine", dest="refine", action="store_false", help="do not split leaves by body site"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--recipe",
        choices=list(RECIPES),
        default=DEFAULT_RECIPE,
        help=f"ce (plain cross-entropy), logit-adjusted (tau 1, Menon et al. 2021), "
        f"class-weighted, mixup (alpha 0.2) or cutmix (alpha 1); default {DEFAULT_RECIPE}, "
        f"chosen on validation balanced accuracy with the prior-corrected decision rule "
        f"(docs/results-skin-recipes.md)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        help=f"default {DEFAULT_EPOCHS}, the recipe chosen on validation",
    )
    p.add_argument(
        "--views",
        choices=VIEWS,
        default=DEFAULT_VIEWS,
        help=f"read each model's probabilities from the image alone (plain) or as the mean over "
        f"it and its three flips (flips); default {DEFAULT_VIEWS}, the recipe chosen on validation",
    )
    p.add_argument("--batch-size", type=int, help=f"default {_TRAIN.batch_size}")
    p.add_argument("--lr", type=float, help=f"default {_TRAIN.lr}")
    p.add_argument("--weight-decay", type=float, help=f"default {_TRAIN.weight_decay}")
    p.add_argument(
        "--augment", choices=["none", "basic", "strong"], help=f"default {_TRAIN.augment}"
    )
    p.add_argument(
        "--class-weights", choices=["none", "balanced"], help="default: the recipe's (none)"
    )
    p.add_argument("--sampling", choices=["none", "balanced"], help=f"default {_TRAIN.sampling}")
    p.add_argument(
        "--logit-adjust",
        type=float,
        metavar="TAU",
        help="logit-adjusted loss with this tau (0: plain loss); default: the recipe's",
    )
    p.add_argument(
        "--precision",
        choices=["auto", "bf16", "fp32"],
        help="default auto (bf16 where the device computes it natively, else fp32)",
    )
    p.add_argument(
        "--curve-fractions",
        help=f"comma-separated fractions of the training lesions ('' for no curve; default "
        f"{','.join(f'{x:g}' for x in _STUDY.curve_fractions)})",
    )
    p.add_argument("--curve-seeds", help=f"default {','.join(map(str, _STUDY.curve_seeds))}")
    p.add_argument("--readers", help="CSV of reader,sensitivity,specificity (benign/malignant)")
    p.add_argument(
        "--metadata",
        action=argparse.BooleanOptionalAction,
        default=DEFAULT_METADATA,
        help="also score the 7-way answers with the patient's age, sex and lesion site fused "
        "in (a model of the metadata file fitted on the training images), beside the image "
        "alone; on by default, the recipe chosen on validation (--no-metadata: the image alone)",
    )
    p.set_defaults(func=_run)


def size_argument(text: str) -> int | tuple[int, int]:
    """``--size``'s parser (:func:`parse_image_size`), its error in argparse's form."""
    try:
        return parse_image_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _run(args: argparse.Namespace) -> int:
    check_device(args.device)
    from ..studies.skin_taxonomy import quick_config, run_study, summarize

    common = {
        "taxonomy": args.taxonomy,
        "refine": args.refine,
        "seed": args.seed,
        "readers_csv": args.readers,
        "device": args.device,
        "views": args.views,
        "metadata": args.metadata,
    }
    given = [
        k for k in (*_STUDY_OPTIONS, "epochs", *_TRAIN_OPTIONS) if getattr(args, k) is not None
    ]
    if args.quick and given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ValueError(
            f"--quick runs a setting of its own (32 px, 700 lesions, a small CNN, one epoch); "
            f"{flags} set the full study's: drop them or drop --quick"
        )
    if args.quick:
        cfg = quick_config(args.out, args.data_dir, args.recipe, **common)
    else:
        study = {k: getattr(args, k) for k in _STUDY_OPTIONS if getattr(args, k) is not None}
        for key, kind in (("curve_fractions", float), ("curve_seeds", int)):
            if key in study:
                flag = "--" + key.replace("_", "-")
                study[key] = parse_numbers(study[key], kind, flag, allow_empty=True)
        train = {k: getattr(args, k) for k in _TRAIN_OPTIONS if getattr(args, k) is not None}
        epochs = DEFAULT_EPOCHS if args.epochs is None else args.epochs
        cfg = SkinStudyConfig(
            out=args.out,
            data_dir=args.data_dir,
            train=recipe_train_config(args.recipe, epochs=epochs, **train),
            **study,
            **common,
        )
    result = run_study(cfg, progress=args.format == "text" and not args.quiet, resume=args.resume)
    if args.format == "json":
        print(dumps(result))
    else:
        print("\n".join(summarize(result)))
        print(f"wrote {args.out}/study.json and {args.out}/report.html")
    return 0
