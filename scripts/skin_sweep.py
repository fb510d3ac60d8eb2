"""The skin studies' final runs, in parallel processes: DermaMNIST targets and HAM10000 study.

Three phases, each run as ``--jobs`` processes at a time (one process per run):

1. ``derma:<recipe>:<seed>``: ResNet-18 (28 px stem) on the DermaMNIST rebuild, for each recipe
   in ``DERMA_RECIPES`` and seed; the recipe and test-time augmentation (flip averaging) are
   chosen on the *validation* mean accuracy; test AUC/ACC are reported for the choice.
2. ``ham:<seed>``: the skin-taxonomy study (three approaches, paired DeLong tests) on HAM10000
   at ``--size`` (px, WIDTHxHEIGHT or ``stored``), one fixed lesion-level split, one training
   seed per run. With ``--apart`` each approach of a seed first trains as a job of its own
   (``hamapp:<approach>:<seed>``, so that one seed's three networks use several cores) and the
   ``ham`` job scores their stored probabilities with the study's own code.
3. ``curve:<approach>:<fraction>:<seed>``: the learning curve of the approach with the best
   mean validation 2-way AUC in phase 2 (fraction 1 reuses phase 2's runs).

With ``--ham-recipes R ...`` the sweep runs only ``hamrec:<recipe>:<seed>`` jobs instead: one
7-way network (the diagnosis approach) per recipe of the study's ``RECIPES`` and seed, at
``--size`` px for ``--ham-epochs``, scored on validation and test under both decision rules,
with and without flip averaging, and with the patient's age, sex and lesion site fused in
(rounds 11-13: ``--metadata-report`` writes those scores and the seed ensemble,
``--add-metadata`` adds them to runs stored before, ``--docs-copy`` keeps the scores for
docs/results-data; round 15: ``--fusion-report`` scores a fusion learned on validation against
the product rule); ``--recipe-report`` writes the runs (and those of other settings kept in
subfolders of ``--out``, e.g. ``128px-8ep/``) below the pre-registration in
``docs/results-skin-recipes.md``.

Every run writes ``<out>/<run>/result.json`` when it ends (an interrupted sweep keeps what it
finished); a training run (hamrec, hamapp, curve) also checkpoints as it trains in
``<out>/<run>/train/``, so that ``--resume`` goes on where a time limit, a crash or the end of
a session stopped it (a network too long for one session trains over several).
``--report docs/results-skin.md`` summarises a result folder; ``--approaches-report
docs/results-skin-recipes.md`` writes the ham studies of one setting (every seed, with the
7-way answers with the metadata fused where scored) between their marks in that page.

    PYTHONPATH=src python scripts/skin_sweep.py --device cuda --jobs 8 --data-dir .gpu-data \\
        --out runs/skin-sweep
    .venv/bin/python scripts/skin_sweep.py --quick --out runs/skin-smoke     # CPU smoke test
    .venv/bin/python scripts/skin_sweep.py --report docs/results-skin.md --out runs/skin-sweep
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
from healthcnn._atomic import atomic_write_text  # noqa: E402
from healthcnn.cli.study_skin import size_argument  # noqa: E402
from healthcnn.data.ham10000 import size_label, size_text  # noqa: E402
from healthcnn.studies.skin_taxonomy import (  # noqa: E402
    APPROACHES,
    DEFAULT_EPOCHS,
    DEFAULT_SIZE,
    DEFAULT_VIEWS,
    RECIPES,
    VIEWS,
    flip_views,
    network_settings,
    recipe_train_config,
)

DERMA_RECIPES = {
    # AdamW + cosine (2 warm-up epochs), batch 128; the augmentation differs, and "epochs"
    # (where given) overrides --derma-epochs
    "basic": {"augment": "basic"},
    "strong": {"augment": "strong"},
    "strong-e20": {"augment": "strong", "epochs": 20},
    "strong-e30": {"augment": "strong", "epochs": 30},
}
#: the learning curve's fractions of the training lesions (10/25/50%, as the issue asks; 100% is
#: the study itself)
CURVE_FRACTIONS = (0.1, 0.25, 0.5)
#: the 7-way losses compared on validation balanced accuracy (``--ham-recipes``): the study's own
#: table, so that a recipe tried here is exactly what ``healthcnn study skin-taxonomy`` runs
HAM_RECIPES = tuple(RECIPES)
#: the subfolder of a training job's folder (hamrec, hamapp, curve) its training checkpoints
#: into as it trains (at most once a minute, and after its last epoch)
CHECKPOINT_DIR = "train"
#: what a ham study ignores when it checks a run trained apart against its own settings: which
#: approaches it compares and whether it scores the metadata change no network's training, and
#: the data's folder and the device may change between the sessions a seed's networks train in
#: (as for a training job going on from its checkpoint)
STUDY_IGNORED = ("out", "approaches", "metadata", "data_dir", "device")


def _train_config(args: argparse.Namespace, epochs: int, seed: int, **extra):
    from healthcnn.training import TrainConfig

    return TrainConfig(
        epochs=epochs,
        batch_size=128,
        lr=args.lr,
        optimizer="adamw",
        weight_decay=0.05,
        schedule="cosine",
        warmup_epochs=min(2, epochs - 1),
        seed=seed,
        precision=args.precision,
        **extra,
    )


def _rounded(probs) -> list[list[float]]:
    """Class probabilities as JSON rows, to 6 decimals (what the report's ensembles read)."""
    return [[round(float(x), 6) for x in row] for row in probs]


def run_derma(recipe: str, seed: int, args: argparse.Namespace) -> dict:
    from healthcnn.data import load_medmnist_splits
    from healthcnn.metrics import accuracy_from_scores, roc_auc
    from healthcnn.tasks import make_task
    from healthcnn.training.fit import FitSpec, fit_model

    splits = load_medmnist_splits("dermamnist", root=args.data_dir)
    train, val, test = splits["train"], splits["val"], splits["test"]
    options = dict(DERMA_RECIPES[recipe])
    cfg = _train_config(args, options.pop("epochs", args.derma_epochs), seed, **options)
    task = make_task("multiclass", train.classes)
    up = args.derma_upsample
    # the sweep's choice of stem, as the DR -up64 recipes: the 28 px stem on 28 px inputs, the
    # ImageNet stem on upsampled ones (whatever their size)
    resnet = args.derma_model.startswith("resnet")
    kwargs = {"stem": "imagenet" if up else "small"} if resnet else {}
    spec = FitSpec(args.derma_model, cfg, kwargs, model_input_size=up, device=args.device)
    fitted = fit_model(spec, train, val, task)
    out = {
        "recipe": recipe,
        "seed": seed,
        "best_epoch": fitted.history.best_epoch,
        "model": {"name": args.derma_model, **kwargs, "input_px": up or 28},
    }
    out["labels"], out["probabilities"] = {}, {}
    for name, ds in (("val", val), ("test", test)):
        y = ds.labels.numpy()
        plain = fitted.infer(ds, batch_size=512)[1]
        tta = fitted.infer(ds, batch_size=512, views=flip_views(fitted))[1]
        out["labels"][name] = [int(v) for v in y]
        for tag, p in (("plain", plain), ("tta", tta)):
            out[f"{name}_{tag}"] = {
                "auc": float(roc_auc(y, p, ci=None)),
                "acc": float(accuracy_from_scores(y, p)),
            }
            # for seed ensembles in the report (the copies kept in docs/ drop them)
            out["probabilities"][f"{name}_{tag}"] = _rounded(p)
    out["seconds"] = round(fitted.seconds, 1)
    out["train_config"] = cfg.to_dict()
    return out


def _ham_train(args: argparse.Namespace, seed: int, recipe: str):
    return recipe_train_config(
        recipe, args.ham_epochs, lr=args.lr, seed=seed, precision=args.precision
    )


def _ham_config(args: argparse.Namespace, seed: int, out: str, recipe: str = "ce"):
    """The HAM10000 study settings of the sweep; ``recipe`` names one of the study's RECIPES."""
    from healthcnn.studies.skin_taxonomy import SkinStudyConfig

    return SkinStudyConfig(
        out=out,
        data_dir=args.data_dir,
        size=args.size,
        model=args.ham_model,
        views=args.ham_views,
        seed=seed,
        split_seed=0,
        train=_ham_train(args, seed, recipe),
        curve_fractions=(),
        curve_seeds=(),
        subsample=args.subsample,
        device=args.device,
        approaches=tuple(a for a in APPROACHES if a in args.ham_approaches),  # study order
    )


def _job_folder(out: str | Path, job: str) -> Path:
    """Where job ``job`` writes its result files."""
    return Path(out) / job.replace(":", "-")


def _apart_job(approach: str, seed: int, recipe: str) -> str:
    """The ``hamapp`` job of one approach of the study ``ham:<seed>:<recipe>``."""
    return f"hamapp:{approach}:{seed}:{recipe}"


def run_ham_approach(
    approach: str, seed: int, args: argparse.Namespace, recipe: str, folder: Path
) -> dict:
    """One approach of the study ``ham:<seed>:<recipe>``, trained in a process of its own (so
    that the three approaches of a seed run on separate cores); the ``ham`` job then scores it
    with the others instead of training it again."""
    from healthcnn.studies.skin_taxonomy import approach_run_to_json, prepare_study, train_approach

    cfg = _ham_config(args, seed, "", recipe)
    ckpt, done = _checkpoint_dir(folder, network_settings(cfg, folder.name), args.resume)
    run = train_approach(prepare_study(cfg), approach, cfg, seed, out_dir=ckpt, resume=done > 0)
    return {
        "approach": approach,
        "seed": seed,
        "recipe": recipe,
        "study_config": cfg.to_dict(),
        "run": approach_run_to_json(run),
    }


def run_ham(seed: int, args: argparse.Namespace, folder: Path, recipe: str = "ce") -> dict:
    """The study of ``seed``; approaches already trained apart (``hamapp`` jobs in ``--out``)
    are scored from their stored probabilities, after checking they used these settings."""
    import dataclasses

    from healthcnn.studies.skin_taxonomy import run_study

    # the study scores the patient's age, sex and site beside the image too (round 11's fusion:
    # no training of its own, so a GPU round's studies report it at no cost)
    cfg = dataclasses.replace(_ham_config(args, seed, str(folder), recipe), metadata=True)
    # which approaches a study compares, and whether it scores the metadata, do not change how
    # any one of them is trained (prepare_study ignores both), so a run stored by a study of
    # other approaches is usable
    settings = {k: v for k, v in cfg.to_dict().items() if k not in STUDY_IGNORED}
    runs = {}
    for approach in cfg.approaches:
        path = _job_folder(args.out, _apart_job(approach, seed, recipe)) / "result.json"
        if not path.is_file():
            continue
        record = json.loads(path.read_text())
        stored = {k: v for k, v in record["study_config"].items() if k not in STUDY_IGNORED}
        if stored != settings:
            differ = sorted(k for k in settings if stored.get(k) != settings[k])
            raise SystemExit(
                f"{path} was trained with other settings ({', '.join(differ)}) than this "
                f"study's; move it away or rerun the hamapp job with these settings"
            )
        runs[approach] = record["run"]
    return run_study(cfg, runs=runs, resume=args.resume)


def _checkpoint_dir(folder: Path, settings: dict, resume: bool) -> tuple[Path, int]:
    """The folder a training job checkpoints into, and the epochs already done there (0: a
    fresh start); see :func:`healthcnn.studies._resume.checkpoint_folder`. ``settings`` are the
    study's own for a network (``network_settings``, named by the job's folder), so a job goes
    on exactly when a study would: scoring-only settings (approaches compared, metadata, views,
    data folder, device) may change between sessions."""
    from healthcnn.studies._resume import checkpoint_folder

    ckpt = folder / CHECKPOINT_DIR
    again = f"move {folder} away to train it again from the start"
    try:
        return ckpt, checkpoint_folder(ckpt, settings, resume, to_start_again=again)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def run_ham_recipe(recipe: str, seed: int, args: argparse.Namespace) -> dict:
    """One 7-way network of ``recipe`` (the diagnosis approach) with ``seed``: validation and
    test balanced accuracy under the two fixed decision rules and the rule tuned on validation,
    and macro AUC, with and without flip averaging, and the probabilities (for seed ensembles)."""
    import dataclasses

    from healthcnn.studies import _skin_eval
    from healthcnn.studies.skin_taxonomy import prepare_study, train_approach
    from skin_sweep_report import add_metadata, add_prior_tuned

    cfg = _ham_config(args, seed, "")
    train = _ham_train(args, seed, recipe)
    # the plain view here; the flips are scored below, each kept apart
    cfg = dataclasses.replace(cfg, train=train, approaches=("diagnosis",), views="plain")
    folder = _job_folder(args.out, f"hamrec:{recipe}:{seed}")
    ckpt, done = _checkpoint_dir(folder, network_settings(cfg, folder.name), args.resume)
    prep = prepare_study(cfg)
    run = train_approach(
        prep, "diagnosis", cfg, seed, keep_fitted=True, out_dir=ckpt, resume=done > 0
    )
    fitted = run.pop("fitted")
    task = fitted.task
    for split in ("val", "test"):
        ds = prep.splits[split].dataset
        p = fitted.infer(ds, batch_size=512, views=flip_views(fitted))[1]
        run[f"{split}-tta"] = task.class_columns(p)
    out = {"recipe": recipe, "seed": seed, "best_epoch": run["best_epoch"], "scores": {}}
    probs = {}
    for split in ("val", "test"):
        ham = prep.splits[split].ham
        for view in ("plain", "tta"):
            key = split if view == "plain" else f"{split}-tta"
            seven = _skin_eval.seven_way(prep, run, ham, split=key)
            out["scores"][f"{split}_{view}"] = {
                "macro_auc": seven["macro_auc"]["value"],
                "balanced_accuracy": {
                    "argmax": seven["balanced_accuracy"]["value"],
                    "prior-corrected": seven["balanced_accuracy_prior_corrected"]["value"],
                },
                "accuracy": seven["accuracy"],
            }
            probs[f"{split}_{view}"] = _skin_eval.level_probs(prep, run, key, seven["classes"])
    out["classes"] = list(prep.base.leaves)
    out["train_prior"] = _skin_eval.train_prior(prep).tolist()
    out["labels"] = {
        s: [out["classes"].index(d) for d in prep.splits[s].ham.meta["dx"]] for s in ("val", "test")
    }
    # the images in the order of the rows above (what metadata is read against, by image id)
    out["image_ids"] = {
        s: [str(i) for i in prep.splits[s].ham.meta["image_id"]] for s in ("val", "test")
    }
    out["probabilities"] = {k: _rounded(v) for k, v in probs.items()}
    add_prior_tuned(out)  # from the stored probabilities, as for runs scored after the fact
    # the patient's age, sex and lesion site beside the image (round 11)
    val, test = (prep.splits[s].ham.meta for s in ("val", "test"))
    add_metadata(out, prep.splits["train"].ham.meta, {c: [*val[c], *test[c]] for c in val})
    out["seconds"] = round(run["seconds"], 1)
    if "resumed_after_epoch" in run:
        out["resumed_after_epoch"] = run["resumed_after_epoch"]
    out["train_config"] = cfg.train.to_dict()
    out["size"] = cfg.size
    return out


def _lesions(args: argparse.Namespace) -> dict[str, str]:
    """The lesion of each image id, from the data root's metadata file."""
    from healthcnn.data.ham10000 import FOLDER, METADATA_FILE, read_metadata
    from healthcnn.data.root import data_root

    meta = read_metadata(data_root(args.data_dir) / FOLDER / METADATA_FILE)
    return {str(i): str(g) for i, g in zip(meta["image_id"], meta["lesion_id"], strict=True)}


def rescore_metadata(args: argparse.Namespace) -> int:
    """Add the metadata scores (round 11) to the hamrec runs under ``--out`` that have none,
    or the metadata model's probabilities to runs scored without them (round 11b's ensembles
    read them; the scores rewritten must equal those stored, else the file is left as it was),
    from their stored probabilities and the data root's metadata file; the split is the
    study's (``split_rows`` with the sweep's settings), and must give the images the run stored."""
    from healthcnn.data.ham10000 import FOLDER, METADATA_FILE, read_metadata
    from healthcnn.data.root import data_root
    from healthcnn.studies.skin_taxonomy import split_rows
    from skin_sweep_report import add_metadata, scores_differ

    paths = sorted(Path(args.out).glob("**/hamrec-*/result.json"))
    if not paths:
        raise SystemExit(f"no hamrec-*/result.json files under {args.out}")
    cfg = _ham_config(args, 0, "")
    meta = read_metadata(data_root(args.data_dir) / FOLDER / METADATA_FILE)
    rows = split_rows(meta, cfg.subsample, cfg.split_seed)
    part = {s: {c: v[i] for c, v in meta.items()} for s, i in rows.items()}
    done = 0
    for path in paths:
        record = json.loads(path.read_text())
        before = record.get("metadata")
        if before is not None and "probabilities" in before:
            continue
        if "image_ids" not in record:
            raise SystemExit(f"{path} does not record its images' ids (a run from before round 11)")
        for split in ("val", "test"):
            if record["image_ids"][split] != [str(i) for i in part[split]["image_id"]]:
                raise SystemExit(
                    f"{path}: its {split} images are not those of the split made here (split "
                    f"seed {cfg.split_seed}, --subsample {cfg.subsample}); rescore it with the "
                    "run's settings"
                )
        add_metadata(record, part["train"], meta)
        if before is not None:
            differ = scores_differ(before["scores"], record["metadata"]["scores"])
            if differ:
                raise SystemExit(
                    f"{path}: its stored metadata scores are not what rescoring gives "
                    f"({differ}); left as it was"
                )
        atomic_write_text(path, json.dumps(record, indent=2, allow_nan=True))
        done += 1
        what = "probabilities" if before is not None else "scores"
        print(f"metadata {what} added to {path}", flush=True)
    print(f"{done} of {len(paths)} runs rescored ({len(paths) - done} had them)")
    return 0


def run_curve(
    approach: str, fraction: float, seed: int, args: argparse.Namespace, recipe: str, folder: Path
) -> dict:
    import numpy as np

    from healthcnn.studies.skin_taxonomy import curve_point, load_parts
    from healthcnn.tasks.taxonomy import load_taxonomy

    cfg = _ham_config(args, seed, "", recipe)
    ckpt, done = _checkpoint_dir(folder, network_settings(cfg, folder.name), args.resume)
    kept: dict = {}
    point = curve_point(
        cfg,
        load_taxonomy(cfg.taxonomy),
        load_parts(cfg),
        approach,
        fraction,
        seed,
        out_dir=ckpt,
        resume=done > 0,
        kept=kept,
    )
    # the network's probabilities (through --ham-views), so that a later way of scoring it
    # (as the metadata was in round 13) does not need it trained again: at full precision
    # (JSON keeps a float exactly), so that scoring them again gives the stored scores; the
    # copies kept in docs/ drop them and the image ids
    probs = kept.pop("probabilities")
    if all(p is not None for p in probs.values()):
        view = "tta" if args.ham_views == "flips" else "plain"  # named as the hamrec runs'
        kept["probabilities"] = {
            f"{s}_{view}": np.asarray(p, dtype=np.float64).tolist() for s, p in probs.items()
        }
    return {
        "approach": approach,
        "recipe": recipe,
        "views": args.ham_views,
        **point,
        "train_config": cfg.train.to_dict(),
        "size": cfg.size,
        **kept,
    }


def run_one(job: str, args: argparse.Namespace) -> None:
    import torch

    from healthcnn.inference.precision import PrecisionPolicy
    from healthcnn.studies._common import device_name
    from healthcnn.studies._resume import remove_checkpoint_folder

    torch.set_num_threads(args.threads)
    if args.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    if job.startswith("hamapp:") and job.count(":") == 2:
        job += ":ce"  # the folder the ham job looks in names the recipe
    folder = _job_folder(args.out, job)
    folder.mkdir(parents=True, exist_ok=True)
    kind, *rest = job.split(":")
    start = time.perf_counter()
    if kind == "derma":
        record = run_derma(rest[0], int(rest[1]), args)
    elif kind == "ham":  # ham:<seed>[:<recipe>]
        recipe = rest[1] if len(rest) > 1 else "ce"
        study = run_ham(int(rest[0]), args, folder, recipe)
        record = {"seed": int(rest[0]), "recipe": recipe, "study": "study.json"}
        from skin_sweep_report import SEVEN_WAY_KEYS

        record["summary"] = {
            a: {
                "val_malignant_auc": ev["val_malignant_auc"],
                "two_way_auc": ev["two_way"]["auc"],
                # the 7-way scores of the image alone, and with the metadata fused in
                **{
                    key: {k: ev[key][k] for k in SEVEN_WAY_KEYS} if ev.get(key) else None
                    for key in ("seven_way", "seven_way_metadata")
                },
                "training_classes": ev["training_classes"],
                "seconds": ev["seconds"],
            }
            for a, ev in study["approaches"].items()
        }
        record["comparisons"] = study["comparisons"]
        record["partition"] = study["taxonomy"]["partitions"]["partition"]
        record["trained_apart"] = study.get("trained_apart", [])
    elif kind == "hamapp":  # hamapp:<approach>:<seed>[:<recipe>]
        recipe = rest[2] if len(rest) > 2 else "ce"
        record = run_ham_approach(rest[0], int(rest[1]), args, recipe, folder)
    elif kind == "hamrec":
        record = run_ham_recipe(rest[0], int(rest[1]), args)
    elif kind == "curve":  # curve:<approach>:<fraction>:<seed>[:<recipe>]
        recipe = rest[3] if len(rest) > 3 else "ce"
        record = run_curve(rest[0], float(rest[1]), int(rest[2]), args, recipe, folder)
    else:
        raise SystemExit(f"unknown job {job!r}")
    record.update(
        job=job,
        wall_seconds=round(time.perf_counter() - start, 1),
        device=args.device,
        device_name=device_name(args.device),
        # what --precision resolved to here ("auto" is bf16 or fp32 by the CPU's flags)
        precision_resolved=PrecisionPolicy.resolve(args.precision, args.device).name,
        torch=torch.__version__,
    )
    # atomic: a sweep stopping its jobs at the time limit never leaves half a result (which
    # --resume would read)
    atomic_write_text(folder / "result.json", json.dumps(record, indent=2, allow_nan=True))
    remove_checkpoint_folder(folder / CHECKPOINT_DIR)  # finished: nothing to go on from
    print(f"done {job} in {record['wall_seconds']} s", flush=True)


def _passthrough(args: argparse.Namespace) -> list[str]:
    out = []
    for key in (
        "device",
        "out",
        "precision",
        "threads",
        "derma_epochs",
        "ham_epochs",
        "size",
        "lr",
        "derma_model",
        "derma_upsample",
        "ham_model",
        "ham_views",
        "data_dir",
        "subsample",
        "ham_approaches",
        "resume",
    ):
        value = getattr(args, key)
        if key == "size":  # back to its command-line form: 64 or WIDTHxHEIGHT
            value = size_text(value)
        if isinstance(value, bool):  # a switch
            out += [f"--{key.replace('_', '-')}"] if value else []
        elif isinstance(value, list):  # nargs="+": one flag, its values after it
            out += [f"--{key.replace('_', '-')}", *map(str, value)]
        elif value is not None:
            out += [f"--{key.replace('_', '-')}", str(value)]
    return out


def _run_jobs(jobs: list[str], args: argparse.Namespace, deadline: float) -> tuple[int, int]:
    """Run ``jobs`` as subprocesses, ``args.jobs`` at a time; past ``deadline`` (a
    ``time.perf_counter()`` value) nothing new starts and running jobs are stopped. Returns
    (failed, not finished)."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p
        ),
    )
    if args.resume:
        jobs = [j for j in jobs if not _finished(j, args)]
    pending, running, failed = list(jobs), [], 0
    while pending or running:
        still = [p for p in running if p.poll() is None]
        failed += sum(p.returncode != 0 for p in running if p not in still)
        running = still
        if time.perf_counter() > deadline:
            for p in running:
                p.terminate()
            for p in running:
                p.wait()
            print(f"time limit: stopped {len(running)} runs, skipped {len(pending)}", flush=True)
            return failed, len(running) + len(pending)
        while pending and len(running) < args.jobs:
            job, parent = pending.pop(0), ["--parent-pid", str(os.getpid())]
            cmd = [sys.executable, __file__, "--one", job, *parent, *_passthrough(args)]
            running.append(subprocess.Popen(cmd, env=env))
        time.sleep(0.5)
    return failed, 0


def _finished(job: str, args: argparse.Namespace) -> bool:
    """Whether training job ``job`` (hamrec, hamapp or curve) already wrote its result with this
    sweep's settings (what ``--resume`` skips); a result of other settings, or of settings it
    does not record, is refused rather than kept or replaced. Other jobs (derma, and the ham
    studies, which only score what hamapp jobs trained) always run."""
    kind, *rest = job.split(":")
    if kind == "hamapp" and len(rest) == 2:
        rest.append("ce")  # as run_one names its folder
        job += ":ce"
    path = _job_folder(args.out, job) / "result.json"
    if kind not in ("hamrec", "hamapp", "curve") or not path.is_file():
        return False
    record = json.loads(path.read_text())
    if kind == "hamapp":  # what the ham study checks before scoring it
        cfg = _ham_config(args, int(rest[1]), "", rest[2]).to_dict()
        wanted = {k: v for k, v in cfg.items() if k not in STUDY_IGNORED}
        stored = {k: v for k, v in record.get("study_config", {}).items() if k in wanted}
    else:
        if kind == "hamrec":  # hamrec:<recipe>:<seed>
            recipe, seed = rest[0], rest[1]
        else:  # curve:<approach>:<fraction>:<seed>[:<recipe>]
            recipe, seed = (rest[3] if len(rest) > 3 else "ce"), rest[2]
        wanted = {"train_config": _ham_train(args, int(seed), recipe).to_dict(), "size": args.size}
        if kind == "curve":
            wanted["views"] = args.ham_views
        stored = {k: record.get(k) for k in wanted}
    if json.loads(json.dumps(stored)) != json.loads(json.dumps(wanted)):
        differ = sorted(k for k in wanted if json.dumps(stored.get(k)) != json.dumps(wanted[k]))
        raise SystemExit(
            f"{path} holds a finished run whose settings ({', '.join(differ)}) are not this "
            f"sweep's, or are not recorded; give another --out, or move it away"
        )
    print(f"{job}: finished before, kept", flush=True)
    return True


def sweep(args: argparse.Namespace) -> int:
    from healthcnn.data.ham10000 import load_ham10000

    start = time.perf_counter()
    deadline = start + (args.time_limit or float("inf"))
    jobs, apart_failed, apart_unfinished = [], 0, 0
    try:
        load_ham10000(args.data_dir, size=args.size)  # decode once, before the processes start
        print(
            f"HAM10000 cached at {size_label(args.size)} ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
        if args.ham_recipes:
            jobs += [f"hamrec:{r}:{s}" for s in args.seeds for r in args.ham_recipes]
        elif args.apart:  # each approach in a process of its own, then the studies score them
            apart = [_apart_job(a, s, "ce") for s in args.seeds for a in args.ham_approaches]
            apart_failed, apart_unfinished = _run_jobs(apart, args, deadline)
            if apart_failed or apart_unfinished:  # their studies train what is missing
                print(
                    f"{apart_failed} approach runs failed, {apart_unfinished} not finished",
                    flush=True,
                )
            jobs += [f"ham:{s}" for s in args.seeds]
        else:
            jobs += [f"ham:{s}" for s in args.seeds]  # the longest runs first
    except (ImportError, OSError, ValueError) as exc:  # e.g. no Pillow, data not carried
        print(f"skipping the HAM10000 runs: {exc}", flush=True)
    if not args.ham_recipes:
        jobs += [f"derma:{r}:{s}" for r in args.derma_recipes for s in args.seeds]
    failed, unfinished = _run_jobs(jobs, args, deadline)
    failed, unfinished = failed + apart_failed, unfinished + apart_unfinished
    results = [json.loads(p.read_text()) for p in Path(args.out).glob("ham-*/result.json")]
    if results and args.curve and not args.ham_recipes:
        approaches = results[0]["summary"]
        mean_val = {
            a: sum(r["summary"][a]["val_malignant_auc"] for r in results) / len(results)
            for a in approaches
        }
        chosen = max(mean_val, key=mean_val.get)
        print(f"learning curve for {chosen} (mean validation 2-way AUC {mean_val})", flush=True)
        more = [f"curve:{chosen}:{f}:{s}" for f in args.curve_fractions for s in args.seeds]
        f2, u2 = _run_jobs(more, args, deadline)
        failed, unfinished = failed + f2, unfinished + u2
    total = time.perf_counter() - start
    print(f"sweep finished in {total:.0f} s, {failed} failed runs, {unfinished} not finished")
    record = {
        "wall_seconds": round(total, 1),
        "failed_runs": failed,
        "unfinished_runs": unfinished,
        "argv": sys.argv[1:],
    }
    atomic_write_text(Path(args.out) / "sweep.json", json.dumps(record, indent=2))
    return 1 if failed else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The sweep's options (``argv``: default the command line), with --quick applied."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="torch threads per process")
    p.add_argument("--data-dir")
    p.add_argument("--out", default="runs/skin-sweep")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--precision", default="auto")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--derma-epochs", type=int, default=50)
    p.add_argument("--derma-model", default="resnet18")
    p.add_argument(
        "--derma-upsample",
        type=int,
        help="resize DermaMNIST's 28 px images to this size inside the batch transform "
        "(ResNets then use the ImageNet stem; about 4x cheaper than the 28 px stem at 64 px)",
    )
    p.add_argument(
        "--derma-recipes", nargs="+", choices=list(DERMA_RECIPES), default=list(DERMA_RECIPES)
    )
    p.add_argument(
        "--ham-epochs",
        type=int,
        default=DEFAULT_EPOCHS,
        help=f"HAM10000 training epochs (default {DEFAULT_EPOCHS}, the study's chosen recipe)",
    )
    p.add_argument("--ham-model", default="resnet18")
    p.add_argument(
        "--ham-approaches",
        nargs="+",
        choices=APPROACHES,
        default=list(APPROACHES),
        help="the approaches a ham: study compares (default all three; a study of fewer scores "
        "and compares only those, e.g. when one approach could not be trained)",
    )
    p.add_argument(
        "--ham-views",
        choices=VIEWS,
        default=DEFAULT_VIEWS,
        help="how the ham: studies and curve: runs read probabilities: the image alone or the "
        f"mean over it and its three flips (default {DEFAULT_VIEWS}, the study's; hamrec: runs "
        "score both)",
    )
    p.add_argument(
        "--size",
        type=size_argument,
        default=DEFAULT_SIZE,
        help="HAM10000 image side in px, WIDTHxHEIGHT, or 'stored' (the stored 200x150 px; "
        f"default {DEFAULT_SIZE}, the study's chosen recipe)",
    )
    p.add_argument("--subsample", type=int, help="keep this many HAM10000 lesions (smoke tests)")
    p.add_argument(
        "--ham-recipes",
        nargs="+",
        choices=HAM_RECIPES,
        help="run only the 7-way recipe comparison (hamrec: jobs) of these recipes",
    )
    p.add_argument("--no-curve", dest="curve", action="store_false")
    p.add_argument(
        "--apart",
        action="store_true",
        help="train each approach of a ham: study as a job of its own (hamapp:), so that one "
        "seed's three networks use --jobs cores at once; the study then scores them",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="the training runs (hamrec:, hamapp:, curve:) checkpoint as they train (in "
        "<out>/<run>/train): go on from where a stopped sweep (--time-limit, a crash, the "
        "machine's end) left them, and keep the runs it finished; without it a run's leftover "
        "checkpoint is refused, never overwritten",
    )
    p.add_argument(
        "--time-limit",
        type=float,
        help="seconds: after this, start nothing new and stop running jobs (finished results stay)",
    )
    p.add_argument("--curve-fractions", nargs="+", type=float, default=list(CURVE_FRACTIONS))
    p.add_argument(
        "--quick",
        action="store_true",
        help="CPU smoke test: 1 epoch, small CNN, 32 px, 900 lesions, one seed",
    )
    p.add_argument("--one", help=argparse.SUPPRESS)
    # set by the sweep for its job processes: a job ends when the sweep that started it is gone
    p.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    p.add_argument("--report", help="write a Markdown summary of --out to this file")
    p.add_argument(
        "--recipe-report",
        help="write the hamrec runs of --out below the pre-registration in this file "
        "(docs/results-skin-recipes.md)",
    )
    p.add_argument(
        "--add-metadata",
        action="store_true",
        help="add the metadata scores (age, sex, site fused with the image; round 11) to the "
        "hamrec runs under --out that lack them, and exit",
    )
    p.add_argument(
        "--metadata-report",
        help="write a metadata round's results (the hamrec runs of --out with metadata scores, "
        "and their seed ensemble) between its marks in this file (docs/results-skin-recipes.md)",
    )
    p.add_argument(
        "--metadata-round",
        type=int,
        default=11,
        help="with --metadata-report: the round whose marks take the results (11: 16 epochs, "
        "12: 32, 13: 64; each with its seed ensemble as round <n>b)",
    )
    p.add_argument(
        "--fusion-report",
        help="write round 15's results (image and metadata fused by the product rule or by a "
        "fusion learned on validation, for the hamrec runs of --out with metadata "
        "probabilities, and their seed ensemble) between its marks in this file "
        "(docs/results-skin-recipes.md); lesions are read from --data-dir's metadata file",
    )
    p.add_argument(
        "--approaches-report",
        help="write the three-approach study (the ham studies of --out, one setting: their "
        "table, paired DeLong tests, and the 7-way answers with the metadata fused) between "
        "its marks in this page (docs/results-skin-recipes.md)",
    )
    p.add_argument(
        "--docs-copy",
        metavar="DEST",
        help="copy the hamrec and curve runs of --out and their ensembles.json to DEST without the "
        "probabilities and image ids (the copies kept in docs/results-data), and exit",
    )
    p.add_argument(
        "--curve-table",
        metavar="HAMREC_FOLDER",
        help="print the Markdown learning-curve table of the curve-* runs in --out, with the "
        "100%% row from the hamrec runs of the same recipe in HAMREC_FOLDER",
    )
    p.add_argument(
        "--notes",
        help="with --report: a Markdown file of hand-written notes (what was tried, limits), "
        "included under its own heading",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.derma_epochs = args.ham_epochs = 1
        args.derma_model = args.ham_model = "simple_cnn"
        args.size, args.subsample, args.seeds = 32, 900, [0]
        args.curve_fractions = [0.5]
    return args


def main() -> int:
    args = parse_args()
    if args.add_metadata:
        return rescore_metadata(args)
    if args.metadata_report:
        from skin_sweep_report import write_metadata_report

        write_metadata_report(Path(args.out), Path(args.metadata_report), args.metadata_round)
        return 0
    if args.fusion_report:
        import functools

        from skin_sweep_report import write_fusion_report

        # read once, and only if a score is computed (the copies' are stored)
        lesions = functools.cache(lambda: _lesions(args))
        write_fusion_report(Path(args.out), Path(args.fusion_report), lesions)
        return 0
    if args.approaches_report:
        from skin_sweep_report import write_approaches_report

        write_approaches_report(Path(args.out), Path(args.approaches_report))
        return 0
    if args.docs_copy:
        from skin_sweep_report import docs_copy

        for path in docs_copy(Path(args.out), Path(args.docs_copy)):
            print(f"wrote {path}")
        return 0
    if args.recipe_report:
        from skin_sweep_report import write_recipe_report

        write_recipe_report(Path(args.out), Path(args.recipe_report))
        return 0
    if args.curve_table:
        from skin_sweep_report import _load, recipe_curve_lines

        curve = _load(Path(args.out), "curve")
        if not curve:
            raise SystemExit(f"no curve-*/result.json files under {args.out}")
        full = _load(Path(args.curve_table), "hamrec")
        recipes = {r["recipe"] for r in curve}
        print("\n".join(recipe_curve_lines(curve, [r for r in full if r["recipe"] in recipes])))
        return 0
    if args.report:
        from skin_sweep_report import write_report

        write_report(Path(args.out), Path(args.report), Path(args.notes) if args.notes else None)
        return 0
    if args.one:
        if args.parent_pid is not None:
            from healthcnn._lifeline import exit_with_parent

            exit_with_parent(args.parent_pid)
        run_one(args.one, args)
        return 0
    return sweep(args)


if __name__ == "__main__":
    sys.exit(main())
