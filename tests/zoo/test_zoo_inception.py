"""GoogLeNet and Inception v3 are torchvision's, auxiliary classifiers included.

torchvision's `googlenet(aux_logits=True)` and `inception_v3(aux_logits=True)` (random weights,
`init_weights=True`; `transform_input` is False without pretrained weights) with batch statistics
as after training: their weights, mapped by `nndsl weights`'s structure matching onto the Training
network (the one network with the auxiliary classifiers), give torchvision's outputs in both
backends. Compared, per spec and backend:

- the main logits in eval mode (the unit instance `net`: the network without the spec's
  preprocessing and softmax), against torchvision's eval-mode output;
- the auxiliary logits, which torchvision computes only in train mode (`GoogLeNetOutputs`,
  `InceptionOutputs`): torchvision is put in train mode with every batch normalization and dropout
  in eval mode (running statistics, no dropout); the generated trunk computes its heads in eval mode
  too (its `heads` flag, true unless a network leaves them out), from the same call.

Each spec's parameter total is torchvision's and the issue's, and its Runtime network's MACs are
torchvision's `_ops` (GMACs to 3 decimals, counted without the auxiliary classifiers).
"""

from __future__ import annotations

import numpy as np
import pytest
import zoo_check as Z

from nndsl.summary import to_json

torch = pytest.importorskip("torch")
models = pytest.importorskip("torchvision.models")

# spec -> (torchvision builder, its weights' metadata, input size, the issue's parameter total,
# torchvision's auxiliary heads, in the order the spec computes them)
ZOO = {
    "googlenet": ("googlenet", models.GoogLeNet_Weights, 224, 13_004_888, ("aux1", "aux2")),
    "inception_v3": ("inception_v3", models.Inception_V3_Weights, 299, 27_161_264, ("AuxLogits",)),
}
BATCH = 2


def _reference(name: str):
    """torchvision's model with random weights and batch statistics as after training: random
    affine terms (`trained_statistics`) and running statistics of real activations (one batch's,
    each channel's then moved by a random factor), so that its logits are of the order of 1
    (torchvision's initial weights with made-up statistics give logits of 1e-3 in GoogLeNet and of
    1e13 in Inception v3's 94 layers, which would say little of a difference)."""
    builder = getattr(models, ZOO[name][0])
    torch.manual_seed(0)
    reference = builder(weights=None, aux_logits=True, init_weights=True)
    assert reference.transform_input is False  # the spec's input is torchvision's, unchanged
    norms = [m for m in reference.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(m.eps == 1e-3 for m in norms)
    Z.trained_statistics(reference)
    size = ZOO[name][2]
    calibration = torch.from_numpy(np.random.default_rng(1).standard_normal((4, 3, size, size)).astype(np.float32))
    for m in norms:
        m.momentum = 1.0  # the running statistics become the batch's
    reference.train()
    with torch.no_grad():
        reference(calibration)
        generator = torch.Generator().manual_seed(1)
        for m in norms:
            m.momentum = 0.1
            m.running_mean.mul_(1 + 0.2 * torch.rand(m.num_features, generator=generator))
            m.running_var.mul_(0.8 + 0.4 * torch.rand(m.num_features, generator=generator))
    return reference.eval()


@pytest.fixture(scope="module")
def zoo():
    """name -> (project, torchvision model, the mapped parameters, input): each built once."""
    cache = {}

    def get(name: str):
        if name not in cache:
            project = Z.project_of(name)
            reference = _reference(name)
            arrays = Z.reference_params(project, Z.torch_layers(reference), "torch", network="Training")
            size = ZOO[name][2]
            x = np.random.default_rng(0).standard_normal((BATCH, 3, size, size)).astype(np.float32)
            cache[name] = (project, reference, arrays, x)
        return cache[name]

    return get


@pytest.fixture(scope="module")
def logits(zoo, tmp_path_factory):
    """(name, backend) -> the generated model's logits by output (`_unit_outputs`), its project
    loaded with torchvision's weights."""
    cache = {}

    def get(name: str, backend: str):
        if (name, backend) not in cache:
            if backend == "keras":
                pytest.importorskip("keras")
            project, _, arrays, x = zoo(name)
            tmp = tmp_path_factory.mktemp(f"{name}_{backend}")
            module, model = Z.generated_model(project, backend, tmp / "project")
            Z.load(model, arrays, tmp)
            cache[name, backend] = _unit_outputs(name, module, model, backend, x)
        return cache[name, backend]

    return get


def _unit_outputs(name: str, module, model, backend: str, x: np.ndarray) -> dict[str, np.ndarray]:
    """The logits of the model's unit instance `net` in eval mode by output ("main", and the
    auxiliary heads by torchvision's names), in NNC's layout. The generated class returns its
    outputs in the order the spec computes them: the heads (written after the trunk), then the main
    classifier; it computes the heads in either mode unless told `heads=False` (PyTorch)."""
    names = [*ZOO[name][4], "main"]
    if backend == "torch":
        model.eval()
        with torch.no_grad():
            got = model.net(torch.from_numpy(x))
        return {n: g.numpy() for n, g in zip(names, got, strict=True)}
    import keras

    got = model.net(keras.ops.convert_to_tensor(module.nnc.to_channels_last(x)))
    return {n: module.nnc.to_channels_first(keras.ops.convert_to_numpy(g)) for n, g in zip(names, got, strict=True)}


def _reference_heads(reference, x: np.ndarray) -> dict[str, np.ndarray]:
    """torchvision's auxiliary logits by head: train mode (which computes them), every batch
    normalization and dropout in eval mode."""
    reference.train()
    for m in reference.modules():
        if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.Dropout)):
            m.eval()
    with torch.no_grad():
        out = reference(torch.from_numpy(x))
    reference.eval()
    if isinstance(out, models.GoogLeNetOutputs):
        return {"aux1": out.aux_logits1.numpy(), "aux2": out.aux_logits2.numpy()}
    return {"AuxLogits": out.aux_logits.numpy()}


