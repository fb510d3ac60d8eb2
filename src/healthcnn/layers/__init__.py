"""Dimension-generic layers: factories by (name, spatial_dims), sum pooling, the locally
connected layer and the blocks the model families share."""

from .blocks import ClassifierHead, ConvNormAct
from .factories import (
    LayerSpec,
    SumPool1d,
    SumPool2d,
    SumPool3d,
    act_type,
    conv_type,
    dropout_type,
    make_act,
    make_conv,
    make_dropout,
    make_norm,
    make_pool,
    norm_type,
    pool_type,
    valid_names,
)
from .local import LocallyConnected
from .pooling import SumPool

__all__ = [
    "ClassifierHead",
    "ConvNormAct",
    "LayerSpec",
    "LocallyConnected",
    "SumPool",
    "SumPool1d",
    "SumPool2d",
    "SumPool3d",
    "act_type",
    "conv_type",
    "dropout_type",
    "make_act",
    "make_conv",
    "make_dropout",
    "make_norm",
    "make_pool",
    "norm_type",
    "pool_type",
    "valid_names",
]
