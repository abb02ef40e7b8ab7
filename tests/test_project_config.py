"""config.json: the backend-neutral training configuration of a generated project."""

import json

from nndsl.backends.project_config import VERSION, write_project_config
from nndsl.compiler import compile_file


def test_resnet_config(tmp_path):
    project = compile_file("specs/resnet18.nnd").project
    cfg = json.loads(write_project_config(project, tmp_path).read_text())
    assert cfg["version"] == VERSION and cfg["spec"] == "resnet18.nnd"
    assert (cfg["max_epoch"], cfg["batch_size"]) == (100, 64)
    (opt,) = cfg["optimizers"]
    assert opt["network"] == "Training" and opt["dataset"] == "training" and opt["update_interval"] == 4
    assert opt["solver"] == {"type": "Nesterov", "params": {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0001}}
    assert opt["schedule"] == {
        "type": "Exponential",
        "params": {"multiplier": 0.1, "interval": [30, "epoch"]},
        "warmup": None,
    }
    assert [m["name"] for m in cfg["monitors"]] == ["valid_error5", "valid_error"]
    train = cfg["networks"]["Training"]
    assert train["training"] is True
    assert train["inputs"] == [
        {"name": "x", "column": "x", "shape": [3, 480, 480]},
        {"name": "y", "column": "y", "shape": [1], "classes": 1000},  # SoftmaxCrossEntropy's label: 0..999
    ]
    assert train["outputs"] == [{"name": "loss", "shape": [1], "kind": "loss"}]
    assert cfg["networks"]["Validation5"]["outputs"][0]["kind"] == "error"
    assert cfg["networks"]["Runtime"]["outputs"] == [{"name": "y'", "shape": [1000], "kind": "output"}]


def test_dataset_paths_are_relative_to_the_project(tmp_path):
    project = compile_file("specs/digits.nnd").project
    out = tmp_path / "project"
    out.mkdir()
    cfg = json.loads(write_project_config(project, out).read_text())
    train = cfg["datasets"]["training"]
    assert str((out / train["path"]).resolve()).endswith("specs/digits/train.csv")
    assert train["image_normalization"] is True and train["shuffle"] is True
    assert cfg["optimizers"][0]["schedule"]["type"] == "Cosine"
