"""`nndsl weights` on PyTorch files: torchvision's ResNet-18 (random weights and batch statistics,
saved as a state dict and as safetensors) and a small VGG-like torch module become the spec's NNC
parameters, and the generated torch project loading them gives the framework model's outputs;
files that are not what they say, pickles that are not state dicts, and layers that fit nothing
are one-line errors (exit 1), usage errors exit 2, never a traceback."""

import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import import_generated

torch = pytest.importorskip("torch")
models = pytest.importorskip("torchvision.models")

from nndsl.backends.torch import generate  # noqa: E402
from nndsl.cli import main  # noqa: E402
from nndsl.compiler import compile_file  # noqa: E402
from nndsl.runtime.nnc_params import load_params  # noqa: E402

SMALL = """\
# A VGG-like network in torchvision's layout: features, then a classifier on the flattened maps.
network Runtime {
    x = Input(3x16x16)
    y = x
        -> c1: Convolution(8, kernel=3x3, pad=1x1)
        -> ReLU
        -> MaxPooling(kernel=2x2)
        -> c2: Convolution(16, kernel=3x3, pad=1x1)
        -> ReLU
        -> MaxPooling(kernel=2x2)
        -> f1: Affine(32)
        -> ReLU
        -> f2: Affine(10)
}
"""


