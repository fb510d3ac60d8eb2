"""The ``healthcnn`` command: a thin shell over library functions.

Each command group lives in its own module with a ``register(subparsers)`` function that adds
its sub-parser and sets ``func``; ``func(args)`` calls one library function and prints the
result (results on stdout, progress on stderr). Errors in the user's input print one line on
stderr and exit with code 2, without a traceback; Ctrl-C, in any phase, prints one line and
exits with 130.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import __version__
from .._json import dumps


@dataclass(frozen=True)
class Command:
    """A top-level command: its module (which adds the command's arguments with
    ``register(parser)``), its one-line help in ``healthcnn --help`` and its description."""

    module: str
    help: str
    description: str | None


#: every top-level command, in the order ``healthcnn --help`` lists them
COMMANDS: dict[str, Command] = {
    "shapes": Command(
        "shapes",
        "output size, parameters and calculations of one layer (the lecture's formulas)",
        (
            "Output size (W - F + 2P)/S + 1, parameters and calculations of one layer. Shapes are"
            " channels last: 227x227x3 (image), 5000x12 (signal), 64x64x64x1 (volume)."
        ),
    ),
    "models": Command(
        "models",
        "list the registered architectures",
        None,
    ),
    "data": Command(
        "data",
        "list, inspect and download datasets",
        None,
    ),
    "summary": Command(
        "summary",
        "per-layer shapes, parameters, MACs and pooling calculations of a model",
        (
            "Run one forward pass and print every layer call with its shapes, parameters, MACs "
            "(bias excluded; FLOPs = 2 x MACs) and pooling calculations (output elements x window"
            " volume). --input is channels last, as for shapes: 227x227x3, 5000x12, 64x64x64x1;"
            " the table shows tensors channels first, as PyTorch holds them."
        ),
    ),
    "train": Command(
        "train",
        "train a model on a dataset and write a bundle",
        (
            "Train a registered model on a dataset (registered name, .npz or .csv), score "
            "validation and test, and write the model bundle to --out."
        ),
    ),
    "evaluate": Command(
        "evaluate",
        "score a bundle on a split of its data (CIs, operating points, calibration)",
        (
            "Score a bundle. Thresholds and the calibration temperature are fitted on the "
            "validation split and applied unchanged to --split."
        ),
    ),
    "report": Command(
        "report",
        "write a self-contained HTML model card of a bundle",
        (
            "Score a bundle (thresholds fitted on val, then the chosen split) and write one HTML "
            "file: data provenance, model, training curves, ROC with CI band, operating points, "
            "calibration, subgroups, readers, versions. Prints the path written."
        ),
    ),
    "calibrate": Command(
        "calibrate",
        "fit prediction sets / an abstain rule on val and store them in the bundle",
        (
            "Fit split-conformal prediction sets and/or an abstain rule on the bundle's "
            "validation split and write them into the bundle (sealed by its manifest)."
        ),
    ),
    "predict": Command(
        "predict",
        "class probabilities for image, .npz, DICOM (file or series) or NIfTI",
        None,
    ),
    "inspect": Command(
        "inspect",
        "read a DICOM file/series or NIfTI volume and describe it",
        None,
    ),
    "explain": Command(
        "explain",
        "saliency maps (with their sanity verdict) for an image, volume or signal file",
        (
            "Maps of where the network looked, each with the verdict of the cascading "
            "model-parameter randomisation test; figures and explanation.json go to --out."
        ),
    ),
    "export": Command(
        "export",
        "export a bundle to ONNX (with an output-parity check)",
        (
            "Export a bundle's network to ONNX. The graph is run in ONNX Runtime next to the "
            "PyTorch model in fp32 on the same inputs; the largest absolute logit difference is "
            "printed, and above --atol nothing is written and the command fails."
        ),
    ),
    "serve": Command(
        "serve",
        "serve bundles over HTTP: an API and a web page (FastAPI on uvicorn)",
        (
            "Serve bundles over HTTP on 127.0.0.1 unless told otherwise: GET /healthz, "
            "GET /v1/models, POST /v1/models/NAME/predict (multipart field 'file'), "
            "GET /v1/models/NAME/card, the page at / and the OpenAPI page at /docs. "
            "Requests are scored in micro-batches. SIGTERM or Ctrl-C finishes the requests in "
            "flight, then exits. Research use, not for diagnosis."
        ),
    ),
    "study": Command(
        "study",
        "run a clinical study from data to report",
        None,
    ),
    "weights": Command(
        "weights",
        "inspect weight files, inflate 2D to 1D/3D",
        None,
    ),
}

#: exceptions that mean "the user asked for something impossible": one line, exit 2
#: (OSError covers a missing file, a permission problem and a full disk alike)
USER_ERRORS = (ValueError, TypeError, KeyError, OSError)


def add_study_options(
    p: argparse.ArgumentParser,
    *,
    quick: str,
    out_required: bool = True,
    device: bool = True,
    resume: bool = False,
) -> None:
    """The options every study command shares: where results go, the data root, the device,
    the ``--quick`` smoke run (``quick`` says what it does) and the output format; with
    ``resume``, ``--resume`` for a study whose networks checkpoint under ``--out``."""
    out_help = "output folder" if out_required else "folder for results.json (default: print only)"
    p.add_argument("--out", required=out_required, help=out_help)
    p.add_argument("--data-dir", help="data root (default $HEALTHCNN_DATA)")
    if device:
        p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--quick", action="store_true", help=quick)
    if resume:
        p.add_argument(
            "--resume",
            action="store_true",
            help="go on from the checkpoints an interrupted run of this study left in "
            "--out/checkpoints (each network checkpoints as it trains); without it they are "
            "refused, never overwritten",
        )
    add_format_option(p)
    add_quiet_option(p)


def add_quiet_option(p: argparse.ArgumentParser) -> None:
    """``--quiet``: no progress bars and no informational log lines (warnings and errors
    still go to stderr; results still go to stdout)."""
    p.add_argument(
        "--quiet", action="store_true", help="no progress or log lines on stderr, only warnings"
    )


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (so a redirected or
    captured stderr gets the lines)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


_HANDLER = _StderrHandler()
_HANDLER.setFormatter(logging.Formatter("%(message)s"))


def configure_logging(quiet: bool = False, *, timestamps: bool = False) -> None:
    """The command line's logging: one handler on the root logger writing plain lines to
    stderr (``timestamps``: each line starts with the time, level and logger, as a service's
    log needs); the ``healthcnn`` loggers at INFO (WARNING with ``--quiet``), everything else
    at WARNING. Calling it again only changes the levels and the format."""
    line = "%(asctime)s %(levelname)s %(name)s: %(message)s" if timestamps else "%(message)s"
    _HANDLER.setFormatter(logging.Formatter(line))
    root = logging.getLogger()
    if _HANDLER not in root.handlers:
        root.addHandler(_HANDLER)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    logging.getLogger("healthcnn").setLevel(logging.WARNING if quiet else logging.INFO)


def add_trust_options(p: argparse.ArgumentParser, method_flag: str) -> None:
    """Prediction sets and abstention fitted on val, shared by ``evaluate`` and ``calibrate``
    (the set method's flag is ``method_flag``; its value is ``args.set_method``)."""
    t = p.add_argument_group("prediction sets and abstention (fitted on val)")
    t.add_argument("--coverage", type=float, default=0.9, metavar="C", help="target coverage")
    t.add_argument(method_flag, dest="set_method", default="aps", choices=["lac", "aps", "raps"])
    t.add_argument(
        "--class-conditional", action="store_true", help="one quantile per class (Mondrian)"
    )
    t.add_argument("--no-sets", action="store_true", help="no prediction sets")
    t.add_argument(
        "--abstain-accuracy",
        type=float,
        metavar="A",
        help="abstain below the softmax confidence whose kept val cases reach accuracy A",
    )


def add_format_option(p: argparse.ArgumentParser) -> None:
    """``--format text|json``: lines for people (the default) or JSON for programs."""
    p.add_argument("--format", choices=["text", "json"], default="text")


def add_info_action(
    sub: argparse._SubParsersAction, help_text: str, argument: str, func: Callable[..., int]
) -> None:
    """The ``info ARGUMENT [--format text|json]`` action of a command group, run by ``func``."""
    info = sub.add_parser("info", help=help_text)
    info.add_argument(argument)
    add_format_option(info)
    info.set_defaults(func=func)


def printed_as_json(args: argparse.Namespace, doc: Any) -> bool:
    """Under ``--format json``, print ``doc`` as indented strict JSON (an undefined number is
    ``null``, never ``NaN``) and return True; else False."""
    if args.format != "json":
        return False
    print(dumps(doc, indent=2))
    return True


def add_scoring_options(p: argparse.ArgumentParser) -> None:
    """The options of scoring a bundle on a split, shared by ``evaluate`` and ``report``."""
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--data-dir", help="data root (default $HEALTHCNN_DATA, ~/.cache/healthcnn)")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    p.add_argument(
        "--positive",
        metavar="CLASSES",
        help="positive classes of the binary view (ROC, operating points), names or indices, "
        "e.g. 2,3,4; RetinaMNIST defaults to 2,3,4 (referable DR)",
    )
    p.add_argument("--groups", metavar="COLUMN", help="subgroup table by this data column")
    p.add_argument("--readers", metavar="CSV", help="reader,sensitivity,specificity points")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling")


