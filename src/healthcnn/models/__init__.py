"""The lecture's architectures for signals, images and volumes, behind one registry.

Each family module registers its builders on import; :func:`create_model` builds any of them
for ``spatial_dims`` 1, 2 or 3.
"""

# Family modules: each registers its models when imported.
from . import alexnet, compact_resnet, googlenet, inception, resnet, simple, slices, vgg  # noqa: F401
from ._base import ClassifierModel
from ._registry import ModelInfo, create_model, list_models, model_info, register_model

__all__ = [
    "ClassifierModel",
    "ModelInfo",
    "create_model",
    "list_models",
    "model_info",
    "register_model",
]
