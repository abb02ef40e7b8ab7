"""nndsl's runtime: NNC's semantics for the generated projects, one package, versioned with nndsl.

Developed here as `nndsl.runtime` and copied into every generated project as `nndsl_runtime/`,
with the modules that project's files import (never the other backend's). The modules at this
level are framework-free and shared by both backends (`nnc_solvers` and `nnc_shapes` use the
standard library alone, and so does `nnc_layouts` but for its array conversions, so that the
compiler imports its NNC rules from them without numpy or a framework; `nnc_augment` writes NNC's
augmentation rules once against the array operations each runtime passes in); `torch/` and
`keras/` hold each backend's own. Nothing here imports nndsl outside this package: imports inside
are relative.
"""

__version__ = "0.1.0"
