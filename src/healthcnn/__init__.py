"""healthcnn: convolutional neural networks for healthcare.

From the convolution formula to a clinically evaluated screening model: the lecture's formulas
(:mod:`healthcnn.shapes`), dimension-generic layers (:mod:`healthcnn.layers`), an exact model
analyser (:mod:`healthcnn.analysis`) and the classic architectures for signals, images and
volumes (:mod:`healthcnn.models`).
"""

import logging

__version__ = "0.1.0"

# Library code logs to the "healthcnn" logger hierarchy and never configures the root logger;
# the command line (healthcnn.cli) does that. Without a configuration, nothing is printed.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["__version__"]
