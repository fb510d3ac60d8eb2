"""Local weight files: read them safely, load them into a model, adapt and inflate them.

* :func:`load_state_file` reads ``.safetensors``, ``.pt`` and ``.pth`` files into a plain
  ``{name: tensor}`` dict without ever running pickled code.
* :func:`load_weights` loads such a file (or dict) into a built model and, instead of failing,
  adapts what a pretrained checkpoint typically does not fit: another number of classes
  (fine-tuning), another number of input channels, and 2D weights for a 1D or 3D model
  (inflation). Everything else that does not match raises a ``ValueError`` listing it.
* :func:`inflate_state_dict` turns a 2D state dict into a 1D or 3D one on its own;
  :func:`save_state_file` writes a state dict as ``.safetensors``, atomically.

healthcnn's 2D models use torchvision's state-dict keys, so torchvision checkpoints load as they
are. See ``docs/weights.md`` for the rules and the equalities they keep.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .._atomic import atomic_write_with
from ._inflate import (
    INFLATE_MODES,
    adapt_in_channels,
    check_mode,
    inflate_conv_weight,
    inflate_flattened_linear,
    inflate_state_dict,
)

__all__ = [
    "INFLATE_MODES",
    "LoadResult",
    "WeightAdaptationWarning",
    "WeightsInfo",
    "inflate_file",
    "inflate_state_dict",
    "load_state_file",
    "load_weights",
    "save_state_file",
    "weights_info",
]

SUFFIXES = (".safetensors", ".pt", ".pth")
#: key prefixes stripped on loading: DistributedDataParallel and torch.compile wrappers
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
_SHOW = 5  # names listed in an error before "... and N more"


class WeightAdaptationWarning(UserWarning):
    """Weights were loaded with an adaptation: new classifier, other input channels, inflation."""


# ---- reading and writing files ---------------------------------------------------------------


def load_state_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors``, ``.pt`` or ``.pth``, on the CPU.

    ``.pt``/``.pth`` files are read with ``torch.load(weights_only=True)``: only tensors and
    plain containers are unpickled, so a file that would run code (or holds a whole pickled
    model) is refused with a ``ValueError``. A training checkpoint whose dict holds the weights
    under ``"state_dict"`` or ``"model"`` is accepted, and a ``module.`` prefix (saved from
    ``DistributedDataParallel``) or ``_orig_mod.`` prefix (``torch.compile``) is stripped.
    """
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ValueError(
            f"{path}: unknown weights format {path.suffix!r}; use one of {', '.join(SUFFIXES)}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            obj = load_file(str(path), device="cpu")
        except SafetensorError as exc:
            raise ValueError(f"{path} is not a readable safetensors file: {exc}") from None
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
            raise ValueError(
                f"refused to load {path}: it holds Python objects other than tensors, which "
                f"could run code when unpickled; only tensors (a state dict) are accepted. "
                f"Save `model.state_dict()` instead, or convert the file to .safetensors "
                f"({reason})"
            ) from None
        except (RuntimeError, EOFError, OSError) as exc:
            raise ValueError(f"{path} is not a readable PyTorch file: {exc}") from None
    return _as_state_dict(obj, str(path))


def _as_state_dict(obj: object, where: str) -> dict[str, torch.Tensor]:
    """A plain ``{name: tensor}`` dict from a state dict or a checkpoint dict holding one."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"{where}: expected a dict of tensors, got {type(obj).__name__}")
    for inner in ("state_dict", "model"):
        if isinstance(obj.get(inner), Mapping):
            obj = obj[inner]
            break
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(
            f"{where}: expected a dict of tensors, but {_names(bad)} are not tensors; pass a "
            f"state dict or a checkpoint dict with a 'state_dict' or 'model' entry"
        )
    state = dict(obj)
    for prefix in WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def save_state_file(
    state_dict: Mapping[str, torch.Tensor],
    path: str | os.PathLike,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write ``state_dict`` to a ``.safetensors`` file atomically and return its path.

    The tensors go to a temporary file in the same folder, which is renamed over ``path`` only
    once complete: a failure leaves no partial file and an existing ``path`` untouched.
    """
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"{path}: weights are written as .safetensors only (never pickles)")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"folder {path.parent} does not exist")
    bad = [k for k, v in state_dict.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise ValueError(f"only tensors can be saved, but {_names(bad)} are not tensors")
    # safetensors refuses tensors that share memory or are not contiguous: write copies.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    extra = dict(metadata) if metadata else None
    return atomic_write_with(path, lambda tmp: save_file(tensors, str(tmp), metadata=extra))


def inflate_file(
    source: str | os.PathLike,
    dest: str | os.PathLike,
    spatial_dims: int,
    *,
    mode: str = "i3d",
    depth: int | None = None,
) -> Path:
    """Read 2D weights from ``source``, inflate them (:func:`inflate_state_dict`) and write them
    to the ``.safetensors`` file ``dest`` atomically; the metadata records how."""
    dest = Path(dest)
    if dest.suffix != ".safetensors":
        raise ValueError(f"{dest}: the output must be a .safetensors file")
    state = inflate_state_dict(load_state_file(source), spatial_dims, mode=mode, depth=depth)
    metadata = {
        "healthcnn_inflated_from": "2",
        "spatial_dims": str(spatial_dims),
        "mode": mode,
        "depth": "kernel height" if depth is None else str(depth),
        "source": Path(source).name,
    }
    return save_state_file(state, dest, metadata=metadata)


@dataclass(frozen=True)
class WeightsInfo:
    """What a weights file holds (``healthcnn weights info``)."""

    path: str
    tensors: int
    elements: int  # every number stored, running statistics included
    parameters: int  # without batch-norm running statistics and counters
    spatial_dims: int | None  # guessed from the convolution weights; None without any
    dtypes: dict[str, int]
    metadata: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


def weights_info(path: str | os.PathLike) -> WeightsInfo:
    """Count the tensors and numbers in a weights file and guess its ``spatial_dims``.

    The guess comes from the ``*weight`` tensors with 3 or more axes (convolutions: 3 axes in
    1D, 4 in 2D, 5 in 3D), taking the most common; a network without convolutions gives None.
    """
    state = load_state_file(path)
    metadata: dict[str, str] = {}
    if Path(path).suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
    dims = Counter(v.dim() - 2 for k, v in state.items() if k.endswith("weight") and v.dim() > 2)
    return WeightsInfo(
        path=str(path),
        tensors=len(state),
        elements=sum(v.numel() for v in state.values()),
        parameters=sum(
            v.numel() for k, v in state.items() if k.rsplit(".", 1)[-1] not in _STATISTICS
        ),
        spatial_dims=dims.most_common(1)[0][0] if dims else None,
        dtypes=dict(Counter(str(v.dtype).removeprefix("torch.") for v in state.values())),
        metadata=metadata,
    )


# ---- loading into a model --------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    """What :func:`load_weights` did besides copying matching tensors."""

    missing: tuple[str, ...] = ()  # model keys the checkpoint lacks (strict=False only)
    unexpected: tuple[str, ...] = ()  # checkpoint keys the model lacks (strict=False only)
    reinitialised: tuple[str, ...] = ()  # classifier keys kept from the model (fine-tuning)
    adapted: tuple[str, ...] = ()  # first-convolution keys adapted to other input channels
    inflated_from: int | None = None  # 2 when 2D weights were inflated for a 1D/3D model


def _names(keys, show: int = _SHOW) -> str:
    keys = list(keys)
    shown = ", ".join(repr(k) for k in keys[:show])
    return shown + (f" ... and {len(keys) - show} more" if len(keys) > show else "")


def _conv_modules(model: nn.Module) -> dict[str, nn.Module]:
    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, nn.modules.conv._ConvNd) and not m.transposed
    }


