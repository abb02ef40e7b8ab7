"""The layer registry. Importing this package registers every layer type."""

from . import (  # noqa: F401  (imported for their registrations)
    activation,
    arithmetic,
    core,
    logical,
    loss,
    math_,
    others,
    parameter,
    pooling,
    preprocess,
    quantize,
    shape,
    vat,
)
from .base import REGISTRY, LayerSpec, Param, ParamShape, ShapeError, fmt_shape

__all__ = ["REGISTRY", "LayerSpec", "Param", "ParamShape", "ShapeError", "fmt_shape", "lookup"]


def lookup(layer_type: str) -> LayerSpec | None:
    return REGISTRY.get(layer_type)
