"""Completeness and consistency of the layer registry against NNC's layer table."""

from __future__ import annotations

import pytest
from conftest import REQUIRED_LAYERS

from nndsl.layers import REGISTRY
from nndsl.layers.base import DERIVED, INT, LayerSpec, Param, nnc_properties, parse_default, register
from nndsl.nnc.components import COMPONENTS

REQUIRED = REQUIRED_LAYERS


LOSSES = {
    "SoftmaxCrossEntropy",
    "CategoricalCrossEntropy",
    "BinaryCrossEntropy",
    "SigmoidCrossEntropy",
    "SquaredError",
    "HuberLoss",
    "AbsoluteError",
    "EpsilonInsensitiveLoss",
    "KLMultinomial",
}
ERRORS = {"TopNError", "BinaryError"}
VARIADIC = {"Concatenate", "Stack", "AddN", "MulN"}

# Defaults the registry sets on purpose to something other than NNC's table value.
DELIBERATE = {
    ("Input", "Size"): None,  # a network input must say its shape
    ("Input", "Dataset"): "",  # bound by the dataset section, not NNC's placeholder "x"
    ("BatchNormalization", "BatchStat"): DERIVED,  # true in training networks, false elsewhere
    # NNC computes it from the connector it feeds (*GraphOutput); a spec says it, and a size that
    # is not the connector's is an error at the connector
    ("Parameter", "Size"): None,
}


# NNC properties that are not part of the language: implementation switches, and the
# dataset/generator settings of input pins (T.Dataset...), which are real tensor inputs.
EXCLUDED = ("ChannelLast", "InPlace")
PIN_SETTINGS = ("Dataset", "Generator", "GeneratorMultiplier")

ALL = sorted(REGISTRY)

# Options of NNC layer types that NNC lacks (`Param.nnc` ""): the frameworks' pooling rule.
NNDSL_OPTIONS = {("MaxPooling", "ceil_mode"), ("AveragePooling", "ceil_mode")}


def test_every_required_layer_is_registered():
    missing = [t for t in REQUIRED if t not in REGISTRY]
    assert not missing, f"not registered: {missing}"


def test_registry_keys_are_the_spec_types():
    for name, spec in REGISTRY.items():
        assert spec.type == name


@pytest.mark.parametrize("layer", ALL)
def test_spec_is_complete(layer: str):
    spec = REGISTRY[layer]
    assert callable(spec.shape), "no shape rule"
    assert callable(spec.parameters)
    assert spec.resolve is None or callable(spec.resolve)
    assert spec.doc.strip(), "no doc string"
    if spec.nndsl_only:  # nndsl's own layer type (AdaptiveAveragePooling): NNC lacks it
        assert layer not in COMPONENTS, "an NNC layer type marked nndsl_only"
    else:
        assert layer in COMPONENTS, "not an NNC layer type"
        assert spec.category == COMPONENTS[layer]["category"], "category differs from NNC's"
    assert spec.kind in ("layer", "input", "parameter", "loss", "error", "preprocess")
    assert spec.preprocessing in ("", "scales", "keeps")
    if spec.preprocessing == "scales":  # lint describes the step by the layer's constant
        assert spec.param("value") is not None and spec.inputs == ("x",)
    assert all(spec.param(name) is not None for name in spec.shared_settings)
    if spec.keeps_loss:  # a loss where every tensor input is one: an elementwise layer of losses
        assert spec.shape is not None and not spec.variadic and spec.kind == "layer"


@pytest.mark.parametrize("layer", ALL)
def test_param_defaults_match_nnc(layer: str):
    spec = REGISTRY[layer]
    if spec.nndsl_only:
        assert all(not q.nnc for q in spec.params), "an nndsl-only layer type has no NNC properties"
        return
    props = nnc_properties(layer)
    for q in spec.params:
        if not q.nnc:  # nndsl's own option (pooling's ceil_mode), NNC has no such property
            assert (layer, q.name) in NNDSL_OPTIONS, f"{q.name}: not an NNC property of {layer}"
            continue
        assert q.nnc in props, f"{q.name}: {q.nnc} is not an NNC property of {layer}"
        text, choices = props[q.nnc]
        assert q.choices == choices
        if (layer, q.nnc) in DELIBERATE:
            assert q.default == DELIBERATE[layer, q.nnc]
        elif text.startswith("*"):
            assert q.default is DERIVED, f"{q.name}: NNC computes {text}, expected DERIVED"
        else:
            assert q.default == parse_default(text, q.type), f"{q.name}: {q.default!r} != NNC's {text!r}"


@pytest.mark.parametrize("layer", ALL)
def test_no_pin_or_implementation_properties(layer: str):
    for q in REGISTRY[layer].params:
        pin, _, prop = q.nnc.rpartition(".")
        assert q.nnc not in EXCLUDED, f"{q.nnc} should not be a language parameter"
        assert not (pin and prop in PIN_SETTINGS), f"{q.nnc} is an input pin's setting, not a parameter"


@pytest.mark.parametrize("layer", ALL)
def test_positional_names_are_parameters(layer: str):
    spec = REGISTRY[layer]
    names = {q.name for q in spec.params}
    for name in spec.positional:
        assert name in names


