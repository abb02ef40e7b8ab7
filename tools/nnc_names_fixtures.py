"""Regenerate tests/nnc/fixtures/names/*.json: the parameter names and shapes NNC gives each
parametric layer type, repeats and units, as NNC's own tool writes them.

For every case below this writes a small `.sdcproj` (NNC's multi-network layout, properties
from NNC's layer definitions through nndsl's generated table), converts it with NNC's
`create_prototxt`, and records the network's `Parameter` variables as the `.nntxt` holds them
(repeat copies still as `Name{RepeatStart}`) and, when nnabla is found, the names and shapes
nnabla creates when it loads that `.nntxt` (repeats expanded: `Name[0]`). Each fixture also
holds the equivalent `.nnd` spec, which tests/nnc/test_nnc_names.py compiles and compares
with `nndsl.nnc.names.nnc_parameter_table`.

    python tools/nnc_names_fixtures.py [--nnc ../shared/nnc-tools/nncd_console] \
        [--nnabla-python /work/nnabla-venv/bin/python]

The defaults are those two paths (or $NNDSL_NNC_TOOLS and $NNDSL_NNABLA_PYTHON).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nndsl.nnc.components import COMPONENTS  # noqa: E402

OUT = ROOT / "tests" / "nnc" / "fixtures" / "names"
DEFAULT_NNC = ROOT.parent.parent / "shared" / "nnc-tools" / "nncd_console"

# A layer of a case: (NNC type, {property: value} over NNC's defaults). Networks are chains in
# the order given; a Unit layer's "Network" names another network of the case.
CONV_IN = "3,8,8"

CASES: dict[str, dict] = {}


def _case(name: str, networks: dict[str, list[tuple[str, dict]]], spec: str) -> None:
    CASES[name] = {"networks": networks, "spec": spec}


def _single(name: str, size: str, layer: str, props: dict, nnd_shape: str, nnd_call: str) -> None:
    _case(
        name,
        {"Main": [("Input", {"Size": size}), (layer, {"Name": layer, **props})]},
        f"network Main {{\n    x = Input({nnd_shape})\n    y = x -> {nnd_call}\n}}\n",
    )


_single("affine", CONV_IN, "Affine", {"OutShape": "5"}, "3x8x8", "Affine(5)")
_single("convolution", CONV_IN, "Convolution", {"OutMaps": "4"}, "3x8x8", "Convolution(4, kernel=3x3)")
_single(
    "convolution_group",
    "4,8,8",
    "Convolution",
    {"OutMaps": "6", "Group": "2", "WithBias": "False"},
    "4x8x8",
    "Convolution(6, kernel=3x3, group=2, bias=false)",
)
_single("depthwise_convolution", CONV_IN, "DepthwiseConvolution", {"Multiplier": "2"}, "3x8x8",
        "DepthwiseConvolution(kernel=5x5, multiplier=2)")  # fmt: skip
_single("deconvolution", CONV_IN, "Deconvolution", {"OutMaps": "4"}, "3x8x8", "Deconvolution(4, kernel=5x5)")
_single("depthwise_deconvolution", CONV_IN, "DepthwiseDeconvolution", {}, "3x8x8",
        "DepthwiseDeconvolution(kernel=5x5)")  # fmt: skip
_single("embed", "2", "Embed", {"NumClass": "10", "Shape": "4"}, "2", "Embed(10, 4)")
_single("batch_normalization", CONV_IN, "BatchNormalization", {}, "3x8x8", "BatchNormalization")
_single("layer_normalization", CONV_IN, "LayerNormalization", {}, "3x8x8", "LayerNormalization")
_single("instance_normalization", CONV_IN, "InstanceNormalization", {}, "3x8x8", "InstanceNormalization")
_single("group_normalization", "4,8,8", "GroupNormalization", {"NumGroups": "2"}, "4x8x8", "GroupNormalization(2)")
_single("prelu", CONV_IN, "PReLU", {}, "3x8x8", "PReLU")
_single("mean_subtraction", CONV_IN, "MeanSubtraction", {}, "3x8x8", "MeanSubtraction")
_single("binary_connect_affine", CONV_IN, "BinaryConnectAffine", {"OutShape": "5"}, "3x8x8", "BinaryConnectAffine(5)")
_single("binary_weight_affine", CONV_IN, "BinaryWeightAffine", {"OutShape": "5"}, "3x8x8", "BinaryWeightAffine(5)")
_single("binary_connect_convolution", CONV_IN, "BinaryConnectConvolution", {"OutMaps": "4"}, "3x8x8",
        "BinaryConnectConvolution(4, kernel=5x5)")  # fmt: skip
_single("binary_weight_convolution", CONV_IN, "BinaryWeightConvolution", {"OutMaps": "4"}, "3x8x8",
        "BinaryWeightConvolution(4, kernel=5x5)")  # fmt: skip

_SAME3 = {"OutMaps": "3", "BorderMode": "same"}
_case(
    "nested_repeats",
    {
        "Main": [
            ("Input", {"Size": CONV_IN}),
            ("Convolution", {"Name": "Convolution", **_SAME3}),
            ("RepeatStart", {"Name": "RepeatStart", "Times": "2"}),
            ("Convolution", {"Name": "Convolution_2", **_SAME3}),
            ("RepeatStart", {"Name": "RepeatStart_2", "Times": "3"}),
            ("BatchNormalization", {"Name": "BatchNormalization"}),
            ("RepeatEnd", {"Name": "RepeatEnd_2"}),
            ("RepeatEnd", {"Name": "RepeatEnd"}),
            ("Affine", {"Name": "Affine", "OutShape": "2"}),
        ]
    },
    """network Main {
    x = Input(3x8x8)
    y = x
        -> Convolution(3, kernel=3x3, border_mode="same")
        -> repeat 2 {
            Convolution_2: Convolution(3, kernel=3x3, border_mode="same") -> repeat 3 { BatchNormalization }
        }
        -> Affine(2)
}
""",
)

_BLOCK = [
    ("Input", {"Size": CONV_IN}),
    ("Convolution", {"Name": "conv1", **_SAME3}),
    ("ReLU", {"Name": "ReLU"}),
    ("BatchNormalization", {"Name": "bn"}),
]
_BLOCK_UNIT = """unit Block {
    in x
    out x -> conv1: Convolution(3, kernel=3x3, border_mode="same") -> ReLU -> bn: BatchNormalization
}
"""
_case(
    "unit",
    {
        "Main": [
            ("Input", {"Size": CONV_IN}),
            ("Unit", {"Name": "block", "Network": "Block"}),
            ("Unit", {"Name": "other", "Network": "Block"}),
        ],
        "Block": _BLOCK,
    },
    _BLOCK_UNIT + "\nnetwork Main {\n    x = Input(3x8x8)\n    y = x -> block: Block -> other: Block\n}\n",
)
_case(
    "unit_in_repeat",
    {
        "Main": [
            ("Input", {"Size": CONV_IN}),
            ("RepeatStart", {"Name": "RepeatStart", "Times": "2"}),
            ("Unit", {"Name": "block", "Network": "Block"}),
            ("RepeatEnd", {"Name": "RepeatEnd"}),
        ],
        "Block": _BLOCK,
    },
    _BLOCK_UNIT + "\nnetwork Main {\n    x = Input(3x8x8)\n    y = x -> block: repeat 2 { Block }\n}\n",
)
_case(
    "repeat_in_unit",
    {
        "Main": [("Input", {"Size": CONV_IN}), ("Unit", {"Name": "stage", "Network": "Stage"})],
        "Stage": [
            ("Input", {"Size": CONV_IN}),
            ("RepeatStart", {"Name": "RepeatStart", "Times": "2"}),
            ("Convolution", {"Name": "conv", **_SAME3}),
            ("RepeatEnd", {"Name": "RepeatEnd"}),
        ],
    },
    """unit Stage {
    in x
    out x -> repeat 2 { conv: Convolution(3, kernel=3x3, border_mode="same") }
}

