"""Generating into a folder never loses what the user wrote or trained."""

import pytest

from nndsl.backends.output import MANIFEST, OverwriteRefused, write_project


def test_regenerating_overwrites_unchanged_files_and_keeps_others(tmp_path):
    write_project(tmp_path, {"model.py": "a = 1\n"})
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "checkpoint.pt").write_bytes(b"trained")
    (tmp_path / "notes.txt").write_text("mine")
    write_project(tmp_path, {"model.py": "a = 2\n"})
    assert (tmp_path / "model.py").read_text() == "a = 2\n"
    assert (tmp_path / "runs" / "checkpoint.pt").read_bytes() == b"trained"
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / MANIFEST).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_file_the_user_changed_is_not_overwritten_without_force(tmp_path):
    write_project(tmp_path, {"model.py": "a = 1\n", "train.py": "t\n"})
    (tmp_path / "model.py").write_text("a = 1  # my change\n")
    with pytest.raises(OverwriteRefused) as e:
        write_project(tmp_path, {"model.py": "a = 2\n", "train.py": "t2\n"})
    assert "model.py" in str(e.value)
    assert (tmp_path / "model.py").read_text() == "a = 1  # my change\n"
    assert (tmp_path / "train.py").read_text() == "t\n"  # nothing was written
    write_project(tmp_path, {"model.py": "a = 2\n", "train.py": "t2\n"}, force=True)
    assert (tmp_path / "model.py").read_text() == "a = 2\n"


def test_a_foreign_file_in_the_way_is_not_overwritten(tmp_path):
    (tmp_path / "model.py").write_text("the user's own model\n")
    with pytest.raises(OverwriteRefused):
        write_project(tmp_path, {"model.py": "generated\n"})
    assert (tmp_path / "model.py").read_text() == "the user's own model\n"
