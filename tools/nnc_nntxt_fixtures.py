"""Regenerate tests/nnc/fixtures/nntxt/: what NNC's own tools make of nnabla network files.

For every NNC sample project, NNC's `create_prototxt` writes the `.nntxt` nnabla runs; NNC's
`import_nntxt` reads that `.nntxt` back into a project. The reader `nndsl/nnc/nntxt.py` is
tested against the second: same layers (types, names, properties), links and config. Stored:

- `<sample>.nntxt`: the `.nntxt` create_prototxt wrote (the reader's input), and nnabla's own
  `nnabla_residual_repeat.nntxt` (from sony/nnabla's tests) unchanged;
- `<sample>.import_nntxt.json`: the project import_nntxt wrote from it, trimmed to what the
  test compares: per network, its layers (type, properties; positions left out) and links (by
  layer name and pin), and the config sections as key/values;
- `<sample>.original.json`: the properties of each layer, by name, and the config sections of
  the sample project itself (import_nntxt loses some things, such as initializers and weight
  decay: the test compares those with the original instead);
- `tutorial_basics_01_logistic_regression.nnp`: an .nnp nnabla saved (`nnabla.utils.save`)
  with the parameters it initialized, and `..._parameters.json`: their names and shapes as
  nnabla lists them (needs nnabla: `--nnabla PYTHON`, default /work/nnabla-venv/bin/python).

Run from the repository root, with NNC's tool and the samples beside it:

    python tools/nnc_nntxt_fixtures.py ../shared/nnc-samples ../shared/nnc-tools/nncd_console
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "nnc" / "fixtures" / "nntxt"


def ini(path: Path) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current = None
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif current is not None and "=" in line:
            key, value = line.split("=", 1)
            current[key] = value
    return sections


def layer_props(section: dict[str, str]) -> dict[str, str]:
    n = int(section.get("NumProperty", "0"))
    return {section[f"Property_{k}_Name"]: section[f"Property_{k}_Value"] for k in range(n)}


def trimmed_project(path: Path) -> dict:
    s = ini(path)
    networks = {}
    for i in range(int(s["Global"]["NumNetwork"])):
        name = s["Global"][f"Network_{i}"]
        head = s[f"{name}_Network_Global"]
        by_id = {}
        layers = []
        for j in range(int(head["NumLayer"])):
            sec = s[f"{name}_Layer_{j}"]
            props = layer_props(sec)
            by_id[sec["ID"]] = props["Name"]
            layers.append({"type": sec["Type"], "props": props})
        links = []
        for j in range(int(head["NumLink"])):
            sec = s[f"{name}_Link_{j}"]
            links.append(
                [
                    by_id[sec["SourceLayerID"]],
                    int(sec["SourcePinIndex"]),
                    by_id[sec["DestLayerID"]],
                    int(sec["DestPinIndex"]),
                ]
            )
        networks[name] = {"layers": layers, "links": links}
    config = {
        k: v for k, v in s.items() if not any(k.startswith(f"{n}_") for n in networks) and k not in ("Global", "Engine")
    }
    return {"networks": networks, "config": config}


def original(path: Path) -> dict:
    """The sample's layers' properties by layer name (the first layer of each name) and its
    config sections."""
    layers: dict[str, dict[str, str]] = {}
    s = ini(path)
    for sec in s.values():
        if "Type" in sec and "NumProperty" in sec:
            props = layer_props(sec)
            layers.setdefault(props.get("Name", ""), props)
    config = {
        k: v for k, v in s.items() if k.split("_")[0] in ("Dataset", "Config", "Optimizer", "Monitor", "Executor")
    }
    return {"layers": layers, "config": config}


def run(tool: Path, *args: str) -> None:
    result = subprocess.run(
        [str(tool / "nncd_console_cli_util"), *args], cwd=tool, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        raise SystemExit(f"nncd_console_cli_util {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


def main(samples: str, tool_dir: str) -> None:
    samples_dir, tool = Path(samples).resolve(), Path(tool_dir).resolve()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sources = []
        for project in sorted(samples_dir.glob("*.sdcproj")):
            nntxt = tmp / f"{project.stem}.nntxt"
            run(tool, "create_prototxt", "-i", str(project), "-o", str(nntxt), "-p", str(tmp / f"{project.stem}.csv"))
            (OUT / f"{project.stem}.original.json").write_text(
                json.dumps(original(project), separators=(",", ":"), sort_keys=True) + "\n"
            )
            sources.append(nntxt)
        for extra in sorted(samples_dir.glob("*.nntxt")):
            shutil.copyfile(extra, tmp / extra.name)
            sources.append(tmp / extra.name)
        for nntxt in sources:
            shutil.copyfile(nntxt, OUT / nntxt.name)
            imported = tmp / f"{nntxt.stem}.imported.sdcproj"
            run(tool, "import_nntxt", "-i", str(nntxt), "-o", str(imported))
            data = trimmed_project(imported)
            (OUT / f"{nntxt.stem}.import_nntxt.json").write_text(json.dumps(data, separators=(",", ":")) + "\n")
            print(f"{nntxt.name}: {sum(len(n['layers']) for n in data['networks'].values())} layers")


NNP_SCRIPT = """
import json, sys
import nnabla as nn
from nnabla.utils.nnp_graph import NnpLoader
from nnabla.utils import load, save
src, out_nnp, out_json = sys.argv[1:4]
nnp = NnpLoader(src)
net = nnp.get_network("MainRuntime", batch_size=1)
params = nn.get_parameters(grad_only=False)
info = load.load([src], prepare_data_iterator=False)
contents = {"networks": [{"name": "MainRuntime", "batch_size": 1, "outputs": {"y'": net.outputs["Sigmoid"]},
            "names": {"x": net.inputs["Input"]}}],
            "executors": [{"name": "Executor", "network": "MainRuntime", "data": ["x"], "output": ["y'"]}]}
save.save(out_nnp, contents)
json.dump({k: list(v.shape) for k, v in params.items()}, open(out_json, "w"), indent=1)
"""


def make_nnp(python: str) -> None:
    stem = "tutorial_basics_01_logistic_regression"
    subprocess.run(
        [
            python,
            "-c",
            NNP_SCRIPT,
            str(OUT / f"{stem}.nntxt"),
            str(OUT / f"{stem}.nnp"),
            str(OUT / f"{stem}_parameters.json"),
        ],
        check=True,
        timeout=300,
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
    make_nnp(sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--nnabla" else "/work/nnabla-venv/bin/python")
