"""`nndsl weights` on Keras files: a small functional Keras model (convolutions, a depthwise
convolution, batch normalization, a Dense head after global pooling or after Flatten) with random weights and
statistics, saved as `.weights.h5` and as `.keras`, becomes the spec's NNC parameters, and the
generated Keras project loading them gives the Keras model's outputs. The files are read with
zipfile and h5py only; links out of the file and archives without weights are refused."""

import zipfile

import h5py
import numpy as np
import pytest
from conftest import import_generated

keras = pytest.importorskip("keras")

from nndsl.backends.keras import generate  # noqa: E402
from nndsl.cli import main  # noqa: E402
from nndsl.compiler import compile_file  # noqa: E402
from nndsl.runtime.nnc_params import load_params  # noqa: E402

SPEC = """\
network Runtime {{
    x = Input(3x16x16)
    y = x
        -> c1: Convolution(8, kernel=3x3, pad=1x1)
        -> bn1: BatchNormalization
        -> ReLU
        -> dw: DepthwiseConvolution(kernel=3x3, pad=1x1)
        -> c2: Convolution(16, kernel=3x3, pad=1x1, bias=false)
        -> bn2: BatchNormalization
        -> ReLU
        -> {head}
        -> fc: Affine(10)
}}
"""
HEADS = {"gap": "GlobalAveragePooling", "flatten": "MaxPooling(kernel=4x4)"}


def reference(head: str, width: int = 16) -> keras.Model:
    """The spec as keras.applications writes a model (channels-last), eps set to NNC's 1e-4."""
    x = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(8, 3, padding="same", name="conv1")(x)
    h = keras.layers.BatchNormalization(epsilon=1e-4, name="conv1_bn")(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.DepthwiseConv2D(3, padding="same", name="conv_dw")(h)
    h = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name="conv2")(h)
    h = keras.layers.BatchNormalization(epsilon=1e-4, name="conv2_bn")(h)
    h = keras.layers.ReLU()(h)
    if head == "gap":
        h = keras.layers.GlobalAveragePooling2D()(h)
    else:
        h = keras.layers.Flatten()(keras.layers.MaxPooling2D(4)(h))
    y = keras.layers.Dense(10, name="predictions")(h)
    model = keras.Model(x, y)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        values = [rng.standard_normal(w.shape).astype(np.float32) * 0.3 for w in layer.get_weights()]
        if isinstance(layer, keras.layers.BatchNormalization):
            values[0] = rng.uniform(0.5, 1.5, values[0].shape).astype(np.float32)  # gamma
            values[3] = rng.uniform(0.5, 1.5, values[3].shape).astype(np.float32)  # moving variance
        layer.set_weights(values)
    return model


def weights(argv, capsys):
    code = main(["weights", *map(str, argv)])
    return code, capsys.readouterr().err


