"""Inference engines: eager PyTorch, ``torch.compile`` (frozen) and ONNX Runtime behind one
:class:`Predictor` interface (``healthcnn predict --engine torch|compiled|onnx``)."""

from .engines import (
    ENGINES,
    CompiledPredictor,
    EngineError,
    OnnxPredictor,
    Predictor,
    TorchPredictor,
    create_predictor,
    load_predictor,
)

__all__ = [
    "ENGINES",
    "CompiledPredictor",
    "EngineError",
    "OnnxPredictor",
    "Predictor",
    "TorchPredictor",
    "create_predictor",
    "load_predictor",
]
