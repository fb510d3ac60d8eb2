"""``healthcnn study dr-screening``: the diabetic-retinopathy screening study (Gulshan et al.)."""

from __future__ import annotations

import argparse
import sys

from .._json import dumps
from . import add_study_options, parse_numbers
from .config import check_device


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dr-screening",
        help="DR grading and referable-DR screening: ensemble, operating points, learning "
        "curve, grade sampling (simulated)",
        description="Train an ensemble of 5-grade DR networks, derive referable DR (grade >= 2), "
        "fit high-sensitivity and high-specificity operating points on the validation split, "
        "score test with DeLong and Wilson intervals, compare single vs ensemble (paired "
        "DeLong), draw a learning curve over training fractions and simulate k graders per "
        "tuning image; writes bundles/, study.json and report.html to --out.",
    )
    add_study_options(p, quick="seconds-long smoke run (tiny CNN)", resume=True)
    p.add_argument(
        "--data",
        default="retinamnist",
        help="dataset name, MedMNIST-layout .npz, or an images CSV of full-size photographs "
        "(path, optional split/group/label)",
    )
    p.add_argument("--grades-csv", help="long-format CSV image,grader,grade (several graders)")
    p.add_argument(
        "--grade-rule",
        choices=["majority", "median", "adjudication"],
        default="majority",
        help="reference grade from several gradings",
    )
    p.add_argument(
        "--fundus-size",
        type=int,
        default=28,
        help="network input side after the field-of-view crop (photos only)",
    )
    p.add_argument(
        "--local-contrast",
        action="store_true",
        help="subtract a blurred copy of each photo (local-contrast normalisation)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ensemble-size", type=int, default=5)
    p.add_argument("--epochs", type=int, help="override the recipe's epochs (default 40)")
    p.add_argument(
        "--precision",
        choices=["auto", "bf16", "fp32"],
        help="override the recipe's precision (auto: bf16 where the device computes it "
        "natively, else fp32); a resumed study must keep the numerics it began with",
    )
    p.add_argument(
        "--referable-model",
        choices=["auto", "derived", "binary"],
        default="auto",
        help="derived: P(grade >= 2) of the 5-grade ensemble; binary: a referable-DR network; "
        "auto: both, chosen on validation AUC",
    )
    p.add_argument("--sensitivity-target", type=float, default=0.90)
    p.add_argument("--specificity-target", type=float, default=0.90)
    p.add_argument("--fractions", default="0.05,0.1,0.25,0.5,1", help="learning-curve fractions")
    p.add_argument("--curve-seeds", type=int, default=3, help="seeds per learning-curve point")
    p.add_argument("--graders", default="1,3,5,7", help="k values of the grade simulation")
    p.add_argument("--grader-replicates", type=int, default=50)
    p.add_argument("--grader-kappa", type=float, default=0.80)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    check_device(args.device)
    from ..studies.dr_screening import DEFAULT_RECIPE, StudyConfig, run_study

    given = " and ".join(f"--{k}" for k in ("epochs", "precision") if getattr(args, k) is not None)
    if args.quick and given:
        raise ValueError(
            f"{given} set the full study's recipe, and --quick runs its own (one epoch of a "
            f"small CNN): drop {given} or drop --quick"
        )
    recipe = DEFAULT_RECIPE
    if args.epochs is not None:
        recipe = recipe.with_train(epochs=args.epochs, warmup_epochs=min(2, args.epochs - 1))
    if args.precision is not None:
        recipe = recipe.with_train(precision=args.precision)
    from ..data.fundus import FundusConfig

    cfg = StudyConfig(
        out=args.out,
        data=args.data,
        grades_csv=args.grades_csv,
        grade_rule=args.grade_rule,
        fundus=FundusConfig(size=args.fundus_size, local_contrast=args.local_contrast),
        data_dir=args.data_dir,
        device=args.device,
        seed=args.seed,
        recipe=recipe,
        ensemble_size=args.ensemble_size,
        referable_model=args.referable_model,
        sensitivity_target=args.sensitivity_target,
        specificity_target=args.specificity_target,
        fractions=parse_numbers(args.fractions, float, "--fractions"),
        curve_seeds=args.curve_seeds,
        grader_ks=parse_numbers(args.graders, int, "--graders"),
        grader_replicates=args.grader_replicates,
        grader_kappa=args.grader_kappa,
        quick=args.quick,
    )
    text = args.format == "text"
    show = text and not args.quiet
    say = (lambda m: print(m, file=sys.stderr)) if show else None
    result = run_study(cfg, progress=say, resume=args.resume)
    summary = result.summary
    if not text:
        print(dumps(summary))
        return 0
    g = summary["grade_test_ensemble"]
    auc = summary["referable_test_auc"]
    print(
        f"5-grade ensemble (test): AUC {g['auc']:.3f}, ACC {g['acc']:.3f}, kappa {g['kappa']:.3f}"
    )
    print(
        f"referable DR (test): AUC {auc['value']:.3f} "
        f"(95% CI {auc['ci_low']:.3f}-{auc['ci_high']:.3f}, DeLong)"
    )
    for name, op in summary["operating_points"].items():
        sens, spec = op["test"]["sensitivity"], op["test"]["specificity"]
        print(
            f"  {name.replace('_', ' ')} (threshold {op['threshold']:.4f}, fitted on val): "
            f"sensitivity {sens['value']:.3f} ({sens['ci_low']:.3f}-{sens['ci_high']:.3f}), "
            f"specificity {spec['value']:.3f} ({spec['ci_low']:.3f}-{spec['ci_high']:.3f})"
        )
    print(f"ensemble vs single, paired DeLong p = {summary['ensemble_p_value']:.4f}")
    print(f"wrote {result.out}/study.json and {summary['report']} ({summary['seconds']} s)")
    return 0