network Main {
    x = Input(3x8x8)
    y = x -> stage: Stage
}
""",
)
_case(
    "unit_without_scope",
    {
        "Main": [("Input", {"Size": CONV_IN}), ("Unit", {"Name": "block", "Network": "Block", "ParameterScope": ""})],
        "Block": _BLOCK,
    },
    "",  # nndsl has no unit call without a scope: the fixture documents NNC's rule only
)


def _properties(kind: str, given: dict) -> list[tuple[str, str]]:
    props = {"Name": given.get("Name", kind)}
    props.update((p.name, p.default) for p in COMPONENTS[kind]["properties"] if p.editable)
    props.update(given)
    return list(props.items())


def sdcproj(networks: dict[str, list[tuple[str, dict]]]) -> str:
    """The project: every network a chain; Main ends in a SquaredError (NNC's error_check wants
    a loss in the network an optimizer would train)."""
    networks = {**networks, "Main": [*networks["Main"], ("SquaredError", {})]}
    lines = ["[Engine]", "SDeepEngineType=NNabla", "RNNTrainingMode=0", "[Global]", f"NumNetwork={len(networks)}"]
    lines += [f"Network_{i}={name}" for i, name in enumerate(networks)]
    for net, layers in networks.items():
        lines += [f"[{net}_Network_Global]", f"NumLayer={len(layers)}", f"NumLink={len(layers) - 1}"]
        for i, (kind, given) in enumerate(layers):
            lines += [f"[{net}_Layer_{i}]", f"ID={i}", f"Type={kind}"]
            lines += [f"Position_{k}={v}" for k, v in enumerate((24, 24 + 48 * i, 240, 48))]
            props = _properties(kind, given)
            for k, (name, value) in enumerate(props):
                lines += [f"Property_{k}_Name={name}", f"Property_{k}_Value={value}"]
            lines.append(f"NumProperty={len(props)}")
        for i in range(len(layers) - 1):
            lines += [f"[{net}_Link_{i}]", f"ID={i}", f"SourceLayerID={i}", "SourcePinIndex=0",
                      f"DestLayerID={i + 1}", "DestPinIndex=0"]  # fmt: skip
    return "\r\n".join(lines) + "\r\n"


_VARIABLE = re.compile(r"^  variable \{\n(?P<body>(?:    .*\n)*?)  \}$", re.M)


def nntxt_parameters(text: str, network: str) -> list[dict]:
    """The Parameter variables of `network` in a .nntxt, in order: {name, shape}."""
    start = text.index(f'network {{\n  name: "{network}"')
    end = text.find("\nnetwork {", start + 1)
    block = text[start : end if end >= 0 else len(text)]
    found = []
    for m in _VARIABLE.finditer(block):
        body = m["body"]
        if 'type: "Parameter"' not in body:
            continue
        name = re.search(r'name: "([^"]*)"', body)[1]
        dims = re.search(r"shape: \{([^}]*)\}", body)[1]
        found.append({"name": name, "shape": [int(d) for d in re.findall(r"dim:\s*(-?\d+)", dims)]})
    return found


_NNABLA_SCRIPT = """
import json, sys
import nnabla as nn
from nnabla.utils.nnp_graph import NnpLoader
nnp = NnpLoader(sys.argv[1])
nnp.get_network("Main", batch_size=1)
print(json.dumps([{"name": k, "shape": list(v.shape)} for k, v in nn.get_parameters(grad_only=False).items()]))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nnc", type=Path, default=Path(os.environ.get("NNDSL_NNC_TOOLS", DEFAULT_NNC)))
    ap.add_argument("--nnabla-python", default=os.environ.get("NNDSL_NNABLA_PYTHON", "/work/nnabla-venv/bin/python"))
    args = ap.parse_args()
    tool = args.nnc.resolve() / "nncd_console_cli_util"
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, case in CASES.items():
            src = Path(tmp) / f"{name}.sdcproj"
            src.write_text(sdcproj(case["networks"]), encoding="utf-8")
            nntxt = Path(tmp) / f"{name}.nntxt"
            run = subprocess.run(
                [str(tool), "create_prototxt", "-i", str(src), "-o", str(nntxt), "-p", str(Path(tmp) / f"{name}.csv")],
                cwd=tool.parent,
                capture_output=True,
                text=True,
            )
            if run.returncode != 0 or not nntxt.exists():
                print(f"{name}: create_prototxt failed:\n{run.stdout}{run.stderr}", file=sys.stderr)
                return 1
            text = nntxt.read_text(encoding="utf-8")
            record = {
                "case": name,
                "sdcproj": src.read_text(encoding="utf-8").replace("\r\n", "\n"),
                "spec": case["spec"],
                "create_prototxt": nntxt_parameters(text, "Main"),
            }
            expanded = subprocess.run(
                [args.nnabla_python, "-c", _NNABLA_SCRIPT, str(nntxt)], capture_output=True, text=True
            )
            if expanded.returncode != 0:
                print(f"{name}: nnabla failed:\n{expanded.stderr[-2000:]}", file=sys.stderr)
                return 1
            record["nnabla"] = json.loads(expanded.stdout.strip().splitlines()[-1])
            (OUT / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
            print(f"{name}: {len(record['nnabla'])} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
