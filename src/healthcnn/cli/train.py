"""``healthcnn train``: train a model on a dataset and write its bundle."""

from __future__ import annotations

import argparse
import json
import sys

from ..bundle import check_bundle_target
from ..data.sources import DEFAULT_SIZE
from ..published import published_result
from ..studies.run import train_distributed, train_run
from ..training import TrainingError, TrainingInterrupted, distributed
from ..training.config import RunConfig, TrainConfig
from . import CLIError, add_format_option, add_quiet_option, printed_as_json
from .config import check_device, read_config_file

#: command-line flag -> TrainConfig field
_TRAIN_FLAGS = {
    "epochs": int,
    "batch_size": int,
    "lr": float,
    "optimizer": str,
    "schedule": str,
    "weight_decay": float,
    "warmup_epochs": int,
    "augment": str,
    "seed": int,
    "precision": str,
    "class_weights": str,
    "sampling": str,
    "logit_adjust": float,
    "ema_decay": float,
    "mix": str,
    "mix_alpha": float,
    "early_stopping_patience": int,
    "backbone_lr_scale": float,
    "freeze_backbone_epochs": int,
}


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", help="dataset name (retinamnist, ecg5000, cpsc2021, ...), .npz or .csv path"
    )
    p.add_argument(
        "--model",
        help="registered model name (default resnet18), or your own model as an import path "
        "package.module:callable (called with in_channels=, num_classes= and --model-arg "
        "options; see docs/your-model.md)",
    )
    p.add_argument(
        "--weights",
        help="start from these weights: imagenet (torchvision's ImageNet weights, downloaded "
        "into the data root and verified; also DEFAULT, IMAGENET1K_V1, IMAGENET1K_V2) or a "
        ".safetensors/.pt/.pth file (see docs/weights.md)",
    )
    p.add_argument("--out", help="bundle directory to write (e.g. runs/retina)")
    p.add_argument("--config", help="YAML or JSON file with the same settings")
    p.add_argument(
        "--size",
        type=int,
        help="image size in pixels: MedMNIST 28 (default), 64, 128, 224; an image CSV is "
        "resized to it (default: kept as stored, which needs one size for all its images)",
    )
    p.add_argument("--task", choices=["binary", "multiclass", "multilabel", "ordinal"])
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--optimizer", choices=["adam", "adamw", "sgd"])
    p.add_argument("--schedule", choices=["none", "multistep", "cosine"])
    p.add_argument("--milestones", help="epochs where lr x gamma (multistep), e.g. 50,75")
    p.add_argument("--warmup-epochs", type=int)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--augment", choices=["none", "basic", "strong"])
    p.add_argument("--class-weights", choices=["none", "balanced"])
    p.add_argument("--sampling", choices=["none", "balanced"])
    p.add_argument(
        "--logit-adjust",
        type=float,
        metavar="TAU",
        help="logit-adjusted loss (Menon et al. 2021) with this tau, e.g. 1: the model's "
        "probabilities then estimate class-balanced posteriors (default 0: plain loss)",
    )
    p.add_argument(
        "--ema-decay",
        type=float,
        metavar="D",
        help="validate and keep an exponential moving average of the weights, updated every "
        "step with this decay (e.g. 0.99); default: no averaging",
    )
    p.add_argument(
        "--mix",
        choices=["none", "mixup", "cutmix"],
        help="mix every training batch with a shuffled copy of itself: mixup (blend) or cutmix "
        "(paste a box), the loss mixed alike (default none)",
    )
    p.add_argument(
        "--mix-alpha",
        type=float,
        metavar="A",
        help="the mixing proportion is drawn from Beta(A, A) per batch (default 1.0)",
    )
    p.add_argument("--early-stopping-patience", type=int)
    p.add_argument(
        "--backbone-lr-scale",
        type=float,
        help="fine-tuning: the backbone learns at --lr times this (e.g. 0.1); the head at --lr",
    )
    p.add_argument(
        "--freeze-backbone-epochs",
        type=int,
        help="fine-tuning: train only the head for this many first epochs",
    )
    p.add_argument("--seed", type=int)
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"])
    p.add_argument("--device", help="cpu (default) or cuda")
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="data-parallel processes on this machine (DDP: gloo on CPU, nccl on GPU, one GPU "
        "each); --batch-size stays the global batch. Under torchrun, leave it out",
    )
    p.add_argument(
        "--set",
        "--model-arg",
        dest="set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model option, e.g. --set stem=imagenet or --model-arg width=32 (repeatable; "
        "VALUE is read as JSON when it parses, else as text)",
    )
    p.add_argument("--data-dir", help="data root (default $HEALTHCNN_DATA or ~/.cache/healthcnn)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument(
        "--stream",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="image-folder CSVs: decode each image when read instead of all into memory "
        "(default: stream only when the decoded images exceed --memory-budget-mb)",
    )
    p.add_argument(
        "--memory-budget-mb",
        type=float,
        metavar="N",
        help="memory the decoded images may take (default: half the available memory)",
    )
    p.add_argument("--workers", type=int, help="DataLoader processes decoding streamed images")
    p.add_argument(
        "--track",
        choices=["tensorboard", "mlflow"],
        help="log params, per-epoch metrics and the bundle to TensorBoard (event files in "
        "<out>/tensorboard) or MLflow (local file store <folder of --out>/mlruns); needs "
        "pip install 'healthcnn[track]'",
    )
    p.add_argument(
        "--track-uri",
        metavar="URI",
        help="where --track writes: a TensorBoard folder or an MLflow tracking URI",
    )
    p.add_argument(
        "--no-download",
        dest="download",
        action="store_false",
        default=None,
        help="never download a missing registered dataset or --weights file (say where to "
        "place it instead)",
    )
    add_format_option(p)
    add_quiet_option(p)
    p.set_defaults(func=_train)


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def run_config_from_args(args: argparse.Namespace) -> RunConfig:
    """Settings from --config, overridden by the flags given on the command line."""
    settings = read_config_file(args.config) if args.config else {}
    for key in (
        "data",
        "model",
        "weights",
        "out",
        "size",
        "task",
        "device",
        "data_dir",
        "download",
        "stream",
        "memory_budget_mb",
        "workers",
        "track",
        "track_uri",
    ):
        if getattr(args, key, None) is not None:
            settings[key] = getattr(args, key)
    train = settings.pop("train", None) or {}
    if not isinstance(train, dict):
        raise CLIError(f"{args.config}: 'train' must be a mapping of settings, got {train!r}")
    train = dict(train)
    for key in [k for k in settings if k in TrainConfig.__dataclass_fields__]:
        train[key] = settings.pop(key)  # top-level training settings, below the flags
    for key in _TRAIN_FLAGS:
        if getattr(args, key, None) is not None:
            train[key] = getattr(args, key)
    if args.milestones:
        try:
            train["milestones"] = [int(m) for m in args.milestones.split(",") if m]
        except ValueError:
            raise CLIError(
                f"--milestones must be comma-separated epochs, got {args.milestones!r}"
            ) from None
    kwargs = dict(settings.pop("model_kwargs", {}) or {})
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise CLIError(
                f"--set/--model-arg expects KEY=VALUE with KEY a Python identifier (e.g. "
                f"--model-arg width=32), got {item!r}"
            )
        kwargs[key] = _parse_value(value)
    missing = [f"--{key}" for key in ("data", "out") if not settings.get(key)]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise CLIError(f"{' and '.join(missing)} {verb} required (or set in --config)")
    return RunConfig.from_dict(
        {**settings, "train": train, "model_kwargs": kwargs}, where=args.config
    )


