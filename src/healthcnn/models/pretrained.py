"""Pretrained ImageNet weights by name: torchvision's published files, downloaded and verified.

``create_model("resnet18", weights="imagenet")`` (and ``healthcnn train --weights imagenet``)
loads the ImageNet-1k weights torchvision publishes for the architecture. The file comes from
torchvision's official address (``https://download.pytorch.org/models/<file>``, or the base URL
in ``$HEALTHCNN_WEIGHTS_URL``) into ``<data root>/weights/<file>`` through the project's one
downloader (:func:`healthcnn.data.root.download`: resumable, verified, renamed into place only
when complete). torchvision names each file after the first hex digits of its SHA-256
(``resnet18-f37072fd.pth``) and publishes no more of the hash, so that prefix is what is
verified. A file already in torch's own hub cache (``torch.hub.get_dir()/checkpoints``) with a
matching prefix is used where it is. Offline, the error is one line with the address and the
path to place the file at.

Names: ``"imagenet"`` and ``"IMAGENET1K_V1"`` (the original weights, every architecture),
``"IMAGENET1K_V2"`` (ResNet-50/101/152 only: torchvision's 2021 training recipe) and
``"DEFAULT"`` (torchvision's default: V2 where it exists, else V1); case does not matter.

The normalisation the weights were trained with (:func:`normalisation_for`) goes into the
bundle's preprocessing record: ImageNet's mean/std for AlexNet, VGG and ResNet; mean = std = 0.5
for GoogLeNet and Inception-v3, whose weights torchvision ported from TensorFlow and feeds
through ``transform_input`` (which turns ImageNet-normalised input into exactly that).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..data.root import DataError, checksum_problem, data_root, download
from ._external import is_import_path

BASE_URL = "https://download.pytorch.org/models/"
URL_ENV = "HEALTHCNN_WEIGHTS_URL"
FOLDER = "weights"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_HALF = (0.5, 0.5, 0.5)
_SUFFIXES = (".safetensors", ".pt", ".pth")

V1, V2 = "IMAGENET1K_V1", "IMAGENET1K_V2"
#: weights names accepted by ``weights=`` (case-insensitive); "imagenet" is V1
NAMES = ("imagenet", "DEFAULT", V1, V2)

#: (registry name, torchvision weights) -> the file torchvision publishes
_FILES: dict[tuple[str, str], str] = {
    ("alexnet_tv", V1): "alexnet-owt-7be5be79.pth",
    ("vgg11", V1): "vgg11-8a719046.pth",
    ("vgg13", V1): "vgg13-19584684.pth",
    ("vgg16", V1): "vgg16-397923af.pth",
    ("vgg19", V1): "vgg19-dcbb9e9d.pth",
    ("vgg11_bn", V1): "vgg11_bn-6002323d.pth",
    ("vgg13_bn", V1): "vgg13_bn-abd245e5.pth",
    ("vgg16_bn", V1): "vgg16_bn-6c64b313.pth",
    ("vgg19_bn", V1): "vgg19_bn-c79401a0.pth",
    ("googlenet_tv", V1): "googlenet-1378be20.pth",
    ("inception_v3", V1): "inception_v3_google-0cc3c7bd.pth",
    ("resnet18", V1): "resnet18-f37072fd.pth",
    ("resnet34", V1): "resnet34-b627a593.pth",
    ("resnet50", V1): "resnet50-0676ba61.pth",
    ("resnet101", V1): "resnet101-63fe2227.pth",
    ("resnet152", V1): "resnet152-394f9c45.pth",
    ("resnet50", V2): "resnet50-11ad3fa6.pth",
    ("resnet101", V2): "resnet101-cd907fc2.pth",
    ("resnet152", V2): "resnet152-f82ba261.pth",
}
#: input normalisation of the weights (ImageNet's unless listed)
_HALF_NORMALISED = ("googlenet_tv", "inception_v3")
#: checkpoint keys a model built without auxiliary heads does not have
_AUX_PREFIXES = {"googlenet_tv": ("aux1.", "aux2."), "inception_v3": ("AuxLogits.",)}


@dataclass(frozen=True)
class PretrainedWeights:
    """One published weights file: for which model, which torchvision weights, its name."""

    model: str
    tag: str
    file: str

    @property
    def sha256_prefix(self) -> str:
        """The leading SHA-256 hex digits torchvision puts in the file name."""
        return self.file.rsplit("-", 1)[1].split(".", 1)[0]

    @property
    def mean(self) -> tuple[float, ...]:
        return _HALF if self.model in _HALF_NORMALISED else IMAGENET_MEAN

    @property
    def std(self) -> tuple[float, ...]:
        return _HALF if self.model in _HALF_NORMALISED else IMAGENET_STD

    def url(self, base_url: str | None = None) -> str:
        """The download address: ``base_url`` > ``$HEALTHCNN_WEIGHTS_URL`` > torchvision's."""
        base = base_url or os.environ.get(URL_ENV) or BASE_URL
        return base.rstrip("/") + "/" + self.file


def pretrained_models() -> list[str]:
    """The registered models with published ImageNet weights."""
    return sorted({model for model, _ in _FILES})


def is_weights_name(value: object) -> bool:
    """Whether ``value`` is a weights name (``"imagenet"``, ``"DEFAULT"``...), not a file."""
    return isinstance(value, str) and value.upper() in {n.upper() for n in NAMES}