def _head_keys(model: nn.Module) -> set[str]:
    """Keys of the final classifier and of any other linear layer with ``num_classes`` outputs
    (auxiliary heads): the layers a change of ``num_classes`` changes."""
    names: set[str] = set()
    if hasattr(model, "classifier_name"):
        names.add(model.classifier_name)
    num_classes = getattr(model, "num_classes", None)
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear) and m.out_features == num_classes:
            names.add(name)
    return {f"{n}.{p}" for n in names for p in ("weight", "bias")}


def _inflate_for(model: nn.Module, state: dict, mode: str) -> int | None:
    """Inflate ``state`` in place to the model's dimensionality; the checkpoint's dims or None."""
    convs = _conv_modules(model)
    pairs = [(f"{n}.weight", m) for n, m in convs.items() if f"{n}.weight" in state]
    if not pairs:
        return None
    key, module = pairs[0]
    model_dims = module.weight.dim() - 2
    ckpt_dims = state[key].dim() - 2
    if ckpt_dims == model_dims:
        return None
    if ckpt_dims != 2 or model_dims not in (1, 3):
        raise ValueError(
            f"{key}: the checkpoint has {ckpt_dims}D convolutions and the model "
            f"{model_dims}D ones; only 2D weights can be adapted (inflated to 1D or 3D)"
        )
    for key, module in pairs:
        if state[key].dim() == 4:
            state[key] = inflate_conv_weight(
                state[key], model_dims, mode=mode, target_kernel=module.weight.shape[2:]
            )
    for name, m in model.named_modules():
        key = f"{name}.weight"
        if isinstance(m, nn.Linear) and key in state and state[key].dim() == 2:
            w = state[key]
            if w.shape[0] == m.out_features and w.shape[1] != m.in_features:
                try:
                    state[key] = inflate_flattened_linear(w, m.in_features, model_dims, mode=mode)
                except ValueError as exc:
                    raise ValueError(
                        f"{key}: the 2D checkpoint's layer reads {w.shape[1]} features, the "
                        f"{model_dims}D model's {m.in_features}, and {exc}. Build the model so "
                        f"that the map before this layer has the 2D checkpoint's size per axis "
                        f"(e.g. pool_size={_guess_pool(w.shape[1])} for VGG/AlexNet)"
                    ) from None
    warnings.warn(
        f"{type(model).__name__}: inflated 2D weights to {model_dims}D (mode {mode!r}); see "
        f"docs/weights.md for what this preserves",
        WeightAdaptationWarning,
        stacklevel=3,
    )
    return 2


