"""Bundles: a trained model as a directory (weights, how to rebuild it, what it means).

``save_bundle`` writes atomically, with the :class:`Preprocessing` record; ``load_bundle``
rebuilds through the model registry and never unpickles; ``verify_bundle`` checks files, JSON,
checksum and tensor shapes.
"""

from .io import (
    Bundle,
    BundleError,
    check_bundle_target,
    library_versions,
    load_bundle,
    save_bundle,
    verify_bundle,
)
from .schema import Preprocessing, PreprocessingError

__all__ = [
    "Bundle",
    "BundleError",
    "Preprocessing",
    "PreprocessingError",
    "check_bundle_target",
    "library_versions",
    "load_bundle",
    "save_bundle",
    "verify_bundle",
]
