"""The exact model analyser: shapes, parameters, MACs and pooling calculations per layer.

>>> from healthcnn.analysis import summarize, to_text
>>> report = summarize(model, (3, 227, 227))        # doctest: +SKIP
>>> print(to_text(report))                          # doctest: +SKIP

One forward pass with hooks (:mod:`.capture`) records every module call; counting rules per
module type (:mod:`.rules`) give the numbers; frozen records (:mod:`.records`) hold them; the
renderers (:mod:`.render`) print them. The convention (:data:`CONVENTION`, ``docs/counting.md``)
is the lecture's: MACs of convolution and fully connected layers with bias excluded, FLOPs =
2 x MACs, pooling calculations in their own column, unsupported modules listed, never counted 0.
"""

from .records import CONVENTION, SCHEMA_VERSION, LayerRecord, ModelReport, Totals
from .render import RENDERERS, render, to_csv, to_html, to_json, to_markdown, to_text
from .report import summarize
from .rules import Counted, register_rule

__all__ = [
    "CONVENTION",
    "RENDERERS",
    "SCHEMA_VERSION",
    "Counted",
    "LayerRecord",
    "ModelReport",
    "Totals",
    "register_rule",
    "render",
    "summarize",
    "to_csv",
    "to_html",
    "to_json",
    "to_markdown",
    "to_text",
]
