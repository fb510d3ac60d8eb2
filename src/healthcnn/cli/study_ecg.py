"""``healthcnn study ecg-af | ecg5000 | ecg-georgia``: the ECG studies with 1D CNNs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import CLIError, add_study_options, emit_study_result

_STUDIES = {
    "ecg-af": "AF vs non-AF on CPSC 2021 10-s windows, leave-patients-out cross-validation",
    "ecg5000": "ECG5000 beat classes, stratified cross-validation",
    "ecg-georgia": "12-lead multi-label SNOMED-CT model on 50 Georgia ECGs (pipeline check)",
}
# default epochs and folds per study (folds None: leave-one-patient-out)
_DEFAULTS: dict[str, dict[str, Any]] = {
    "ecg-af": {"epochs": 15, "folds": None},
    "ecg5000": {"epochs": 30, "folds": 5},
    "ecg-georgia": {"epochs": 20, "folds": 5},
}


def register(study_subparsers: argparse._SubParsersAction) -> None:
    for name, help_text in _STUDIES.items():
        p = study_subparsers.add_parser(name, help=help_text, description=help_text + ".")
        quick = "a few steps on a small subset with a tiny model (tests, smoke runs)"
        add_study_options(p, quick=quick, out_required=False, device=False, resume=True)
        p.add_argument("--model", default="compact_resnet", help="registered model name")
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a model option, e.g. --set 'widths=[16,32,64,64]' (repeatable)",
        )
        folds_help = "number of folds by patient (default: leave-one-patient-out)"
        if name != "ecg-af":
            folds_help = f"number of folds (default {_DEFAULTS[name]['folds']})"
        p.add_argument("--folds", type=int, help=folds_help)
        p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
        p.add_argument("--epochs", type=int, help=f"default {_DEFAULTS[name]['epochs']}")
        p.add_argument("--batch-size", type=int, default=64)
        p.add_argument("--lr", type=float, default=1e-3)
        p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
        p.add_argument("--n-resamples", type=int, default=2000, help="bootstrap resamples")
        if name != "ecg5000":
            p.add_argument("--fs", type=float, default=100.0, help="resample to this rate (Hz)")
        p.set_defaults(func=_run, study_name=name)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _config(args: argparse.Namespace) -> Any:
    from ..studies.ecg import QUICK_MODEL_KWARGS, CVConfig

    try:
        seeds = tuple(int(s) for s in args.seeds.split(",") if s.strip())
    except ValueError:
        raise CLIError(f"--seeds must be comma-separated integers, got {args.seeds!r}") from None
    if not seeds:
        raise CLIError("--seeds needs at least one seed")
    kwargs: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CLIError(f"--set expects KEY=VALUE, got {item!r}")
        kwargs[key] = _parse_value(value)
    defaults = _DEFAULTS[args.study_name]
    epochs = args.epochs or defaults["epochs"]
    folds = args.folds if args.folds is not None else defaults["folds"]
    n_resamples = args.n_resamples
    if args.quick:
        if args.model == "compact_resnet":
            kwargs = {**QUICK_MODEL_KWARGS, **kwargs}
        epochs = args.epochs or 1
        folds = args.folds or (3 if args.study_name == "ecg-af" else 2)
        n_resamples = min(n_resamples, 100)
    return CVConfig(
        model=args.model,
        model_kwargs=kwargs,
        folds=folds,
        seeds=seeds,
        epochs=epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        precision=args.precision,
        n_resamples=n_resamples,
    )


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _run(args: argparse.Namespace) -> int:
    from ..models._registry import get_entry
    from ..studies import ecg

    get_entry(args.model)  # an unknown model fails before any data is read
    cfg = _config(args)
    common = {
        "data_dir": args.data_dir,
        "out": args.out,
        "progress": None if args.quiet else _progress,
        "resume": args.resume,
    }
    if args.study_name == "ecg-af":
        records = ecg.QUICK_AF_RECORDS if args.quick else None
        result = ecg.run_ecg_af(cfg, records=records, fs=args.fs, **common)
    elif args.study_name == "ecg5000":
        result = ecg.run_ecg5000(cfg, **common)
    else:
        result = ecg.run_ecg_georgia(cfg, fs=args.fs, **common)
    return emit_study_result(result, args.format, args.out, _print_summary)


def _fmt(e: dict[str, Any]) -> str:
    lo, hi = e.get("ci_low"), e.get("ci_high")
    if lo is None or hi is None or lo != lo or hi != hi:  # NaN: no interval
        return f"{e['value']:.3f} (no CI)"
    return f"{e['value']:.3f} (95% CI {lo:.3f}-{hi:.3f}, {e['method']})"


def _print_summary(result: dict[str, Any]) -> None:
    cfg = result["config"]
    print(f"study {result['study']}: {cfg['model']} {cfg['model_kwargs']}, folds {cfg['folds']}")
    for ps in result["per_seed"]:
        if result["study"] == "ecg-af":
            print(
                f"seed {ps['seed']}: window AUC {_fmt(ps['window_auc'])}; record AUC "
                f"{_fmt(ps['record_auc'])}; patient AUC {_fmt(ps['patient_auc'])}"
            )
        else:
            acc = f"; accuracy {_fmt(ps['accuracy'])}" if "accuracy" in ps else ""
            print(f"seed {ps['seed']}: macro AUC {_fmt(ps['macro_auc'])}{acc}")
    for key, s in result["summary"].items():
        sd = "" if s["sd"] != s["sd"] else f" +- {s['sd']:.3f} (SD over {s['n']} seeds)"
        print(f"{key}: {s['mean']:.3f}{sd}")
    print(f"wall time {result['environment']['seconds']:.0f} s")