def _num(value: float | None) -> str:
    """A metric for a person: 4 decimals, or why there is none."""
    if value is None or value != value:
        return "undefined (a split holds one class only)"
    return f"{value:.4f}"


def _train(args: argparse.Namespace) -> int:
    cfg = run_config_from_args(args)
    check_device(cfg.device)
    check_bundle_target(cfg.out)  # before anything is loaded or trained
    if args.nproc < 1:
        raise CLIError(f"--nproc must be >= 1, got {args.nproc}")
    try:
        torchrun = distributed.launched_by_torchrun()
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if torchrun and args.nproc > 1:
        raise CLIError("launched by torchrun: leave out --nproc (torchrun sets the processes)")
    try:
        if torchrun:
            ctx = distributed.init_from_env(cfg.device)
            ok = False
            try:
                show = None if ctx.is_main and not args.quiet else False
                result = train_run(cfg, resume=args.resume, progress=show)
                ok = True
            finally:
                distributed.shutdown(wait_for_all=ok)
            if not ctx.is_main:
                return 0  # rank 0 prints the result
        else:
            show = False if args.quiet else None
            result = train_distributed(cfg, args.nproc, resume=args.resume, progress=show)
    except TrainingInterrupted as exc:
        print(f"healthcnn train: interrupted: {exc}; resume with --resume", file=sys.stderr)
        return 130
    except (TrainingError, distributed.LaunchError) as exc:
        raise CLIError(str(exc)) from None
    if printed_as_json(args, result.to_dict()):
        return 0
    h = result.history
    print(f"model {cfg.model} {result.model_kwargs} on {cfg.data}")
    if result.processes is not None:
        p = result.processes
        print(f"data-parallel: {p['world_size']} process(es), backend {p['backend']}")
    print(
        f"best epoch {h.best_epoch or 'none'} of {len(h.epochs)} (validation {h.monitor} "
        f"{_num(h.best_metric)}); {result.seconds:.0f} s"
    )
    for split, m in result.metrics.items():
        print(f"{split:>5}: AUC {m['auc']:.3f}  ACC {m['acc']:.3f}  (n={m['n']})")
    ref = published_result(str(cfg.data), cfg.model, cfg.size or DEFAULT_SIZE)
    if ref is not None:
        print(
            f"published: AUC {ref.auc:.3f}  ACC {ref.acc:.3f}  ({ref.method} ({ref.size}), "
            f"{ref.source})"
        )
    print(f"bundle: {result.bundle}")
    return 0
