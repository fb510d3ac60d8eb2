"""``healthcnn study adrenal3d``: 3D ResNet-18 (scratch / inflated from 2D) vs a 2.5D model on
AdrenalMNIST3D, several seeds, test AUC and accuracy with CIs."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from . import CLIError, add_study_options, emit_study_result
from .config import check_device

_HELP = "AdrenalMNIST3D: 3D ResNet-18 from scratch vs inflated 2D weights vs a 2.5D slice model"

#: --quick: a few steps on 4 volumes per class and split at 16^3 (tests, smoke runs)
_QUICK = {
    "size": 16,
    "limit": 4,
    "epochs": 1,
    "batch_size": 4,
    "pretrain_epochs": 1,
    "pretrain_slices": 2,
    "pretrain_batch_size": 8,
}


def register(study_subparsers: argparse._SubParsersAction) -> None:
    from ..studies.volumes import APPROACHES

    p = study_subparsers.add_parser("adrenal3d", help=_HELP, description=_HELP + ".")
    quick = "a few steps on 4 volumes per class and split at 16^3 (tests, smoke runs)"
    add_study_options(p, quick=quick, out_required=False, resume=True)
    p.add_argument("--size", type=int, help="resample the 64^3 volumes to SIZE^3 (default 32)")
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        help="one run per approach per seed (default 0 1 2; --quick: 0)",
    )
    p.add_argument(
        "--approaches",
        nargs="+",
        choices=APPROACHES,
        default=list(APPROACHES),
        help="default: all three",
    )
    p.add_argument("--epochs", type=int, help="3D/2.5D training epochs (default 10)")
    p.add_argument("--batch-size", type=int, help="default 32 (the MedMNIST 3D batch)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--stem", choices=["imagenet", "small"], default="imagenet")
    p.add_argument("--augment", choices=["none", "basic", "strong"], default="basic")
    p.add_argument("--class-weights", choices=["none", "balanced"], default="none")
    p.add_argument("--pretrain-epochs", type=int, help="2D slice pretraining epochs (default 2)")
    p.add_argument("--pretrain-slices", type=int, help="axial slices per volume (default 4)")
    p.add_argument("--view", choices=["orthogonal", "axial"], default="orthogonal")
    p.add_argument("--num-slices", type=int, default=3, help="slices for --view axial")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    p.set_defaults(func=_run)


def _config(args: argparse.Namespace) -> Any:
    from ..studies.volumes import VolumeStudyConfig

    settings: dict[str, Any] = dict(_QUICK) if args.quick else {}
    given = {
        "size": args.size,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "pretrain_epochs": args.pretrain_epochs,
        "pretrain_slices": args.pretrain_slices,
    }
    settings.update({k: v for k, v in given.items() if v is not None})
    try:
        return VolumeStudyConfig(
            seeds=tuple(args.seeds or ([0] if args.quick else [0, 1, 2])),
            approaches=tuple(args.approaches),
            lr=args.lr,
            stem=args.stem,
            augment=args.augment,
            class_weights=args.class_weights,
            view=args.view,
            num_slices=args.num_slices,
            precision=args.precision,
            device=args.device,
            **settings,
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _run(args: argparse.Namespace) -> int:
    check_device(args.device)
    from ..studies.volumes import run_adrenal3d

    cfg = _config(args)
    result = run_adrenal3d(
        cfg,
        data_dir=args.data_dir,
        out=args.out,
        progress=None if args.quiet else _progress,
        resume=args.resume,
    )
    return emit_study_result(result, args.format, args.out, _print_summary)


def _ci(e: dict[str, Any]) -> str:
    return f"{e['value']:.3f} (95% CI {e['ci_low']:.3f}-{e['ci_high']:.3f}, {e['method']})"


def _print_summary(result: dict[str, Any]) -> None:
    cfg, data = result["config"], result["data"]
    print(
        f"study adrenal3d: {data['file_size']}^3 file resampled to {data['resampled_to']}^3, "
        f"splits {data['splits']}, {cfg['epochs']} epochs, seeds {cfg['seeds']}"
    )
    for run in result["runs"]:
        print(
            f"{run['approach']:<11} seed {run['seed']}: test AUC {_ci(run['test']['auc'])}; "
            f"accuracy {_ci(run['test']['accuracy'])}; sensitivity "
            f"{run['test']['sensitivity']['value']:.3f}, specificity "
            f"{run['test']['specificity']['value']:.3f}; val AUC {run['val_auc']:.3f}"
        )
        tuned = run["test_at_val_threshold"]
        print(
            f"{'':<11} at the validation-fitted threshold {tuned['threshold']:.3f}: accuracy "
            f"{_ci(tuned['accuracy'])}; sensitivity {tuned['sensitivity']['value']:.3f}, "
            f"specificity {tuned['specificity']['value']:.3f}"
        )
    for name, s in result["approaches"].items():
        auc, acc = s["test_auc"], s["test_accuracy"]
        sd = "" if math.isnan(auc["sd"]) else f" +- {auc['sd']:.3f}"
        sd_acc = "" if math.isnan(acc["sd"]) else f" +- {acc['sd']:.3f}"
        tuned = s["test_accuracy_val_threshold"]
        print(
            f"{name:<11} mean over {auc['n']} seed(s): test AUC {auc['mean']:.3f}{sd}, "
            f"accuracy {acc['mean']:.3f}{sd_acc} at 0.5, {tuned['mean']:.3f} at the "
            f"validation-fitted threshold"
        )
    for t in result["paired_delong"]:
        print(
            f"DeLong {t['a']} - {t['b']} (seed {t['seed']}): {t['difference']:+.3f} "
            f"(95% CI {t['ci_low']:+.3f} to {t['ci_high']:+.3f}), p = {t['p_value']:.3f}"
        )
    print(f"wall time {result['environment']['seconds']:.0f} s")
