"""A pooling with ignore_border=false and a pad: nnabla pools n to (n + pad - 1) // stride + 1, NNC's
editor computes ceil((n + 2 pad) / stride) and checks the next layers against it. Where the two
differ, `nndsl export` to .sdcproj refuses the layer (E0960 at it) instead of writing a project whose
shapes NNC shows wrongly and whose `error_check` fails; the .nntxt export (nnabla's own file) and
the sizes the two rules agree on are written."""

import subprocess

import pytest

from nndsl.compiler import compile_file
from nndsl.nnc import export_check as ec
from nndsl.nnc.export import ExportError, export_project
from nndsl.nnc.nndsl_layers import editor_pooled_size
from nndsl.nnc.nntxt_write import project_to_nntxt
from nndsl.nnc.sdcproj_write import sdcproj_text
from nndsl.runtime.nnc_shapes import pooled_size

# (input size, kernel, stride, pad) per case, on both pooled axes of one input.
CASES = {
    "a": ("MaxPooling", (6, 13), (3, 3), (4, 4), (2, 2)),
    "b": ("AveragePooling", (6, 13), (3, 2), (2, 3), (1, 1)),
    "c": ("MaxPooling", (6, 13), (4, 4), (1, 2), (3, 1)),
    "d": ("MaxPooling", (6, 13), (3, 3), (2, 2), (0, 0)),
}


def _spec(*names: str) -> str:
    lines = ["network Main {", "    x = Input(1x6x13)"]
    for name in names:
        kind, _, k, s, p = CASES[name]
        lines.append(
            f"    {name} = x -> {kind}(kernel={k[0]}x{k[1]}, stride={s[0]}x{s[1]}, pad={p[0]}x{p[1]}, "
            "ignore_border=false)"
        )
    return "\n".join([*lines, "}", ""])


def test_a_size_nncs_editor_computes_otherwise_is_refused_at_the_layer(tmp_path):
    result = compile_file(tmp_path / "p.nnd", text=_spec("d", "a"))
    assert result.ok, [str(d) for d in result.diagnostics]
    with pytest.raises(ExportError) as e:
        export_project(result)
    assert e.value.layer.origin.span.line == 4
    assert "2x4 in nnabla, but NNC's editor computes 3x5" in e.value.message
    assert project_to_nntxt(result.project, iter_per_epoch=0).count('type: "MaxPooling"') == 2  # nnabla's file


def test_the_sizes_both_rules_agree_on_are_exported(tmp_path):
    result = compile_file(tmp_path / "p.nnd", text=_spec("d"))
    lines = sdcproj_text(export_project(result)).splitlines()
    flags = [lines[i + 1] for i, line in enumerate(lines) if line.endswith("_Name=IgnoreBorder")]
    assert [flag.split("=", 1)[1] for flag in flags] == ["False"]
    _, n, k, s, p = CASES["d"]
    assert [pooled_size(*a, False) for a in zip(n, k, s, p, strict=True)] == [
        editor_pooled_size(size, pad, stride) for size, stride, pad in zip(n, s, p, strict=True)
    ]


def test_the_editors_rule_is_what_nncs_tool_computes(tmp_path):
    """NNC's own `complete` (the editor's shape computation) gives editor_pooled_size on every case."""
    tools = ec.find_nnc_tools()
    if tools is None:
        pytest.skip("NNC's project tool is not on this machine (NNDSL_NNC_TOOLS or ../shared/nnc-tools)")
    # Exported with ignore_border=true (which the export writes), then set to false in the project text.
    text = _spec("a", "b", "c").replace("ignore_border=false", "ignore_border=true")
    plain = compile_file(tmp_path / "q.nnd", text=text)
    assert plain.ok, [str(d) for d in plain.diagnostics]
    lines = sdcproj_text(export_project(plain)).splitlines()
    for i, line in enumerate(lines):  # every pooling's IgnoreBorder property value to false
        if line.endswith("_Name=IgnoreBorder"):
            lines[i + 1] = lines[i + 1].rsplit("=", 1)[0] + "=False"
    source = tmp_path / "q.sdcproj"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = tmp_path / "q_complete.sdcproj"
    cwd = tools / "nncd_console"
    subprocess.run(
        ["./nncd_console_cli_util", "complete", "-i", str(source), "-o", str(done)],
        cwd=cwd,
        capture_output=True,
        timeout=120,
        check=False,
    )
    text = done.read_text(encoding="utf-8").splitlines()
    outputs = [
        text[i + 1].split("=", 1)[1]
        for i, line in enumerate(text)
        if line.startswith("Property_") and line.endswith("_Name=Output")
    ]
    expected = ["1,6,13"]
    for name in ("a", "b", "c"):
        _, n, _, s, p = CASES[name]
        expected.append("1," + ",".join(str(editor_pooled_size(*a)) for a in zip(n, p, s, strict=True)))
    assert outputs == expected