def _guess_pool(in_features: int) -> str:
    for channels in (512, 256):  # VGG, AlexNet
        p = round((in_features / channels) ** 0.5)
        if p >= 1 and channels * p * p == in_features:
            return str(p)
    return "<the 2D size>"


def load_weights(
    model: nn.Module,
    source: str | os.PathLike | Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
    inflate_mode: str = "i3d",
) -> LoadResult:
    """Load a weights file or state dict into ``model``, adapting what commonly differs.

    Adaptations (each announced with a :class:`WeightAdaptationWarning`):

    * **number of classes**: if the checkpoint's classifier (``model.get_classifier()``, and
      auxiliary heads: linear layers with ``num_classes`` outputs) differs only in its number
      of outputs, the model keeps its own freshly initialised classifier: fine-tuning.
    * **input channels**: if the first convolution differs only in input channels, its kernel
      is adapted: 1 channel sums the kernel over the checkpoint's channels (a grey image gives
      what the grey image replicated to RGB gave); ``C`` other channels repeat the checkpoint's
      channels cyclically (R, G, B, R, G, ...) scaled by ``C_ckpt / C`` so activations keep
      their scale.
    * **2D weights, 1D or 3D model**: convolutions are inflated with ``inflate_mode``
      ("i3d": repeat along the new axis and average; "centre": middle slice only) to the
      model's own kernel sizes; linear layers reading a flattened map (VGG, AlexNet) too.

    Anything else raises ``ValueError`` naming the keys: shape mismatches always; keys missing
    from the checkpoint or unknown to the model unless ``strict=False`` (then they are
    reported in the returned :class:`LoadResult`). A missing ``num_batches_tracked`` (older
    checkpoints) is never an error.
    """
    check_mode(inflate_mode)
    state = _read_state(source)
    target = model.state_dict()  # state is a new dict: the caller's is never modified
    inflated = _inflate_for(model, state, inflate_mode)
    missing, unexpected = _check_keys(model, state, target, strict)
    reinit, adapted, adapted_from = _match_shapes(model, state, target)
    _announce_adaptations(model, state, target, reinit, adapted, adapted_from)
    merged = {k: (target[k] if k in reinit or k not in state else state[k]) for k in target}
    model.load_state_dict(merged, strict=True)
    return LoadResult(
        missing=tuple(missing),
        unexpected=tuple(unexpected),
        reinitialised=tuple(reinit),
        adapted=tuple(adapted),
        inflated_from=inflated,
    )


