"""Bundles: a trained model as a directory (weights, how to rebuild it, what it means).

``save_bundle`` writes atomically; ``load_bundle`` rebuilds through the model registry and
never unpickles; ``verify_bundle`` checks files, JSON, checksum and tensor shapes.
"""

from .io import (
    Bundle,
    BundleError,
    library_versions,
    load_bundle,
    model_input_resize,
    save_bundle,
    verify_bundle,
)

__all__ = [
    "Bundle",
    "BundleError",
    "library_versions",
    "load_bundle",
    "model_input_resize",
    "save_bundle",
    "verify_bundle",
]
