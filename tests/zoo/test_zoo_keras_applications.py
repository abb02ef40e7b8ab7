"""MobileNet (v1) and Xception are keras.applications': Keras's weights (random, with batch statistics
as after training), saved with `save_weights` and mapped by `nndsl weights`'s structure matching,
give Keras's outputs in both backends; each spec's parameters and MACs are Keras's.

The comparison is in NNC's layout: the input is drawn channels first, Keras's reference reads it
moved to channels last, and the logits (N, classes) are the same in both layouts."""

import json

import numpy as np
import pytest
import zoo_check as Z

keras = pytest.importorskip("keras")

# spec -> (keras.applications model, its input size, count_params (trainable and batch statistics),
# the batch compared: Xception's 8.4 GMACs a sample take seconds on a CPU)
REFERENCES = {
    "mobilenet": ("MobileNet", 224, 4_253_864, 2),
    "xception": ("Xception", 299, 22_910_480, 1),
}


@pytest.fixture(scope="module", params=sorted(REFERENCES))
def case(request, tmp_path_factory):
    """The spec, its Keras reference (logits: no softmax) with trained statistics, the reference's
    weights as the spec's NNC parameters, an input in NNC's layout and the reference's logits for it."""
    name = request.param
    model, size, _, batch = REFERENCES[name]
    reference = getattr(keras.applications, model)(weights=None, classifier_activation=None)
    rng = np.random.default_rng(0)
    Z.keras_trained_statistics(reference, rng.standard_normal((1, size, size, 3)).astype(np.float32))
    project = Z.project_of(name)
    tmp = tmp_path_factory.mktemp(name)
    arrays = Z.reference_params(project, Z.keras_layers(reference, tmp), "keras")
    x = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(reference(np.moveaxis(x, 1, -1), training=False))
    return name, project, reference, arrays, x, expected, tmp


def test_parameters_equal_keras(case):
    """Keras's count_params holds the batch normalizations' moving mean and variance, which the spec
    keeps as state (NNC's mean and var, not trained)."""
    name, project, reference, *_ = case
    trainable = sum(int(np.prod(w.shape)) for w in reference.trainable_weights)
    state = sum(int(np.prod(p.shape)) for p in project.parameter_table().values() if not p.trainable)
    assert project.total_params == trainable
    assert project.total_params + state == reference.count_params() == REFERENCES[name][2]


def keras_macs(model) -> int:
    """Multiply-accumulates by nndsl summary's rule (torchinfo's): a convolution's weights and bias once
    per output position, any other layer's trainable parameters once. A SeparableConv2D's pointwise part
    is 1x1 at stride 1, so its depthwise part too runs at the layer's output positions."""
    convolutions = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
    total = 0
    for layer in model.layers:
        weights = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
        if isinstance(layer, convolutions):
            weights *= int(np.prod(layer.output.shape[1:-1]))
        total += weights
    return total


def test_macs_equal_keras(case, capsys):
    from nndsl.cli import main

    name, _, reference, *_ = case
    assert main(["summary", f"specs/{name}.nnd", "--network", "Runtime", "--format", "json"]) == 0
    (network,) = json.loads(capsys.readouterr().out)["networks"]
    assert network["total_macs"] == keras_macs(reference)


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_outputs_equal_keras_with_its_weights(case, backend):
    if backend == "torch":
        pytest.importorskip("torch")
    name, project, _, arrays, x, expected, tmp = case
    module, model = Z.generated_model(project, backend, tmp / f"project_{backend}")
    Z.load(model, arrays, tmp)
    (got,) = Z.outputs(module, model, backend, x, unit="net")
    diff, scale = Z.max_difference(expected, got)
    print(f"{name} {backend}: max abs difference {diff:.2e} at scale {scale:.3g}")
    assert diff <= (1e-5 if backend == "torch" else 1e-4) * scale, diff
