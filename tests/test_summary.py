"""`nndsl summary`: the JSON contract, folded repeats, CSV, and MACs against torchinfo."""

import csv
import io
import json

import pytest

from nndsl.cli import main
from nndsl.compiler import compile_file
from nndsl.summary import render, rows


def summary_json(capsys, *args):
    assert main(["summary", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_contract(capsys):
    d = summary_json(capsys, "specs/resnet18.nnd")
    assert set(d) == {"networks", "total_params"}
    assert d["total_params"] == 11_689_512
    assert [n["name"] for n in d["networks"]] == ["Training", "Validation", "Validation5", "Runtime"]
    for n in d["networks"]:
        assert {"name", "inputs", "outputs", "layers", "total_params", "total_macs"} <= set(n)
        assert n["total_params"] == sum(layer["params"] for layer in n["layers"])
        assert n["total_macs"] == sum(layer["macs"] for layer in n["layers"])
        for layer in n["layers"]:
            assert {"name", "type", "output_shape", "params", "macs", "line"} <= set(layer)
    train = d["networks"][0]
    assert train["inputs"] == [
        {"name": "x", "shape": [3, 480, 480], "dataset": "x"},
        {"name": "y", "shape": [1], "dataset": "y"},
    ]
    assert train["outputs"] == [{"name": "loss", "shape": [1]}]
    runtime = d["networks"][3]
    assert runtime["outputs"] == [{"name": "y'", "shape": [1000]}]


def test_network_filter_and_top_level_total_counts_shared_once(capsys):
    d = summary_json(capsys, "specs/resnet50.nnd", "--network", "Runtime")
    assert [n["name"] for n in d["networks"]] == ["Runtime"]
    assert d["total_params"] == 25_557_032


def test_unknown_network_is_an_input_error(capsys):
    assert main(["summary", "specs/resnet18.nnd", "--network", "Runtim"]) == 1
    assert "did you mean 'Runtime'" in capsys.readouterr().err


def test_folded_rows_sum_to_the_expanded_ones():
    p = compile_file("specs/resnet152.nnd").project
    net = p.network("Training")
    folded, expanded = rows(net, folded=True), rows(net, folded=False)
    assert len(folded) < len(expanded)
    assert sum(r.params for r in folded) == sum(r.params for r in expanded) == net.total_params
    assert sum(r.macs for r in folded) == sum(r.macs for r in expanded) == net.total_macs
    block = next(r for r in folded if r.copies)
    assert block.type == "repeat x2" and block.name == "resnet.stage1.block[0..1]"


def test_text_and_csv_formats():
    p = compile_file("specs/digits.nnd").project
    text = render(p, "text")
    assert "network Training (trained)" in text and "130,666" in text
    table = list(csv.DictReader(io.StringIO(render(p, "csv", folded=False))))
    assert {r["network"] for r in table} == {"Training", "Validation", "Runtime"}
    assert sum(int(r["params"]) for r in table if r["network"] == "Training") == 130_666


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "vgg16"])
def test_macs_and_params_equal_torchinfo(name):
    """MACs follow torchinfo's mult-adds convention for the same architecture (batch 1)."""
    torchinfo = pytest.importorskip("torchinfo")
    models = pytest.importorskip("torchvision.models")
    model = getattr(models, name)(weights=None)
    stats = torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=0)
    net = compile_file(f"specs/{name}.nnd").project.network("Training")
    assert net.total_params == stats.total_params
    assert net.total_macs == stats.total_mult_adds


def test_each_input_names_the_dataset_column_it_reads(tmp_path, capsys):
    spec = tmp_path / "columns.nnd"
    spec.write_text(
        "network Main {\n"
        '    image = Input(1x4x4, dataset="pixels")\n'
        '    label = Input(1, dataset="digit")\n'
        "    free = Input(2)\n"
        "    loss = image -> Affine(3) -> SoftmaxCrossEntropy(label)\n"
        "    y = free -> Affine(1)\n"
        "}\n"
    )
    d = summary_json(capsys, str(spec))
    assert d["networks"][0]["inputs"] == [
        {"name": "image", "shape": [1, 4, 4], "dataset": "pixels"},
        {"name": "label", "shape": [1], "dataset": "digit"},
        {"name": "free", "shape": [2], "dataset": None},
    ]
