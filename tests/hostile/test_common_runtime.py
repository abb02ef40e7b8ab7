"""Hostile input to the framework-free modules every generated project ships (templates/common):
run folders, checksummed files, argument checks, parameter files, dataset labels and images."""

from __future__ import annotations

import importlib
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

runs = importlib.import_module("nndsl.runtime.nnc_runs")
params = importlib.import_module("nndsl.runtime.nnc_params")
dataset = importlib.import_module("nndsl.runtime.nnc_dataset")


class CreatesAFile:
    """Unpickling this creates `marker`: what a crafted parameter file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


# ---------------------------------------------------------------------------------------------------
# Run folders
# ---------------------------------------------------------------------------------------------------


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path):
    first = runs.new_run(tmp_path / "runs", now=0)
    second = runs.new_run(tmp_path / "runs", now=0)
    third = runs.new_run(tmp_path / "runs", now=0)
    assert first != second != third and first.is_dir() and second.is_dir() and third.is_dir()
    assert runs.RUN_NAME.fullmatch(first.name) and second.name == first.name + "-2"
    assert (tmp_path / "runs" / runs.LATEST).read_text().strip() == third.name
    assert runs.latest_run(tmp_path / "runs") == third
    assert not list((tmp_path / "runs").glob(".tmp-*"))


def test_latest_falls_back_to_the_newest_folder_and_resume_names_runs(tmp_path):
    parent = tmp_path / "runs"
    a = runs.new_run(parent, now=0)
    b = runs.new_run(parent, now=10)
    c = runs.new_run(parent, now=10)  # b-2 sorts after b, and after b-10 would come b-11
    (parent / runs.LATEST).unlink()
    assert runs.latest_run(parent) == c
    (parent / runs.LATEST).write_text("../../etc\n")  # not a run name: ignored
    assert runs.latest_run(parent) == c
    assert runs.resolve_run(parent, None) == c
    assert runs.resolve_run(parent, a.name) == a
    assert runs.resolve_run(parent, str(b)) == b
    with pytest.raises(runs.UsageError, match="no run folder"):
        runs.resolve_run(parent, "19990101-000000")
    with pytest.raises(runs.UsageError, match="no run in"):
        runs.resolve_run(tmp_path / "empty", None)


@pytest.mark.parametrize("seed", [-1, 2**63, 10**30])
def test_seed_out_of_range_is_a_usage_error(seed):
    with pytest.raises(runs.UsageError, match="--seed"):
        runs.check_seed(seed)


def test_seed_limits_and_derived_seeds():
    assert runs.check_seed(0) == 0 and runs.check_seed(2**63 - 1) == 2**63 - 1
    seeds = {runs.derive_seed(2**63 - 1, "epoch", e) for e in range(100)}
    assert len(seeds) == 100 and all(0 <= s < 2**63 for s in seeds)
    assert runs.derive_seed(5, "a", 1) == runs.derive_seed(5, "a", 1) != runs.derive_seed(5, "a", 2)


def test_workers_below_zero_is_a_usage_error():
    assert runs.check_workers(0) == 0 and runs.check_workers(None) is None
    with pytest.raises(runs.UsageError, match="--workers -1"):
        runs.check_workers(-1)


def test_output_folder_onto_or_under_a_file(tmp_path):
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(runs.UsageError, match="is a file"):
        runs.check_output_folder(file)
    with pytest.raises(runs.UsageError, match="is under"):
        runs.check_output_folder(file / "runs")
    assert file.read_text() == "x"


def test_output_folder_not_writable(tmp_path):
    with pytest.raises(runs.UsageError, match="cannot create"):
        runs.check_output_folder("/proc/nndsl-no-such-folder/runs")  # not even root creates folders there
    if os.geteuid() != 0:  # root writes into read-only folders
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(runs.UsageError, match="not writable"):
                runs.check_output_folder(locked)
            with pytest.raises(runs.UsageError, match="cannot create"):
                runs.check_output_folder(locked / "runs")
        finally:
            locked.chmod(0o700)


def test_non_finite_hyperparameters_are_named():
    runs.check_hyperparameters({"lr": 0.1, "betas": [0.9, 0.999], "name": "Adam"}, "solver")
    with pytest.raises(runs.UsageError, match=r"solver betas\[1\]: expected a finite number, got nan"):
        runs.check_hyperparameters({"lr": 0.1, "betas": [0.9, float("nan")]}, "solver")
    with pytest.raises(runs.UsageError, match="--lr"):
        runs.check_finite(float("inf"), "--lr")


# ---------------------------------------------------------------------------------------------------
# Checksummed files
# ---------------------------------------------------------------------------------------------------


def test_checked_file_detects_corruption_and_truncation(tmp_path):
    path = tmp_path / "checkpoint.pt"
    runs.write_checked(path, lambda p: p.write_bytes(b"0123456789" * 100))
    runs.verify_checked(path)
    assert (tmp_path / "checkpoint.pt.sha256").read_text().split()[1] == "checkpoint.pt"
    data = bytearray(path.read_bytes())
    data[500] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(runs.RunError, match=r"checkpoint.pt: corrupt or truncated"):
        runs.verify_checked(path)
    path.write_bytes(b"0123456789" * 50)
    with pytest.raises(runs.RunError, match="corrupt or truncated"):
        runs.verify_checked(path)
    assert not list(tmp_path.glob(".tmp-*"))


def test_checked_file_survives_a_kill_between_its_steps(tmp_path, monkeypatch):
    """A kill right after the file switch (before the record is rewritten) leaves a file that matches."""
    path = tmp_path / "best.pt"
    runs.write_checked(path, lambda p: p.write_bytes(b"old"))
    real = runs.write_text_atomic
    calls = []

    def killed_on_second(p, text):
        calls.append(p)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the kill, after os.replace
        real(p, text)

    monkeypatch.setattr(runs, "write_text_atomic", killed_on_second)
    with pytest.raises(KeyboardInterrupt):
        runs.write_checked(path, lambda p: p.write_bytes(b"new"))
    monkeypatch.setattr(runs, "write_text_atomic", real)
    assert path.read_bytes() == b"new"
    runs.verify_checked(path)  # the record lists both digests while switching


def test_a_file_without_a_record_is_not_checked(tmp_path):
    path = tmp_path / "elsewhere.pt"
    path.write_bytes(b"anything")
    runs.verify_checked(path)


def test_keras_style_suffix_is_kept_for_the_writer(tmp_path):
    seen = []
    runs.write_checked(tmp_path / "model.weights.h5", lambda p: (seen.append(p.name), p.write_bytes(b"w")))
    assert seen[0].endswith("model.weights.h5") and seen[0] != "model.weights.h5"


# ---------------------------------------------------------------------------------------------------
# Parameter files
# ---------------------------------------------------------------------------------------------------


def test_a_pickle_in_a_parameter_file_is_never_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "params.npz"
    np.savez(path, **{"fc/W": np.array([CreatesAFile(marker)], dtype=object)})
    with pytest.raises(params.RunError, match="holds Python objects"):
        params.load_params(path)
    assert not marker.exists()
    # A raw pickle named .npz (np.load would unpickle it with allow_pickle=True).
    path.write_bytes(pickle.dumps(CreatesAFile(marker)))
    with pytest.raises(params.RunError, match="params.npz"):
        params.load_params(path)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncate", "flip", "npy", "strings"])
def test_damaged_parameter_files_are_one_line_errors(tmp_path, damage):
    path = tmp_path / "params.npz"
    params.save_params(path, {"fc/W": np.arange(4000, dtype=np.float32)})
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "flip":  # zip members carry a CRC-32
        data = bytearray(path.read_bytes())
        data[2000] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "npy":
        np.save(tmp_path / "a.npy", np.zeros(3))
        os.replace(tmp_path / "a.npy", path)
    else:
        with zipfile.ZipFile(path, "w") as z, z.open("fc/W.npy", "w") as m:
            np.lib.format.write_array(m, np.array(["a", "b"]))
    with pytest.raises(params.RunError) as e:
        params.load_params(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_strict_parameter_loading_names_what_differs(tmp_path):
    path = tmp_path / "params.npz"
    params.save_params(path, {"fc/W": np.zeros((3, 4)), "extra/b": np.zeros(2)})
    expected = {"fc/W": (3, 5), "fc/b": (5,), "conv/W": (1, 1, 3, 3)}
    with pytest.raises(params.RunError) as e:
        params.load_params(path, expected)
    message = str(e.value)
    assert '"extra/b"' in message and '"fc/W" is 3x4, the model\'s is 3x5' in message
    assert '"fc/b"' in message and '"conv/W"' in message and "lacks 2" in message
    # partial: missing parameters are allowed, the others are still checked
    params.save_params(path, {"fc/W": np.zeros((3, 5))})
    with pytest.raises(params.RunError, match="lacks 2"):
        params.load_params(path, expected)
    assert set(params.load_params(path, expected, partial=True)) == {"fc/W"}
    params.save_params(path, {"fc/W": np.zeros((3, 4))})
    with pytest.raises(params.RunError, match="3x4"):
        params.load_params(path, expected, partial=True)


# ---------------------------------------------------------------------------------------------------
# Datasets: labels, images
# ---------------------------------------------------------------------------------------------------

VARIABLES = {"x": ("x", (2,)), "y": ("y", (1,))}


@pytest.mark.parametrize("label", ["10", "-1", "1e30", "2.5", "0.999"])
@pytest.mark.parametrize("cache", [True, False])
def test_labels_that_are_not_class_indices(tmp_path, label, cache):
    path = tmp_path / "data.csv"
    path.write_text(f"x__0,x__1,y:label\n0,1,3\n1,2,{label}\n")
    with pytest.raises(dataset.DatasetError) as e:
        dataset.NNCDataset(path, VARIABLES, cache=cache, class_counts={"y": 10})
    message = str(e.value)
    assert f"{path}, row 3" in message and '"y:label"' in message and "0 to 9" in message
    assert "\n" not in message


def test_class_indices_in_range_are_read(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("x__0,x__1,y\n0,1,0\n1,2,9\n")
    data = dataset.NNCDataset(path, VARIABLES, class_counts={"y": 10})
    assert [float(data[i]["y"][0]) for i in range(2)] == [0.0, 9.0]


def test_an_image_folder_with_more_classes_than_the_model(tmp_path):
    for c in ("a", "b", "c"):
        (tmp_path / "root" / c).mkdir(parents=True)
        Image.new("L", (2, 2)).save(tmp_path / "root" / c / "i.png")
    with pytest.raises(dataset.DatasetError, match=r'has 3 class folders \(a, b, c\), but input "y" has 2 classes'):
        dataset.ImageFolderDataset(tmp_path / "root", {"x": ("x", (1, 2, 2)), "y": ("y", (1,))}, class_counts={"y": 2})


def test_a_decompression_bomb_png_is_refused_unread(tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(bomb)  # 400 M pixels in a few kB
    assert bomb.stat().st_size < 200_000
    path = tmp_path / "data.csv"
    path.write_text("x:image,y\nbomb.png,1\n")
    for cache in (True, False):
        with pytest.raises(dataset.DatasetError) as e:
            dataset.NNCDataset(path, {"x": ("x", (1, 8, 8)), "y": ("y", (1,))}, cache=cache)
        assert f"{path}, row 2" in str(e.value) and "decompression bomb" in str(e.value)
    with pytest.raises(dataset.DatasetError, match="decompression bomb"):
        dataset.ImageListDataset(tmp_path, {"x": ("x", (1, 8, 8))})


def test_an_image_where_a_csv_is_expected(tmp_path):
    image = tmp_path / "digit.png"
    Image.new("L", (8, 8)).save(image)
    with pytest.raises(dataset.DatasetError, match="is an image, not a dataset CSV"):
        dataset.NNCDataset(image, {"x": ("x", (1, 8, 8))})