def _close(expected: np.ndarray, got: np.ndarray, backend: str) -> tuple[bool, float]:
    """Whether `got` is `expected` within 1e-5 (PyTorch) or 1e-4 (Keras) of the logits' own scale
    (their largest magnitude, of the order of 1 here), and the difference relative to it."""
    diff, _ = Z.max_difference(expected, got)
    relative = diff / float(np.max(np.abs(expected)))
    return relative <= (1e-5 if backend == "torch" else 1e-4), relative


@pytest.mark.parametrize("name", list(ZOO))
def test_parameters_and_macs_are_torchvisions(name, zoo):
    project, reference, _, _ = zoo(name)
    _, weights, _, total, heads_of = ZOO[name]
    assert project.total_params == sum(p.numel() for p in reference.parameters()) == total
    summary = {n["name"]: n for n in to_json(project)["networks"]}
    assert round(summary["Runtime"]["total_macs"] / 1e9, 3) == weights.IMAGENET1K_V1.meta["_ops"]
    # without the auxiliary classifiers, Runtime has torchvision's parameters without them
    heads = sum(p.numel() for h in heads_of for p in getattr(reference, h).parameters())
    assert summary["Runtime"]["total_params"] == total - heads


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("name", list(ZOO))
def test_logits_equal_torchvisions_in_eval_mode(name, backend, zoo, logits):
    _, reference, _, x = zoo(name)
    reference.eval()
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    ok, relative = _close(expected, logits(name, backend)["main"], backend)
    assert ok, relative


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("name", list(ZOO))
def test_auxiliary_logits_equal_torchvisions(name, backend, zoo, logits):
    _, reference, _, x = zoo(name)
    expected = _reference_heads(reference, x)
    got = logits(name, backend)
    assert set(expected) == set(ZOO[name][4]) <= set(got)
    for head, want in expected.items():
        ok, relative = _close(want, got[head], backend)
        assert ok, (head, relative)
