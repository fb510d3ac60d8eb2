"""Models from outside the registry, named by an import path ``package.module:callable``.

The contract (``docs/your-model.md``): the callable is called with the keywords
``in_channels=`` and ``num_classes=`` (from the data and the task), ``spatial_dims=`` too when
its signature names that parameter, and the user's own keyword arguments; it must return an
``nn.Module`` whose ``forward`` takes ``(N, in_channels, *size)`` and returns logits
``(N, num_classes)``. A class is a callable: ``mypkg.nets:SmallNet`` works as well as a builder
function.

A bundle records the import path and the keyword arguments in its ``config.json`` (plain JSON,
sealed by the manifest) and rebuilds the network by importing the module again: the module must
be importable where the bundle is loaded (installed, or its folder on ``PYTHONPATH``). Importing
runs the module's top-level code, so load such bundles only from people whose code you would
run.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from typing import Any

from torch import nn

_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_IMPORT_PATH = re.compile(rf"({_DOTTED}):({_DOTTED})")


def is_import_path(name: object) -> bool:
    """Whether ``name`` names a model by import path (it contains ``:``) rather than by a
    registry name."""
    return isinstance(name, str) and ":" in name


def _split(path: str) -> tuple[str, str]:
    match = _IMPORT_PATH.fullmatch(path.strip())
    if match is None:
        raise ValueError(
            f"model {path!r} is not an import path like package.module:callable (dotted Python "
            f"names on both sides of one ':'), e.g. mypkg.nets:build_net"
        )
    return match.group(1), match.group(2)


def _import(module_name: str, path: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        top = module_name.split(".")[0]
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            raise ValueError(
                f"cannot import module {module_name!r} of the model {path!r}: it is not "
                f"installed here; install it, or add the folder that holds {top}/ (or "
                f"{top}.py) to PYTHONPATH"
            ) from None
        raise ValueError(
            f"cannot import module {module_name!r} of the model {path!r}: it needs {exc.name!r}, "
            f"which is not installed ({exc})"
        ) from None
    except Exception as exc:  # the user's module failed while running its top-level code
        raise ValueError(
            f"importing module {module_name!r} of the model {path!r} failed: "
            f"{type(exc).__name__}: {exc}"
        ) from None


def resolve_import_path(path: str) -> Callable[..., Any]:
    """The callable ``path`` names, imported; ValueError naming the path when the module cannot
    be imported or lacks the attribute, TypeError when it is not callable."""
    module_name, attr = _split(path)
    obj: Any = _import(module_name, path)
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module {module_name!r} has no attribute {attr!r} (model {path!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(
            f"{path} is a {type(obj).__name__}, not a callable (a class or function) returning "
            f"an nn.Module"
        )
    return obj


def _takes_spatial_dims(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False
    return "spatial_dims" in params


def external_builder(path: str) -> Callable[..., nn.Module]:
    """A registry-style builder ``(spatial_dims=, in_channels=, num_classes=, **kw)`` that calls
    the callable ``path`` names by the contract in the module docstring."""
    fn = resolve_import_path(path)
    passes_dims = _takes_spatial_dims(fn)

    def build(*, spatial_dims: int, in_channels: int, num_classes: int, **kwargs: Any):
        if passes_dims:
            kwargs["spatial_dims"] = spatial_dims
        try:
            model = fn(in_channels=in_channels, num_classes=num_classes, **kwargs)
        except TypeError as exc:
            raise TypeError(
                f"calling it with in_channels=, num_classes= failed: {exc}. A model named "
                f"by import path is called with the keywords in_channels and num_classes (and "
                f"spatial_dims where it names that parameter) plus your --model-arg options"
            ) from None
        except Exception as exc:  # the user's constructor failed: name it, no traceback
            raise ValueError(
                f"building the model {path} failed: {type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(model, nn.Module):
            raise TypeError(f"{path}(...) returned a {type(model).__name__}, not an nn.Module")
        return model

    return build
