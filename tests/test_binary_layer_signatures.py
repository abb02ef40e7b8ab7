"""The runtimes' binary layers show NNC's defaults in their signatures (initializers and their
multipliers), as a person writing `BinaryConnectConvolution(c, 16, (3, 3))` would read them; the
registry holds NNC's layer table, and the emitters leave out what equals it. These tests keep every
signature's defaults equal to the registry's, so the runtimes cannot drift from NNC's table."""

from __future__ import annotations

import inspect

import pytest

from nndsl.layers import REGISTRY

TYPES = ("BinaryConnectAffine", "BinaryWeightAffine", "BinaryConnectConvolution", "BinaryWeightConvolution")


def _check(cls, layer_type: str) -> None:
    table = {p.name: p.default for p in REGISTRY[layer_type].params}
    shown = {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty and name in table and (name == "bias" or "_init" in name)
    }  # (geometry defaults are None there: conv_geometry's ones and zeros of the kernel's rank)
    assert {"w_init", "w_init_multiplier"} <= shown.keys(), layer_type
    for name, value in shown.items():
        want = table[name]
        assert value == (tuple(want) if isinstance(value, tuple) else want), (layer_type, name)


@pytest.mark.parametrize("layer_type", TYPES)
def test_torch_binary_layers_show_nncs_defaults(layer_type):
    from nndsl.runtime.torch import nnc_layers

    _check(getattr(nnc_layers, layer_type), layer_type)


@pytest.mark.parametrize("layer_type", TYPES)
def test_keras_binary_layers_show_nncs_defaults(layer_type):
    from nndsl.runtime.keras import nnc_layers

    _check(getattr(nnc_layers, layer_type), layer_type)
