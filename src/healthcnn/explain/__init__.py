"""Saliency maps for 1D, 2D and 3D models, each carrying its sanity verdict.

``explain(model, x, targets, method)`` gives an :class:`Explanation`: one map per sample
(Grad-CAM, Grad-CAM++, occlusion or integrated gradients) and the verdict of the cascading
model-parameter randomisation test. ``healthcnn.explain.files.explain_files`` does the same
for the inputs of a file given to a bundle, preparing them exactly as inference does.
``pointing_hits`` and ``energy_inside`` measure localisation where the true region is known.

Every map this package hands out carries its verdict; the bare maps of
``healthcnn.explain.saliency.saliency_maps`` are the building block the checks themselves use.
"""

from .explanation import Explanation, explain, predicted_classes
from .localisation import energy_inside, pointing_hits
from .saliency import METHODS, ConstantMapWarning, evaluating, resolve_layer
from .sanity import Verdict, label_randomisation_test, randomisation_test
from .similarity import spearman, ssim

__all__ = [
    "METHODS",
    "ConstantMapWarning",
    "Explanation",
    "Verdict",
    "energy_inside",
    "evaluating",
    "explain",
    "label_randomisation_test",
    "pointing_hits",
    "predicted_classes",
    "randomisation_test",
    "resolve_layer",
    "spearman",
    "ssim",
]
