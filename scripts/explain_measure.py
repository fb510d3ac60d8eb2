"""Measure the explanations' numbers for docs/results-explain.md (CPU, a few minutes).

1. Localisation: RetinaMNIST images with a 5x5 bright patch planted in half of them (the class
   is the patch; :mod:`healthcnn.explain.planted`), a simple_cnn fitted by ``fit_model`` on the
   planted training split (model selection on the planted validation split), then, per method,
   the pointing game and the energy inside the box on every planted test image of class
   ``patch``, and the cascading randomisation verdict on the first 32 of them.
2. The randomisation test for Grad-CAM on a ResNet-18 (28 px stem) fitted on the real
   RetinaMNIST grades, with the edge detector (the negative control) on the same images.

    PYTHONPATH=src .venv/bin/python scripts/explain_measure.py [--part localisation] [--out F]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from healthcnn._atomic import atomic_write_text
from healthcnn.data.medmnist import load_medmnist
from healthcnn.explain import METHODS, energy_inside, explain, pointing_hits, randomisation_test
from healthcnn.explain.planted import plant_patches
from healthcnn.explain.sanity import edge_detector
from healthcnn.tasks import make_task
from healthcnn.training import TrainConfig
from healthcnn.training.fit import FitSpec, fit_model


def _fit(model: str, kwargs: dict, splits: tuple, task, epochs: int, batch_size: int):
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, precision="fp32", seed=0)
    fitted = fit_model(FitSpec(model=model, model_kwargs=kwargs, train=cfg), *splits, task)
    return fitted.model.eval(), fitted.preprocessing.transform()


def localisation(epochs: int) -> dict:
    planted = {s: plant_patches(load_medmnist("retinamnist", s).images, seed=k)
               for k, s in enumerate(("train", "val", "test"), 1)}  # fmt: skip
    task = make_task("multiclass", ["none", "patch"])
    model, tf = _fit("simple_cnn", {"channels": (16, 32)},
                     (planted["train"].data, planted["val"].data), task, epochs, 32)  # fmt: skip
    test = planted["test"]
    x = tf(test.data.images.float() / 255)
    with torch.no_grad():
        acc = float((model(x).argmax(1) == test.data.labels).float().mean())
    pos = np.flatnonzero(test.data.labels.numpy() == 1)
    out = {"test_accuracy": acc, "n": len(pos), "chance": float(test.masks[pos[0]].mean())}
    for method in METHODS:
        start = time.perf_counter()
        e = explain(model, x[pos], 1, method, sanity_steps=1)
        v = explain(model, x[pos[:32]], 1, method).verdict
        hits, energy = (
            pointing_hits(e.maps, test.masks[pos]),
            energy_inside(e.maps, test.masks[pos]),
        )
        out[method] = {"pointing": float(hits.mean()), "energy": float(energy.mean()),
                       "energy_sd": float(energy.std()), "sanity": v.to_dict(),
                       "seconds": time.perf_counter() - start}  # fmt: skip
        print(method, json.dumps(out[method]["sanity"]["verdict"]), out[method]["pointing"],
              out[method]["energy"], flush=True)  # fmt: skip
    return out


def resnet_randomisation(epochs: int) -> dict:
    splits = [load_medmnist("retinamnist", s) for s in ("train", "val", "test")]
    task = make_task("multiclass", splits[0].classes)
    start = time.perf_counter()
    model, tf = _fit("resnet18", {"stem": "small"}, tuple(splits[:2]), task, epochs, 64)
    fit_s = time.perf_counter() - start
    x = tf(splits[2].images[:32].float() / 255)
    e = explain(model, x, None, "gradcam", sanity_steps=5)
    broken = randomisation_test(model, x, torch.tensor(e.targets), edge_detector, steps=5)
    return {"fit_seconds": fit_s, "epochs": epochs, "gradcam": e.verdict.to_dict(),
            "edge_detector": broken.to_dict()}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10, help="simple_cnn epochs (planted data)")
    p.add_argument("--resnet-epochs", type=int, default=3)
    p.add_argument("--part", choices=["all", "localisation", "resnet18"], default="all")
    p.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = p.parse_args()
    result = {}
    if args.part in ("all", "localisation"):
        result["localisation"] = localisation(args.epochs)
    if args.part in ("all", "resnet18"):
        result["resnet18"] = resnet_randomisation(args.resnet_epochs)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        atomic_write_text(args.out, text + "\n")


if __name__ == "__main__":
    main()