class CLIError(Exception):
    """Raised by commands for a user-facing error; printed as one line, exit code 2."""


def parse_numbers(text: str, kind: type, flag: str, *, allow_empty: bool = False) -> tuple:
    """Comma-separated numbers of a study option (``"0.25,0.5,1"``) as a tuple of ``kind``;
    a bad value (or, unless ``allow_empty``, none at all) is a :class:`CLIError` naming
    ``flag``."""
    try:
        values = tuple(kind(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise CLIError(f"{flag} must be comma-separated numbers, got {text!r}") from None
    if not values and not allow_empty:
        raise CLIError(f"{flag} needs at least one value")
    return values


def emit_study_result(
    result: dict[str, Any], fmt: str, out: str | None, summary: Callable[[dict[str, Any]], None]
) -> int:
    """A study's result on stdout: strict JSON (``fmt == "json"``) or the summary lines and
    where the results file went."""
    if fmt == "json":
        from .._json import dumps

        print(dumps(result, indent=2))
        return 0
    summary(result)
    if out:
        print(f"results: {out}/results.json")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="healthcnn",
        description="Convolutional neural networks for healthcare.",
    )
    parser.add_argument("--version", action="version", version=f"healthcnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        parser_of = sub.add_parser(name, help=command.help, description=command.description)
        importlib.import_module(f"{__name__}.{command.module}").register(parser_of)
    return parser


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is Ctrl-C: a KeyboardInterrupt, or the trainer's TrainingInterrupted."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    history = sys.modules.get("healthcnn.training.history")
    return history is not None and isinstance(exc, history.TrainingInterrupted)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; Ctrl-C at any phase (start-up included) exits 130 with one line."""
    command = "healthcnn"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        command = f"healthcnn {args.command}"
        configure_logging(quiet=bool(getattr(args, "quiet", False)))
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return 0
    except (CLIError, *USER_ERRORS) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"{command}: error: {message}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Exception) as exc:
        if not _interrupted(exc):
            raise
        detail = "" if isinstance(exc, KeyboardInterrupt) else f" ({exc})"
        print(f"{command}: interrupted{detail}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