class SmallVGG(torch.nn.Module):
    """The spec above written as torchvision writes VGG."""

    def __init__(self, classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(8, width, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
        )
        self.classifier = torch.nn.Sequential(
            torch.nn.Linear(width * 16, 32), torch.nn.ReLU(), torch.nn.Dropout(), torch.nn.Linear(32, classes)
        )

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def weights(argv, capsys):
    """Run `nndsl weights ARGV` in this process: (exit status, stderr)."""
    code = main(["weights", *map(str, argv)])
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def resnet18(tmp_path_factory):
    """torchvision's ResNet-18 with random weights and batch statistics (eps set to NNC's 1e-4, which
    the spec's BatchNormalization uses), saved as .pth and .safetensors; the generated project."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    theirs = models.resnet18(weights=None)
    with torch.no_grad():
        for m in theirs.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eps = 1e-4
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
    theirs.eval()
    folder = tmp_path_factory.mktemp("resnet18")
    torch.save(theirs.state_dict(), folder / "r18.pth")
    save_file(theirs.state_dict(), folder / "r18.safetensors")
    generate(compile_file("specs/resnet18.nnd").project, folder / "project")
    return theirs, folder


def _compare(theirs, project, params) -> float:
    module = import_generated(project)
    model = module.create_model()
    model.load_params(params)  # every parameter, in its shape: a strict load
    model.eval()
    torch.manual_seed(1)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = theirs(x)
        got = model.resnet(x)  # the ResNet unit: the Runtime network less its preprocessing and Softmax
    return (got - expected).abs().max().item() / max(1.0, expected.abs().max().item())


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_torchvision_resnet18_weights_give_its_outputs(resnet18, suffix, capsys):
    theirs, folder = resnet18
    out = folder / f"p{suffix}.npz"
    code, err = weights(["specs/resnet18.nnd", folder / f"r18{suffix}", "-o", out, "--network", "Runtime"], capsys)
    assert code == 0, err
    assert "41 of the 41 layers of network 'Runtime' matched, from the 41 layers of" in err
    assert "layer2.0.downsample.1.running_var" in err and "resnet/stage2/first/shortcut_bn/var" in err
    arrays = load_params(out)
    assert len(arrays) == sum(1 for k in theirs.state_dict() if not k.endswith("num_batches_tracked"))
    np.testing.assert_array_equal(arrays["resnet/fc/W"], theirs.fc.weight.detach().numpy().T)
    diff = _compare(theirs, folder / "project", out)
    print(f"resnet18 {suffix}: max abs difference {diff:.2e}")
    assert diff <= 1e-5


@pytest.fixture()
def small(tmp_path):
    spec = tmp_path / "small.nnd"
    spec.write_text(SMALL, encoding="utf-8")
    return spec


def test_a_vgg_like_module_gives_its_outputs_through_the_generated_project(small, tmp_path, capsys):
    torch.manual_seed(2)
    theirs = SmallVGG().eval()
    torch.save(theirs.state_dict(), tmp_path / "w.pt")
    code, err = weights([small, tmp_path / "w.pt", "-o", tmp_path / "p.npz"], capsys)
    assert code == 0, err
    assert "classifier.0.weight" in err and "f1/W" in err
    generate(compile_file(str(small)).project, tmp_path / "project")
    model = import_generated(tmp_path / "project").create_model()
    model.load_params(tmp_path / "p.npz")
    model.eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        diff = (model(x) - theirs(x)).abs().max().item()
    assert diff <= 1e-6, diff


def test_nncs_h5_is_written_too(small, tmp_path, capsys):
    torch.manual_seed(3)
    torch.save(SmallVGG().state_dict(), tmp_path / "w.pt")
    code, err = weights([small, tmp_path / "w.pt", "-o", tmp_path / "p.h5"], capsys)
    assert code == 0, err
    result = compile_file(str(small))
    table = {k: v for k, v in result.project.parameter_table().items()}
    arrays = load_params(tmp_path / "p.h5")  # nnabla's names
    assert len(arrays) == len(table) and "c1/conv/W" in arrays


def test_a_pickled_model_is_refused_and_nothing_runs(small, tmp_path, capsys):
    torch.save(SmallVGG(), tmp_path / "whole.pth")  # the module object, not its state dict
    code, err = weights([small, tmp_path / "whole.pth", "-o", tmp_path / "p.npz"], capsys)
    assert code == 1
    assert "error[E0970]" in err and "refused, nothing in it ran" in err and "state_dict()" in err
    assert not (tmp_path / "p.npz").exists()


def _safetensors(header: bytes, data: bytes) -> bytes:
    return len(header).to_bytes(8, "little") + header + data


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("text.pth", b"not a tensor file\n", "not a PyTorch file"),
        ("zip.pth", None, "not a readable PyTorch state dict"),
        ("short.safetensors", b"\x01\x02", "shorter than its 8-byte header"),
        ("huge.safetensors", (1 << 40).to_bytes(8, "little") + b"{}", "a header of"),
        ("json.safetensors", (4).to_bytes(8, "little") + b"nope", "not JSON"),
        (
            "outside.safetensors",
            _safetensors(b'{"a.weight":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}}', b"\0" * 16),
            "outside the file",
        ),
    ],
)
def test_a_file_that_is_not_what_its_suffix_says(small, tmp_path, capsys, name, content, words):
    path = tmp_path / name
    if content is None:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("hello.txt", "a zip, but not torch's")
    else:
        path.write_bytes(content)
    code, err = weights([small, path, "-o", tmp_path / "p.npz"], capsys)
    assert code == 1, err
    assert "error[E0970]" in err and str(path) in err and words in err, err
    assert "Traceback" not in err


def test_a_shape_mismatch_names_both_layers_and_shapes(small, tmp_path, capsys):
    torch.save(SmallVGG(width=12).state_dict(), tmp_path / "w.pt")  # c2 has 12 maps, the spec's 16
    code, err = weights([small, tmp_path / "w.pt", "-o", tmp_path / "p.npz"], capsys)
    assert code == 1
    assert (
        f"{small}:8:12: error[E0971]: [c2] (W 16x8x3x3, b 16 in NNC's shapes): no layer of {tmp_path / 'w.pt'}" in err
    )
    assert "the first left of its kind is [features.3] weight 12x8x3x3, bias 12" in err
    assert "[f1] (W 256x32, b 32 in NNC's shapes): no layer of" in err
    assert "the first left of its kind is [classifier.0] weight 32x192, bias 32" in err
    assert "[classifier.0] weight 32x192, bias 32: no layer of network 'Runtime' fits it" in err
    assert "nothing was written" in err and not (tmp_path / "p.npz").exists()


def test_more_or_fewer_tensors_than_parameters(small, tmp_path, capsys):
    state = SmallVGG().state_dict()
    extra = dict(state, **{"head.weight": torch.zeros(3, 10)})
    torch.save(extra, tmp_path / "extra.pt")
    code, err = weights([small, tmp_path / "extra.pt", "-o", tmp_path / "p.npz"], capsys)
    assert code == 1 and "[head] weight 3x10: no layer of network 'Runtime' fits it" in err
    fewer = {k: v for k, v in state.items() if not k.startswith("classifier.3")}
    torch.save(fewer, tmp_path / "fewer.pt")
    code, err = weights([small, tmp_path / "fewer.pt", "-o", tmp_path / "p.npz"], capsys)
    assert code == 1 and "[f2] (W 32x10, b 10 in NNC's shapes): no layer of" in err
    # --partial writes what matched; the rest are warnings, and a partial load fills the others
    code, err = weights([small, tmp_path / "fewer.pt", "-o", tmp_path / "p.npz", "--partial"], capsys)
    assert code == 0 and "warning[W130]" in err
    assert sorted(load_params(tmp_path / "p.npz")) == ["c1/W", "c1/b", "c2/W", "c2/b", "f1/W", "f1/b"]


def test_a_checkpoint_dict_with_a_state_dict_inside(small, tmp_path, capsys):
    torch.manual_seed(4)
    m = SmallVGG()
    torch.save({"epoch": 3, "state_dict": m.state_dict()}, tmp_path / "ckpt.pth")
    code, err = weights([small, tmp_path / "ckpt.pth", "-o", tmp_path / "p.npz"], capsys)
    assert code == 0, err
    np.testing.assert_array_equal(load_params(tmp_path / "p.npz")["c1/W"], m.features[0].weight.detach().numpy())


def test_an_existing_output_is_kept_without_force(small, tmp_path, capsys):
    torch.save(SmallVGG().state_dict(), tmp_path / "w.pt")
    (tmp_path / "p.npz").write_bytes(b"mine")
    code, err = weights([small, tmp_path / "w.pt", "-o", tmp_path / "p.npz"], capsys)
    assert code == 1 and "error[E0961]" in err and (tmp_path / "p.npz").read_bytes() == b"mine"
    code, err = weights([small, tmp_path / "w.pt", "-o", tmp_path / "p.npz", "--force"], capsys)
    assert code == 0 and len(load_params(tmp_path / "p.npz")) == 8


def test_usage_errors_exit_2(small, tmp_path):
    def cli(*argv):
        return subprocess.run(
            [sys.executable, "-m", "nndsl", "weights", *map(str, argv)], capture_output=True, text=True
        )

    r = cli(small, tmp_path / "w.onnx", "-o", tmp_path / "p.npz")
    assert r.returncode == 2 and "the file's extension says what it holds" in r.stderr
    r = cli(small, tmp_path / "w.pt", "-o", tmp_path / "p.txt")
    assert r.returncode == 2 and "expected a .npz, .h5 or .protobuf file" in r.stderr
    r = cli(small, tmp_path / "missing.pt", "-o", tmp_path / "p.npz", "--network", "Nope")
    assert r.returncode == 1 and "unknown network 'Nope'" in r.stderr
    r = cli(small, tmp_path / "missing.pt", "-o", tmp_path / "p.npz")
    assert r.returncode == 1 and "file not found" in r.stderr and "Traceback" not in r.stderr


def test_modules_saved_in_another_order_still_pair_and_are_warned_about(small, tmp_path, capsys):
    torch.manual_seed(5)
    m = SmallVGG().eval()
    state = m.state_dict()
    reordered = {k: state[k] for k in sorted(state, key=lambda k: not k.startswith("classifier"))}
    torch.save(reordered, tmp_path / "w.pt")  # the classifier's tensors first
    code, err = weights([small, tmp_path / "w.pt", "-o", tmp_path / "p.npz"], capsys)
    assert code == 0, err
    assert "warning[W130]" in err and "[classifier.0] pairs with f1 although it was saved before [features.3]" in err
    np.testing.assert_array_equal(load_params(tmp_path / "p.npz")["f1/W"], m.classifier[0].weight.detach().numpy().T)


def test_a_file_over_the_limits_stops_before_it_is_read(small, tmp_path, capsys):
    from nndsl.weights import MAX_TENSORS, budget_bytes

    big = tmp_path / "big.pth"
    with open(big, "wb") as f:  # a sparse file: no disk taken
        f.truncate(budget_bytes(8 * 3 * 9 + 8 + 16 * 8 * 9 + 16 + 256 * 32 + 32 + 32 * 10 + 10) + 1)
    code, err = weights([small, big, "-o", tmp_path / "p.npz"], capsys)
    assert code == 1 and "more than 16 times this spec's parameters take" in err and "refused" in err
    entry = '"t{}.w":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'
    header = ("{" + ",".join(entry.format(k) for k in range(MAX_TENSORS + 1)) + "}").encode()
    (tmp_path / "many.safetensors").write_bytes(_safetensors(header, b""))
    code, err = weights([small, tmp_path / "many.safetensors", "-o", tmp_path / "p.npz"], capsys)
    assert code == 1 and f"holds more than {MAX_TENSORS} tensors; refused" in err
