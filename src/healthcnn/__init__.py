"""healthcnn: convolutional neural networks for healthcare.

From the convolution formula to a clinically evaluated screening model: the lecture's formulas
(:mod:`healthcnn.shapes`), dimension-generic layers (:mod:`healthcnn.layers`), an exact model
analyser (:mod:`healthcnn.analysis`) and the classic architectures for signals, images and
volumes (:mod:`healthcnn.models`).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