@pytest.fixture(scope="module", params=list(HEADS))
def case(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    spec = folder / "spec.nnd"
    spec.write_text(SPEC.format(head=HEADS[request.param]), encoding="utf-8")
    model = reference(request.param)
    model.save_weights(folder / "w.weights.h5")
    model.save(folder / "m.keras")
    generate(compile_file(str(spec)).project, folder / "project")
    return request.param, spec, model, folder


@pytest.mark.parametrize("file", ["w.weights.h5", "m.keras"])
def test_a_keras_model_gives_its_outputs_through_the_generated_project(case, file, capsys):
    head, spec, theirs, folder = case
    out = folder / f"{file}.npz"
    code, err = weights([spec, folder / file, "-o", out, "--force"], capsys)
    assert code == 0, err
    assert "6 of the 6 layers of network 'Runtime' matched, from the 6 layers of" in err
    assert "conv2_bn.moving_variance (layers/batch_normalization_1/vars/3)" in err
    assert len(load_params(out)) == 2 + 4 + 2 + 1 + 4 + 2
    ours = import_generated(folder / "project").create_model()
    ours.load_params(out)
    x = np.random.default_rng(1).standard_normal((2, 16, 16, 3)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(theirs(x, training=False))
    got = keras.ops.convert_to_numpy(ours(x, training=False))
    diff = float(np.abs(got - expected).max())
    print(f"keras {head} {file}: max abs difference {diff:.2e}")
    assert diff <= 1e-5 * max(1.0, float(np.abs(expected).max()))


def test_a_shape_mismatch_is_positioned(case, tmp_path, capsys):
    _, spec, _, _ = case
    reference("gap", width=12).save_weights(tmp_path / "w.weights.h5")
    code, err = weights([spec, tmp_path / "w.weights.h5", "-o", tmp_path / "p.npz"], capsys)
    assert code == 1
    assert f"{tmp_path / 'w.weights.h5'}: [conv2 (layers/conv2d_1)] 0 3x3x8x12: no layer of network" in err
    assert "[c2] (W 16x8x3x3 in NNC's shapes): no layer of" in err and "error[E0971]" in err
    assert not (tmp_path / "p.npz").exists()


def test_a_keras_archive_without_weights_or_not_a_zip(case, tmp_path, capsys):
    _, spec, _, _ = case
    with zipfile.ZipFile(tmp_path / "empty.keras", "w") as z:
        z.writestr("config.json", "{}")
    code, err = weights([spec, tmp_path / "empty.keras", "-o", tmp_path / "p.npz"], capsys)
    assert code == 1 and "holds no model.weights.h5" in err
    (tmp_path / "text.keras").write_text("hello", encoding="utf-8")
    code, err = weights([spec, tmp_path / "text.keras", "-o", tmp_path / "p.npz"], capsys)
    assert code == 1 and "not a .keras file (a zip archive)" in err
    (tmp_path / "text.weights.h5").write_text("hello", encoding="utf-8")
    code, err = weights([spec, tmp_path / "text.weights.h5", "-o", tmp_path / "p.npz"], capsys)
    assert code == 1 and "not a readable HDF5 (Keras weights) file" in err and "Traceback" not in err


def test_links_out_of_the_file_are_refused(case, tmp_path, capsys):
    _, spec, _, folder = case
    path = tmp_path / "linked.weights.h5"
    with h5py.File(path, "w") as f:
        f.create_group("layers/conv2d/vars")
        f["layers/conv2d/vars/0"] = h5py.ExternalLink(str(folder / "w.weights.h5"), "layers/conv2d/vars/0")
    code, err = weights([spec, path, "-o", tmp_path / "p.npz"], capsys)
    assert code == 1 and "is a ExternalLink, not data in this file; refused" in err


SEPARABLE_SPEC = """\
network Runtime {
    x = Input(3x16x16)
    y = x
        -> c1: Convolution(8, kernel=3x3, pad=1x1, bias=false)
        -> sep_dw: DepthwiseConvolution(kernel=3x3, pad=1x1, bias=false)
        -> sep_pw: Convolution(16, kernel=1x1)
        -> ReLU
        -> dw: DepthwiseConvolution(kernel=3x3, pad=1x1)
        -> bn: BatchNormalization
        -> GlobalAveragePooling
        -> fc: Affine(10)
}
"""


def test_a_separable_convolution_is_the_depthwise_and_pointwise_layers_nnc_writes(tmp_path, capsys):
    """Keras's SeparableConv2D holds a depthwise kernel, a pointwise kernel and a bias: the spec's
    DepthwiseConvolution and the 1x1 Convolution after it take it together; a DepthwiseConv2D of its
    own still pairs with a DepthwiseConvolution alone."""
    # Named as a fresh process names them: Keras numbers unnamed layers per process (depthwise_conv2d_1
    # after another test made one), and the report below names them.
    x = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv2d")(x)
    h = keras.layers.SeparableConv2D(16, 3, padding="same", name="separable_conv2d")(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.DepthwiseConv2D(3, padding="same", name="depthwise_conv2d")(h)
    h = keras.layers.BatchNormalization(epsilon=1e-4, name="batch_normalization")(h)
    y = keras.layers.Dense(10, name="dense")(keras.layers.GlobalAveragePooling2D()(h))
    theirs = keras.Model(x, y)
    rng = np.random.default_rng(0)
    for layer in theirs.layers:
        values = [rng.standard_normal(w.shape).astype(np.float32) * 0.3 for w in layer.get_weights()]
        if isinstance(layer, keras.layers.BatchNormalization):
            values[0] = rng.uniform(0.5, 1.5, values[0].shape).astype(np.float32)  # gamma
            values[3] = rng.uniform(0.5, 1.5, values[3].shape).astype(np.float32)  # moving variance
        layer.set_weights(values)
    theirs.save_weights(tmp_path / "w.weights.h5")
    spec = tmp_path / "spec.nnd"
    spec.write_text(SEPARABLE_SPEC, encoding="utf-8")
    code, err = weights([spec, tmp_path / "w.weights.h5", "-o", tmp_path / "p.npz"], capsys)
    assert code == 0, err
    assert "6 of the 6 layers of network 'Runtime' matched, from the 5 layers of" in err
    report = {" ".join(line.split()) for line in err.splitlines()}
    assert {
        "separable_conv2d.depthwise_kernel (layers/separable_conv2d/vars/0) -> sep_dw/W 3x3x8x1 -> 8x3x3",
        "separable_conv2d.pointwise_kernel (layers/separable_conv2d/vars/1) -> sep_pw/W 1x1x8x16 -> 16x8x1x1",
        "separable_conv2d.bias (layers/separable_conv2d/vars/2) -> sep_pw/b 16 -> 16",
        "depthwise_conv2d.kernel (layers/depthwise_conv2d/vars/0) -> dw/W 3x3x16x1 -> 16x3x3",
    } <= report
    generate(compile_file(str(spec)).project, tmp_path / "project")
    ours = import_generated(tmp_path / "project").create_model()
    ours.load_params(tmp_path / "p.npz")
    x = rng.standard_normal((2, 16, 16, 3)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(theirs(x, training=False))
    got = keras.ops.convert_to_numpy(ours(x, training=False))
    assert float(np.abs(got - expected).max()) <= 1e-5 * max(1.0, float(np.abs(expected).max()))
