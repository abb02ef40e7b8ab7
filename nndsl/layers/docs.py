"""The layer reference (docs/layers.md), generated from the registry.

    python -m nndsl.layers.docs > docs/layers.md

A test fails when docs/layers.md differs from what this prints.
"""

from __future__ import annotations

import sys

from . import REGISTRY
from .base import DERIVED, LayerSpec, Param


def _default(p: Param) -> str:
    if p.default is None:
        return "required"
    if p.default is DERIVED:
        return "computed"
    v = p.default
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return "x".join(map(str, v)) if p.type == "shape" else "[" + ", ".join(map(str, v)) + "]"
    if isinstance(v, str):
        return f'"{v}"'
    return repr(v)


def _param(p: Param, spec: LayerSpec) -> str:
    pos = " (positional)" if p.name in spec.positional else ""
    choices = f" one of {', '.join(p.choices)};" if p.choices else ""
    nnc = f"NNC `{p.nnc}`" if p.nnc else "nndsl's own, NNC has none"
    return f"`{p.name}`{pos}: {p.type},{choices} default {_default(p)} ({nnc})"


def markdown() -> str:
    lines = [
        "# Layers",
        "",
        "Generated from the layer registry by `python -m nndsl.layers.docs`; do not edit.",
        "Parameter names are NNC's property names in snake case, with `kernel`, `stride`, `pad`,",
        "`bias` and `init` for KernelShape, Strides, Padding, WithBias and Initializer; NNC's own",
        "spelling in snake case (`kernel_shape`, `with_bias`...) is accepted too. Defaults are NNC's.",
        '"computed" means NNC derives the value (strides default to the kernel, padding follows',
        "`border_mode`, BatchNormalization's `batch_stat` is true in trained networks only).",
        "Layer types marked *nndsl* are nndsl's own (NNC has none): both backends compile them, and",
        "`nndsl export` writes them as NNC layers where that gives the same outputs and refuses them",
        "with the layer's position where it does not.",
        "",
        f"{len(REGISTRY)} layer types.",
        "",
        "| layer | category | inputs | parameters | description |",
        "|---|---|---|---|---|",
    ]
    for name in sorted(REGISTRY, key=lambda n: (REGISTRY[n].category, n)):
        spec = REGISTRY[name]
        inputs = ", ".join(spec.inputs) + (", ..." if spec.variadic else "") or "-"
        params = "<br>".join(_param(p, spec) for p in spec.params) or "-"
        doc = " ".join(spec.doc.split()).replace("|", "\\|")
        category = f"{spec.category} (*nndsl*)" if spec.nndsl_only else spec.category
        lines.append(f"| {name} | {category} | {inputs} | {params} | {doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