def _tag(model: str, name: str) -> str:
    upper = name.upper()
    if upper == "IMAGENET":
        return V1
    if upper == "DEFAULT":
        return V2 if (model, V2) in _FILES else V1
    return upper


def pretrained_weights(model: str, name: str = "imagenet") -> PretrainedWeights:
    """The published file for ``model`` and the weights ``name``; ValueError listing what
    exists otherwise."""
    if not is_weights_name(name):
        raise ValueError(f"unknown weights name {name!r}; use one of {', '.join(NAMES)}")
    if is_import_path(model):
        raise ValueError(
            f"named weights ({name!r}) exist for registered models only, not for {model!r}; "
            f"pass a weights file instead"
        )
    tag = _tag(model, name)
    if (model, tag) not in _FILES:
        tags = sorted(t for m, t in _FILES if m == model)
        if tags:
            raise ValueError(f"torchvision publishes {', '.join(tags)} for {model}, not {tag}")
        raise ValueError(
            f"no published ImageNet weights for {model!r}; models with them: "
            f"{', '.join(pretrained_models())}"
        )
    return PretrainedWeights(model, tag, _FILES[(model, tag)])


def _hub_copy(spec: PretrainedWeights) -> Path | None:
    """The file in torch's hub cache (where torchvision downloads it), if present and valid."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / spec.file
    if path.is_file() and checksum_problem(path, None, None, spec.sha256_prefix) is None:
        return path
    return None


def pretrained_file(
    model: str,
    name: str = "imagenet",
    *,
    root: str | os.PathLike[str] | None = None,
    download_missing: bool = True,
    base_url: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """The verified local file of ``model``'s ``name`` weights, downloaded when missing.

    Looked for at ``<data root>/weights/<file>`` (``root``: the data root, see
    :func:`healthcnn.data.root.data_root`), then in torch's hub cache; downloaded to the first
    when in neither (unless ``download_missing=False``: a ``DataError`` says where to put it)."""
    spec = pretrained_weights(model, name)
    dest = data_root(root) / FOLDER / spec.file
    url = spec.url(base_url)
    if dest.is_file() and checksum_problem(dest, None, None, spec.sha256_prefix) is None:
        return dest
    cached = None if dest.exists() else _hub_copy(spec)
    if cached is not None:
        return cached
    if not download_missing:
        state = "fail their SHA-256 check at" if dest.exists() else "are not at"
        raise DataError(
            f"{model} {spec.tag} weights {state} {dest} and downloads are off; download {url} "
            f"and place it there (SHA-256 starting with {spec.sha256_prefix})"
        )
    return download(url, dest, sha256_prefix=spec.sha256_prefix, progress=progress, timeout=timeout)


def published_weights(model: str, weights: object) -> PretrainedWeights | None:
    """The published weights a name or a torchvision file path stands for, else None."""
    if is_weights_name(weights):
        return pretrained_weights(model, str(weights))
    if isinstance(weights, str | os.PathLike):
        name = Path(weights).name
        for (m, tag), file in _FILES.items():
            if file == name and (m == model or is_import_path(model)):
                return PretrainedWeights(m, tag, file)
    return None


def normalisation_for(
    model: str, weights: object, channels: int
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The per-channel (mean, std) the published ``weights`` (a name, or a torchvision file of
    that name) expect for ``channels`` input channels, else None. One channel gets the mean of
    the three; ``C`` channels take them cyclically (R, G, B, R, ...), as the first convolution's
    kernel is adapted (see :mod:`healthcnn.models.weights`)."""
    spec = published_weights(model, weights) if weights is not None else None
    if spec is None:
        return None
    if channels == 1:
        return (sum(spec.mean) / 3,), (sum(spec.std) / 3,)
    return (
        tuple(spec.mean[c % 3] for c in range(channels)),
        tuple(spec.std[c % 3] for c in range(channels)),
    )


def check_weights_argument(weights: object) -> None:
    """Refuse a string that is neither a weights file nor a weights name, with both options."""
    if (
        isinstance(weights, str)
        and not is_weights_name(weights)
        and Path(weights).suffix not in _SUFFIXES
    ):
        raise ValueError(
            f"weights={weights!r} is neither a weights file ({', '.join(_SUFFIXES)}) nor a "
            f"weights name ({', '.join(NAMES)})"
        )


def load_named_or_file(
    model: nn.Module,
    model_name: str,
    weights: str | os.PathLike | Mapping[str, torch.Tensor],
    *,
    root: str | os.PathLike[str] | None = None,
) -> None:
    """Load ``weights`` (a weights name, a file or a state dict) into the built ``model`` with
    :func:`healthcnn.models.weights.load_weights`; a name is fetched first
    (:func:`pretrained_file`). The auxiliary-head keys of torchvision's GoogLeNet and
    Inception-v3 files are dropped when the model is built without those heads."""
    from .weights import load_state_file, load_weights

    check_weights_argument(weights)
    if is_weights_name(weights):
        weights = pretrained_file(model_name, str(weights), root=root)
    spec = published_weights(model_name, weights) if not isinstance(weights, Mapping) else None
    if spec is not None:
        state = load_state_file(weights)
        keys = set(model.state_dict())
        drop = _AUX_PREFIXES.get(spec.model, ())
        weights = {k: v for k, v in state.items() if k in keys or not k.startswith(drop)}
    load_weights(model, weights)
