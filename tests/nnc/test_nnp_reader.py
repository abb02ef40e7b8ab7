"""The .nnp reader: a real archive nnabla saved (tools/nnc_nntxt_fixtures.py), and hostile ones.

The network member reads as an .nntxt; the parameter member's bytes are kept unchanged (nnabla
reads them: the names and shapes in them are those nnabla listed when it saved them). A
damaged or hostile archive (not a zip, path traversal, unexpected or missing members, a zip
bomb) is a positioned problem, never a traceback and never unpacked."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from nndsl.nnc import nntxt
from nndsl.nnc.nntxt import NntxtError, read_nnp, read_nntxt_text

FIXTURES = Path(__file__).parent / "fixtures" / "nntxt"
NNP = FIXTURES / "tutorial_basics_01_logistic_regression.nnp"


def test_real_nnp_network_and_parameters() -> None:
    project = read_nnp(NNP)
    with zipfile.ZipFile(NNP) as z:
        member = z.read("network.nntxt")
        h5 = z.read("parameter.h5")
    # The network is what the .nntxt member says.
    alone = read_nntxt_text(member, "network.nntxt")
    assert [(layer.type, layer.props) for n in project.networks for layer in n.layers] == [
        (layer.type, layer.props) for n in alone.networks for layer in n.layers
    ]
    (net,) = project.networks
    assert [layer.type for layer in net.layers] == ["Input", "Affine", "Sigmoid"]
    assert net.layers[0].props["Size"] == "1,28,28"
    assert net.layers[1].props["OutShape"] == "1" and net.layers[1].props["WithBias"] == "True"
    assert net.layers[1].where.file == f"{NNP}:network.nntxt" and net.layers[1].where.line > 0
    # The parameters, unchanged, are those nnabla saved.
    assert project.parameter_files == {"parameter.h5": h5}
    h5py = pytest.importorskip("h5py")
    expected = json.loads((FIXTURES / "tutorial_basics_01_logistic_regression_parameters.json").read_text())
    found = {}
    with h5py.File(io.BytesIO(project.parameter_files["parameter.h5"]), "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, list(obj.shape)) if hasattr(obj, "shape") else None)
    assert found == expected


def nnp(tmp_path: Path, members: dict[str, bytes], name: str = "x.nnp") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for member, data in members.items():
            z.writestr(member, data)
    return path


NETWORK = b'network { name: "N" variable { name: "x" type: "Buffer" shape: { dim: -1 dim: 2 } }\n' + (
    b'function { name: "R" type: "ReLU" input: "x" output: "r" } }\n'
)


def problems(path: Path) -> list[str]:
    with pytest.raises(NntxtError) as info:
        read_nnp(path)
    return [str(p) for p in info.value.problems]


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "bad.nnp"
    path.write_bytes(b"this is not a zip archive at all")
    (message,) = problems(path)
    assert message.startswith(f"{path}: [archive]") and "not a readable .nnp" in message


def test_truncated_zip(tmp_path: Path) -> None:
    path = nnp(tmp_path, {"network.nntxt": NETWORK * 50})
    path.write_bytes(path.read_bytes()[:-30])
    (message,) = problems(path)
    assert "not a readable .nnp" in message


def test_path_traversal_and_unexpected_members_all_reported(tmp_path: Path) -> None:
    path = nnp(tmp_path, {"network.nntxt": NETWORK, "../evil.nntxt": b"x", "/abs.h5": b"x", "run.py": b"x"})
    messages = problems(path)
    assert len(messages) == 3
    assert any("'../evil.nntxt'" in m and "not a plain member name" in m for m in messages)
    assert any("'/abs.h5'" in m and "not a plain member name" in m for m in messages)
    assert any("'run.py'" in m and "is not a member of an .nnp" in m for m in messages)
    assert not (tmp_path.parent / "evil.nntxt").exists()


def test_no_network_and_two_networks(tmp_path: Path) -> None:
    (message,) = problems(nnp(tmp_path, {"parameter.h5": b"x"}, "a.nnp"))
    assert "holds no network" in message
    (message,) = problems(nnp(tmp_path, {"a.nntxt": NETWORK, "b.prototxt": NETWORK}, "b.nnp"))
    assert "more than one network member" in message


def test_zip_bomb_refused_before_unpacking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nntxt, "MAX_MEMBER_BYTES", 10_000)
    path = nnp(tmp_path, {"network.nntxt": NETWORK, "parameter.protobuf": b"\0" * 1_000_000})
    assert path.stat().st_size < 10_000  # it compresses well: a bomb in miniature
    (message,) = problems(path)
    assert "'parameter.protobuf'" in message and "more than 10000" in message


def test_lying_size_field_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = nnp(tmp_path, {"network.nntxt": NETWORK, "parameter.protobuf": b"\1" * 50_000})
    data = bytearray(path.read_bytes())
    # Make the central directory claim a small uncompressed size for parameter.protobuf.
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo("parameter.protobuf")
    central = data.rfind(b"PK\x01\x02", 0, len(data))
    assert data[central + 46 : central + 46 + len(info.filename)] == info.filename.encode()
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    monkeypatch.setattr(nntxt, "MAX_MEMBER_BYTES", 1000)
    (message,) = problems(path)
    assert "'parameter.protobuf'" in message


def test_too_many_members(tmp_path: Path) -> None:
    members = {"network.nntxt": NETWORK, **{f"m{i}.txt": b"" for i in range(nntxt.MAX_MEMBERS)}}
    (message,) = problems(nnp(tmp_path, members))
    assert "more than" in message and "members" in message


def test_network_member_errors_positioned_in_the_member(tmp_path: Path) -> None:
    path = nnp(tmp_path, {"network.nntxt": b'network {\n  name: "N"\n  function { type: "Delay" }\n}\n'})
    (message,) = problems(path)
    assert message.startswith(f'{path}:network.nntxt:3: [network "N" / function "function_0"]')
    assert "recurrent" in message
