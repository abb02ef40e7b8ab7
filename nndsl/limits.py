"""The front end's documented limits, and the stack they need.

Every stage that recurses over a spec recurses at most as deep as these limits allow, so
no input reaches Python's recursion limit: deeper input is refused with a positioned
diagnostic (docs/diagnostics.md), whatever the caller's own stack depth.

- `MAX_NESTING` (E0210): how deep expressions, blocks and repeats nest in the text of
  one item. A run of binary operators (`1 + 2 + ... + n`, any length) and an `else if`
  chain (any number of branches) are flat: they do not nest.
- `MAX_DEPTH` (E0211): how deep the expansion of a network nests, counted through the
  unit instances it makes: each call, chain, repeat and `if` branch open at once.
- `MAX_UNIT_DEPTH` (E0702): how deep unit instances nest.
- `MAX_LIST_ITEMS` (E0307): the items of a list value, counting those of the lists in it
  (a configuration table `[[1, 16, 1, 1], ...]` has 4 + 4 x rows): a list built from lists
  by name (`b = [a, a]`) cannot double its way past it, so comparing, printing or keying a
  unit instance by its arguments stays bounded. A `repeat row in cfg` makes one copy per
  item, counted toward the layer limit (E0701) as `repeat n` is.

And two limits on the size of the model (nndsl/passes/check_size.py), which the command
line can raise: `MAX_PARAMETERS` (E0410, `--max-parameters`) on the parameter elements of
the project, `MAX_ACTIVATIONS` (E0411, `--max-activations`) on the elements one network
computes for one sample.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

MAX_NESTING = 64
MAX_DEPTH = 128
MAX_UNIT_DEPTH = 64
MAX_LIST_ITEMS = 100_000
MAX_PARAMETERS = 10**10  # 40 GB in float32
MAX_ACTIVATIONS = 10**10  # per sample

# Python frames a stage may need below its entry point within the limits above (the
# expansion takes at most six frames per level of MAX_DEPTH, the constant evaluator two
# per level of MAX_NESTING), with a wide margin.
STACK_ROOM = 3000


@contextmanager
def stack_room(frames: int = STACK_ROOM) -> Iterator[None]:
    """Make sure `frames` Python frames fit below the caller, however deep the caller's
    own stack already is (a test runner, an editor plugin); restored afterwards."""
    depth = 0
    frame = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    before = sys.getrecursionlimit()
    if depth + frames > before:
        sys.setrecursionlimit(depth + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(before)
