"""The .sdcproj reader: both layouts, and hostile input always a positioned error."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nndsl.compiler import compile_file
from nndsl.nnc.sdcproj import SdcprojError, parse_sdcproj, read_sdcproj
from nndsl.nnc.to_nnd import translate

HERE = Path(__file__).resolve().parent
SMALL = (HERE / "samples/tutorial_basics_12_residual_learning.sdcproj").read_bytes()


def test_layouts_and_lines():
    old = read_sdcproj(HERE / "samples/tutorial_basics_01_logistic_regression.sdcproj")
    assert old.single_network and [n.name for n in old.networks] == ["Main"]
    new = read_sdcproj(HERE / "samples/image_recognition_ILSVRC2012_squeezenet_squeezenet11.sdcproj")
    assert not new.single_network
    assert [n.name for n in new.networks] == [
        "SqueezeNet",
        "FireModule",
        "Training",
        "Top5Error",
        "Top1Error",
        "Runtime",
    ]
    text = (HERE / "samples/image_recognition_ILSVRC2012_squeezenet_squeezenet11.sdcproj").read_text().splitlines()
    layer = new.network("FireModule").layers[1]
    assert text[layer.where.line - 1] == f"[{layer.where.section}]"
    assert text[layer.prop_lines["OutMaps"] - 1] == "Property_1_Value=*SqueezeMaps"
    assert [s.name for s in new.section("Dataset")] == ["Dataset_0", "Dataset_1"]
    assert new.section("Datasets")[0].items["Num"] == "2"


@pytest.mark.parametrize(
    "data, where",
    [
        (b"\x00\x01binary", "is not text"),
        (b"[Global]\nNumNetwork=1\nNetwork_0=A\n[A_Layer_0]\nID=x\nType=ReLU\n", "ID must be an integer"),
        (b"\xff\xfe[Global]", "is not UTF-8"),
        (b"hello\n", "before the first [section]"),
        (
            b"[Layer_0]\nID=0\nType=ReLU\n[Link_0]\nSourceLayerID=0\nSourcePinIndex=0\nDestLayerID=7\nDestPinIndex=0\n",
            "no layer has this ID",
        ),
        (
            b"[Layer_0]\nID=0\nType=ReLU\n[Layer_1]\nID=1\nType=ReLU\n[Link_0]\nSourceLayerID=0\nSourcePinIndex=0\n"
            b"DestLayerID=1\nDestPinIndex=0\n[Link_1]\nSourceLayerID=1\nSourcePinIndex=0\nDestLayerID=0\nDestPinIndex=0\n",
            "form a cycle",
        ),
        (b"[Layer_0]\nID=0\n[Layer_0]\nID=1\n", "appears twice"),
    ],
)
def test_hostile_inputs_get_positioned_errors(data, where):
    with pytest.raises(SdcprojError) as e:
        parse_sdcproj(data, "x.sdcproj")
    assert any(where in err.message for err in e.value.errors), e.value.errors
    assert all(err.where.file == "x.sdcproj" for err in e.value.errors)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(SMALL) - 1), st.binary(max_size=8)), min_size=1, max_size=6))
def test_mutated_sample_never_raises_anything_else(edits):
    data = bytearray(SMALL)
    for at, chunk in edits:
        data[at : at + len(chunk)] = chunk
    try:
        project = parse_sdcproj(bytes(data), "m.sdcproj")
    except SdcprojError as e:
        assert e.errors and all(err.where.file == "m.sdcproj" for err in e.errors)
        return
    translate(project)  # problems or text, never an exception


LENET = (HERE / "samples/image_recognition_MNIST_LeNet.sdcproj").read_text().splitlines()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, len(LENET) - 1),
            st.sampled_from(["", "x", "-1", "999", "*Nope", "0,0", "True", "[Layer_1]", "Type=LSTM", "ID=3", "1e999"]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_import_of_edited_values_is_a_spec_or_positioned_errors(tmp_path, edits):
    """Values replaced line by line: the import writes a spec that compiles, or reports
    positioned problems and writes nothing, never an exception."""
    from nndsl.nnc.importer import import_project

    lines = list(LENET)
    for at, value in edits:
        key = lines[at].partition("=")[0]
        lines[at] = value if value.startswith(("[", "Type=", "ID=")) or "=" not in lines[at] else f"{key}={value}"
    src = tmp_path / "m.sdcproj"
    src.write_text("\n".join(lines) + "\n")
    text, diags = import_project(src, str(tmp_path / "m.nnd"))
    errors = [d for d in diags if d.severity == "error"]
    if text is None:
        assert errors and all(d.span is None or d.span.path == str(src) for d in errors if d.code != "E0982")
        assert not any(d.code == "E0982" for d in errors), errors  # the import never writes a spec that fails
    else:
        assert not errors
        assert compile_file(tmp_path / "m.nnd", text=text).ok


def test_a_role_naming_a_dataset_the_project_lacks_is_an_error_at_its_line(tmp_path):
    """Found by the Hypothesis test above: with Dataset_0's name emptied, the optimizer names a
    dataset 'Training' the project no longer has; that is the importer's positioned error, not a
    spec that fails to compile (E0982)."""
    from nndsl.nnc.importer import import_project

    lines = list(LENET)
    assert lines[342] == "Name=Training"
    lines[342] = "Name="
    source = tmp_path / "lenet.sdcproj"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    text, diagnostics = import_project(source, str(tmp_path / "lenet.nnd"))
    assert text is None
    errors = [d for d in diagnostics if d.severity == "error"]
    assert errors and {d.code for d in errors} == {"E0622"}, errors
    assert all("names dataset 'Training'" in d.message and d.span.path == str(source) for d in errors)