def test_kinds():
    assert REGISTRY["Input"].kind == "input"
    assert REGISTRY["Parameter"].kind == "parameter"
    for t in LOSSES:
        assert REGISTRY[t].kind == "loss", t
    for t in ERRORS:
        assert REGISTRY[t].kind == "error", t
    others = set(REGISTRY) - LOSSES - ERRORS - {"Input", "Parameter"}
    assert {REGISTRY[t].kind for t in others} == {"layer"}


def test_flags_the_passes_read():
    """The facts lint, check_roles and check_parameters read from the registry, per type."""
    by = {}
    for t, spec in REGISTRY.items():
        by.setdefault(spec.preprocessing, set()).add(t)
    scales = {"MulScalar", "AddScalar", "RSubScalar", "RDivScalar", "PowScalar", "RPowScalar", "MaximumScalar"}
    assert by["scales"] == scales | {"MinimumScalar"}
    keeps = {"Slice", "Pad", "ImageAugmentation", "RandomFlip", "RandomShift", "RandomCrop", "Identity", "Flip"}
    assert by["keeps"] == keeps
    assert {t for t, spec in REGISTRY.items() if spec.keeps_loss} == {"Add2", "MulScalar"}
    assert {t: spec.shared_settings for t, spec in REGISTRY.items() if spec.shared_settings} == {
        "WorkingMemory": ("init", "init_multiplier", "lrate_multiplier")
    }


def test_target_inputs_are_real_inputs():
    for t in LOSSES | ERRORS:
        assert len(REGISTRY[t].inputs) == 2, t
    assert REGISTRY["SoftmaxCrossEntropy"].inputs == ("x", "T")
    assert REGISTRY["KLMultinomial"].inputs == ("p", "q")
    assert REGISTRY["Sub2"].inputs == ("x0", "x1")
    assert REGISTRY["Input"].inputs == ()


def test_variadic_layers():
    for t, spec in REGISTRY.items():
        assert spec.variadic == (t in VARIADIC), t
        if spec.variadic:
            assert spec.inputs == ("x0", "x1")


def test_random_flags():
    ins = ((3, 8, 8),)
    for t in ("Dropout", "RandomFlip", "RandomCrop"):
        assert REGISTRY[t].is_random({q.name: q.default for q in REGISTRY[t].params}, ins), t
    for t in ("ReLU", "Convolution", "Slice", "Affine"):
        assert not REGISTRY[t].is_random({q.name: q.default for q in REGISTRY[t].params}, ins), t


def test_convolutions_count_macs_per_position():
    conv_like = {
        "Convolution",
        "DepthwiseConvolution",
        "Deconvolution",
        "DepthwiseDeconvolution",
        "BinaryConnectConvolution",
        "BinaryWeightConvolution",
    }
    for t, spec in REGISTRY.items():
        assert spec.spatial_macs == (t in conv_like), t


def test_language_names():
    conv = REGISTRY["Convolution"]
    assert [q.name for q in conv.params][:7] == [
        "out_maps",
        "kernel",
        "border_mode",
        "pad",
        "stride",
        "dilation",
        "group",
    ]
    assert conv.param("kernel_shape") is conv.param("kernel")
    assert REGISTRY["Input"].param("shape").nnc == "Size"
    assert REGISTRY["MulScalar"].positional == ("value",)
    assert REGISTRY["Concatenate"].positional == ()
    assert REGISTRY["Sum"].positional == ()


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        register(REGISTRY["ReLU"])
    spec = LayerSpec(type="Convolution", category="Basic", inputs=("x",), params=(), shape=lambda ins, p: ins[0])
    with pytest.raises(ValueError, match="registered twice"):
        register(spec)
    assert REGISTRY["Convolution"] is not spec


def test_spec_rejects_bad_declarations():
    with pytest.raises(ValueError, match="positional"):
        LayerSpec(type="X", category="Others", inputs=("x",), params=(), shape=lambda ins, p: ins[0], positional=("n",))
    q = Param("n", INT, 1, "N")
    with pytest.raises(ValueError, match="declared twice"):
        LayerSpec(type="X", category="Others", inputs=("x",), params=(q, q), shape=lambda ins, p: ins[0])


def test_every_learnable_parameter_has_nncs_learning_rate_multiplier():
    """NNC writes `<p>.LRateMultiplier` beside `<p>.Initializer` for every learnable parameter of a
    layer (the sample projects do: `W.LRateMultiplier=1.0`); the language has it as
    `<p>_lrate_multiplier`, with NNC's default: 1 for what is trained, 0 for state (BatchNormalization's
    running statistics, the binary layers' Wb)."""
    for layer, spec in REGISTRY.items():
        if layer == "MeanSubtraction":  # its mean and t are running state, never trained
            continue
        names = {q.nnc: q for q in spec.params}
        for nnc in names:
            if nnc.endswith(".InitializerMultiplier"):
                lrate = names.get(nnc.replace("InitializerMultiplier", "LRateMultiplier"))
                assert lrate is not None, f"{layer}: no {nnc} learning-rate multiplier"
                nncs = float(nnc_properties(layer)[lrate.nnc][0])
                assert lrate.default == nncs, f"{layer}: {lrate.nnc} default"
    assert {q.name: q.default for q in REGISTRY["BatchNormalization"].params}["mean_lrate_multiplier"] == 0.0
    assert {q.name: q.default for q in REGISTRY["BinaryConnectAffine"].params}["wb_lrate_multiplier"] == 0.0