def _read_state(source: str | os.PathLike | Mapping[str, torch.Tensor]) -> dict:
    """A new state dict from a mapping or a weights file."""
    if isinstance(source, Mapping):
        return _as_state_dict(source, "state dict")
    if isinstance(source, str | os.PathLike):
        return load_state_file(source)
    raise TypeError(f"weights must be a file path or a state dict, got {type(source).__name__}")


def _check_keys(
    model: nn.Module, state: Mapping, target: Mapping, strict: bool
) -> tuple[list[str], list[str]]:
    """The model's keys missing from the checkpoint and the checkpoint's unknown ones; with
    ``strict`` either is an error."""
    missing = [k for k in target if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in target]
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append(f"{len(missing)} key(s) missing from the checkpoint: {_names(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_names(unexpected)}")
        raise ValueError(
            f"cannot load weights into {type(model).__name__}: {'; '.join(parts)}. Is it the "
            f"same architecture? Pass strict=False to load the keys that match"
        )
    return missing, unexpected


def _match_shapes(
    model: nn.Module, state: dict, target: Mapping
) -> tuple[list[str], list[str], int]:
    """Compare every shared key's shape: a classifier that differs in outputs is re-initialised,
    a first convolution that differs in input channels is adapted (in ``state``), anything else
    raises. Returns the re-initialised keys, the adapted keys and the checkpoint's channels."""
    heads = _head_keys(model)
    convs = _conv_modules(model)
    first_conv = f"{next(iter(convs))}.weight" if convs else None
    in_channels = getattr(model, "in_channels", None)
    reinit, adapted, wrong = [], [], []
    adapted_from = 0
    for key in (k for k in state if k in target):
        have, want = tuple(state[key].shape), tuple(target[key].shape)
        if have == want:
            continue
        same_but = [i for i, (a, b) in enumerate(zip(have, want, strict=False)) if a != b]
        if len(have) == len(want) and same_but == [0] and key in heads:
            reinit.append(key)
        elif len(have) == len(want) and same_but == [1] and key == first_conv:
            if in_channels is not None and want[1] != in_channels:
                wrong.append(f"{key}: checkpoint {have} vs model {want}")
                continue
            state[key] = adapt_in_channels(state[key], want[1])
            adapted.append(key)
            adapted_from = have[1]
        else:
            wrong.append(f"{key}: checkpoint {have} vs model {want}")
    if wrong:
        raise ValueError(
            f"cannot load weights into {type(model).__name__}: {len(wrong)} shape mismatch(es): "
            f"{'; '.join(wrong[:_SHOW])}{' ...' if len(wrong) > _SHOW else ''}"
        )
    return reinit, adapted, adapted_from


def _announce_adaptations(
    model: nn.Module,
    state: Mapping,
    target: Mapping,
    reinit: list[str],
    adapted: list[str],
    adapted_from: int,
) -> None:
    """One WeightAdaptationWarning for a kept classifier, one for adapted input channels
    (pointing at the caller of :func:`load_weights`)."""
    if reinit:
        n_ckpt = state[reinit[0]].shape[0]
        warnings.warn(
            f"{type(model).__name__}: the checkpoint's classifier has {n_ckpt} outputs, the "
            f"model's {target[reinit[0]].shape[0]}; keeping the model's freshly initialised "
            f"{_names(reinit)} (fine-tuning)",
            WeightAdaptationWarning,
            stacklevel=3,
        )
    if adapted:
        c_model = target[adapted[0]].shape[1]
        how = (
            "summed over them"
            if c_model == 1
            else f"repeated cyclically x {adapted_from}/{c_model}"
        )
        warnings.warn(
            f"{type(model).__name__}: adapted {adapted[0]} from {adapted_from} to {c_model} "
            f"input channels ({how})",
            WeightAdaptationWarning,
            stacklevel=3,
        )
