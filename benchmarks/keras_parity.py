"""Training-step speed of the generated Keras ResNet-50 against keras.applications.ResNet50.

    python benchmarks/keras_parity.py [--batch 8] [--rounds 5] [--warmup 2] [--size 224]
                                      [--mixed mixed_float16 ...] [--jit | --no-jit]

Both models train on the same batch with the same `model.compile` (SGD with momentum, sparse
softmax cross-entropy from logits) in one process, through `train_on_batch`, steps alternating
between them (in ABBA order) so that both see the same machine state. The generated model is
the `ResNet(3, 4, 6, 3, bottleneck=true)` unit of specs/lib/resnet.nnd (what
specs/resnet50.nnd trains) in a one-network spec that feeds it 3x224x224 images, written by the
Keras backend; the reference is `keras.applications.ResNet50(weights=None,
classifier_activation=None)`. Prints the parameter counts, the median step time of each,
images/s and the ratio (target: at most 1.05 on the CPU, float32); where the backend sees a GPU
(or with --mixed) it measures again under mixed-precision policies (mixed_float16 wraps the
optimizer in a LossScaleOptimizer, as `compile` does). A measurement, not a test: the exit
status is 0 either way.

The script is backend-neutral Keras 3 (KERAS_BACKEND=tensorflow, the generated project's, by
default; jax or torch too): the generated model of Keras's own layers imports without
TensorFlow. Steps compile with XLA by default on JAX (which has no other way), not on
TensorFlow (as the earlier figures were taken); --jit / --no-jit choose.

The two are not the same network to the last parameter: keras.applications builds ResNet v1
(a bottleneck's stride on its first 1x1 convolution, convolutions with biases) and the spec
ResNet v1.5 as torchvision does (the stride on the 3x3 convolution, no biases). v1.5 runs the
first 1x1 convolution of stages 2-4 at the full input resolution: about 6% more multiply-adds
(4.09 G against 3.86 G a forward pass), partly offset on the CPU by the reference's 53 bias
additions; the trainable counts printed differ by those biases (26,560).
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nndsl.backends.keras import generate  # noqa: E402
from nndsl.compiler import compile_file  # noqa: E402

TARGET = 1.05

SPEC = """include "lib/resnet.nnd"

network Parity {{
    x = Input(3x{size}x{size}, dataset="x")
    logits = x -> resnet: ResNet(3, 4, 6, 3, bottleneck=true)
}}
"""


def generated_module(out: str, size: int):
    """The generated project's `model` module (for `create_model`); `out` must outlive its use."""
    # Compiled as if it sat in specs/, so that its include finds specs/lib/resnet.nnd.
    result = compile_file(ROOT / "specs" / "_keras_parity.nnd", text=SPEC.format(size=size))
    if not result.ok:
        raise SystemExit("\n".join(str(d) for d in result.diagnostics))
    generate(result.project, out)
    sys.path.insert(0, out)
    try:
        return importlib.import_module("model")
    finally:
        sys.path.remove(out)


def models(module, size: int, jit: bool, x, y) -> dict:
    """name -> (training step, trainable parameters, all parameters), built under the current policy."""
    keras.utils.set_random_seed(0)
    ours = module.create_model().networks["Parity"]
    ours = keras.Model(ours.inputs[0], ours.outputs[0])  # the logits alone, as the reference gives them
    theirs = keras.applications.ResNet50(weights=None, input_shape=(size, size, 3), classifier_activation=None)
    out = {}
    for name, model in (("generated", ours), ("keras.apps", theirs)):
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=jit,
        )
        trainable = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
        out[name] = (lambda model=model: model.train_on_batch(x, y), trainable, model.count_params())
    return out


def measure(steps: dict, warmup: int, rounds: int) -> dict[str, tuple[float, float]]:
    """name -> median (wall, CPU) seconds per step, rounds alternating in ABBA order."""
    for step in steps.values():
        for _ in range(warmup):  # the first call traces and compiles
            float(step())
    names = list(steps)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            wall, cpu = time.perf_counter(), time.process_time()
            float(steps[name]())  # reading the loss waits for the device
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {name: tuple(statistics.median(column) for column in zip(*t, strict=True)) for name, t in times.items()}


def report(med: dict[str, tuple[float, float]], batch: int, title: str, judge: bool) -> None:
    print(title)
    for name, (wall, cpu) in med.items():
        print(f"  {name:<12} {wall * 1000:9.1f} ms ({cpu * 1000:9.1f} ms CPU)   {batch / wall:8.1f} images/s")
    ratio = med["generated"][0] / med["keras.apps"][0]
    cpu_ratio = med["generated"][1] / med["keras.apps"][1]
    verdict = ("ok" if ratio <= TARGET else "MISSED") if judge else "(not judged)"
    print(f"  ratio generated/keras.apps {ratio:.3f} (CPU time {cpu_ratio:.3f}; target <= {TARGET}) {verdict}")


def gpu_present() -> bool:
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return jax.default_backend() == "gpu"
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="timed steps per model (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per model first (the first compiles)")
    parser.add_argument("--size", type=int, default=224, help="image height and width")
    parser.add_argument("--mixed", nargs="*", default=None, help="mixed policies (default: both on a GPU, none else)")
    parser.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None, help="XLA-compiled steps")
    args = parser.parse_args()

    backend, gpu = keras.backend.backend(), gpu_present()
    jit = args.jit if args.jit is not None else backend == "jax"
    device = "GPU" if gpu else "CPU"
    rng = np.random.default_rng(0)
    x = keras.ops.convert_to_tensor(rng.standard_normal((args.batch, args.size, args.size, 3), dtype=np.float32))
    y = keras.ops.convert_to_tensor(rng.integers(0, 1000, (args.batch, 1)).astype(np.int32))
    mixed = args.mixed if args.mixed is not None else (["mixed_float16", "mixed_bfloat16"] if gpu else [])
    print(f"Keras {keras.__version__}, backend {backend}, {device}, XLA {'on' if jit else 'off'}")

    with tempfile.TemporaryDirectory() as out:
        module = generated_module(out, args.size)
        for policy in ["float32", *mixed]:
            keras.mixed_precision.set_global_policy(policy)
            built = models(module, args.size, jit, x, y)
            if policy == "float32":
                print("Parameters (trainable / all, with BatchNormalization's moving statistics)")
                for name, (_, trainable, total) in built.items():
                    print(f"  {name:<12} {trainable:>12,} / {total:,}")
            med = measure({name: step for name, (step, _, _) in built.items()}, args.warmup, args.rounds)
            settings = f"batch {args.batch}, {args.size}x{args.size}, {device}, {policy}"
            title = f"ResNet-50 training step ({settings}; median of {args.rounds})"
            report(med, args.batch, title, device == "CPU" and policy == "float32")
    keras.mixed_precision.set_global_policy("float32")
    return 0


if __name__ == "__main__":
    sys.exit(main())
