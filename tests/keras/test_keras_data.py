"""The generated Keras projects' data module (nndsl/runtime/keras/data.py): tf.data pipelines over nnc_dataset."""

from __future__ import annotations

import contextlib
import importlib
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow")
Image = pytest.importorskip("PIL.Image")


ROOT = Path(__file__).resolve().parents[2]

# Two logical CPUs for a MirroredStrategy with two replicas; possible only before TensorFlow starts
# (RuntimeError: another test started it; the strategy then mirrors over the devices there are).
with contextlib.suppress(RuntimeError):
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )


data = importlib.import_module("nndsl.runtime.keras.data")
DatasetError = data.DatasetError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def image(path: Path, mode: str, pixels: np.ndarray) -> Path:
    """An image file of ``pixels``: (height, width) or (height, width, channels) uint8."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8), mode).save(path)
    return path


def channels_last(array: np.ndarray) -> np.ndarray:
    return np.moveaxis(array, 0, -1) if array.ndim >= 2 else array


def batches(ds) -> list[dict[str, np.ndarray]]:
    return [{name: t.numpy() for name, t in batch.items()} for batch in ds]


# --------------------------------------------------------------------------------------
# Samples: images, vector columns, matrix files, channels last
# --------------------------------------------------------------------------------------

VARIABLES = {
    "gray": ("g", (1, 4, 5)),
    "rgb": ("c", (3, 4, 5)),
    "vec": ("x", (2, 3)),
    "m": ("m", (2, 3, 4)),
    "y": ("y", (1,)),
}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """7 rows: grayscale and RGB PNGs, a vector x__0..x__5 of shape 2x3, a .npy cell, a label."""
    folder = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(0)
    header = ["g:gray", "c:color", *[f"x__{i}" for i in range(6)], "m", "y:label"]
    rows = []
    (folder / "arr").mkdir()
    for r in range(7):
        image(folder / "img" / f"g{r}.png", "L", rng.integers(0, 256, (4, 5)))
        image(folder / "img" / f"c{r}.png", "RGB", rng.integers(0, 256, (4, 5, 3)))
        np.save(folder / "arr" / f"{r}.npy", rng.standard_normal((2, 3, 4)))
        vector = [f"{v:.3f}" for v in rng.standard_normal(6)]
        rows.append([f"img/g{r}.png", f"img/c{r}.png", *vector, f"arr/{r}.npy", str(r % 3)])
    write(folder / "d.csv", "\n".join(",".join(row) for row in [header, *rows]) + "\n")
    return folder / "d.csv"


@pytest.mark.parametrize("cache", [True, False])
def test_batches_are_the_samples_channels_last(mixed, cache):
    ds = data.NNCDataset(mixed, VARIABLES, image_normalization=True, cache=cache)
    assert ds.cached is cache
    pipeline = data.make_dataset(ds, 3, shuffle=False)
    spec = pipeline.element_spec
    assert {name: tuple(s.shape) for name, s in spec.items()} == {
        "gray": (None, 4, 5, 1),
        "rgb": (None, 4, 5, 3),
        "vec": (None, 3, 2),
        "m": (None, 3, 4, 2),
        "y": (None, 1),
    }
    assert all(s.dtype == tf.float32 for s in spec.values())
    got = batches(pipeline)
    assert [len(b["y"]) for b in got] == [3, 3, 1]
    for name in VARIABLES:
        expected = np.stack([channels_last(ds[i][name]) for i in range(len(ds))])
        np.testing.assert_array_equal(np.concatenate([b[name] for b in got]), expected)
    first = ds[0]
    assert first["rgb"].shape == (3, 4, 5) and first["rgb"].max() <= 1.0  # nnc_dataset: channels first, normalized
    np.testing.assert_array_equal(got[0]["rgb"][0, 1, 2], first["rgb"][:, 1, 2])  # pixel (1, 2): its channels
    # Channels last is the files' own layout: Pillow's (height, width, channels), the .npy's axes 1.. then 0.
    folder = mixed.parent
    np.testing.assert_allclose(got[0]["rgb"][1], np.asarray(Image.open(folder / "img" / "c1.png")) / 255, atol=1e-6)
    np.testing.assert_allclose(got[0]["gray"][1, ..., 0], np.asarray(Image.open(folder / "img" / "g1.png")) / 255)
    np.testing.assert_allclose(got[2]["m"][0], np.moveaxis(np.load(folder / "arr" / "6.npy"), 0, -1), rtol=1e-6)
    shapes = [data.channels_last_shape(shape) for _, shape in VARIABLES.values()]
    assert shapes == [(4, 5, 1), (4, 5, 3), (3, 2), (3, 4, 2), (1,)]


def test_names_select_the_inputs(mixed):
    ds = data.NNCDataset(mixed, VARIABLES)
    (first, *_) = batches(data.make_dataset(ds, 4, shuffle=False, names=["y", "vec"]))
    assert list(first) == ["y", "vec"]
    np.testing.assert_array_equal(first["y"][:, 0], [0, 1, 2, 0])
    with pytest.raises(ValueError, match="no input 'z' in the dataset; its inputs: gray, rgb, vec, m, y"):
        data.make_dataset(ds, 4, shuffle=False, names=["z"])


# --------------------------------------------------------------------------------------
# Orders: reproducible, one pass per epoch, batches within an epoch
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def numbers(tmp_path_factory):
    """20 rows whose value v is the row's index; cached and not."""
    csv_path = write(tmp_path_factory.mktemp("numbers") / "n.csv", "v\n" + "".join(f"{i}\n" for i in range(20)))
    variables = {"v": ("v", (1,))}
    return data.NNCDataset(csv_path, variables), data.NNCDataset(csv_path, variables, cache=False)


def order(pipeline, count=None) -> list[int]:
    values = pipeline if count is None else pipeline.take(count)
    return [int(v) for batch in values for v in batch["v"].numpy().ravel()]


@pytest.mark.parametrize("cached", [True, False])
def test_shuffling_is_reproducible_per_seed_and_epoch(numbers, cached):
    ds = numbers[0] if cached else numbers[1]
    epoch0 = order(data.make_dataset(ds, 4, shuffle=True, seed=5))
    assert sorted(epoch0) == list(range(20)) and epoch0 != list(range(20))
    assert epoch0 == data.epoch_order(20, 5, 0).tolist()  # the documented order
    assert order(data.make_dataset(ds, 4, shuffle=True, seed=5)) == epoch0  # run after run
    assert order(data.make_dataset(ds, 7, shuffle=True, seed=5)) == epoch0  # whatever the batch size
    assert order(data.make_dataset(ds, 4, shuffle=True, seed=6)) != epoch0
    epoch1 = order(data.make_dataset(ds, 4, shuffle=True, seed=5, epoch=1))
    assert sorted(epoch1) == list(range(20)) and epoch1 != epoch0
    # Repeated: the epochs follow each other, 5 batches each; resumed at epoch 1, the same orders from there.
    repeated = data.make_dataset(ds, 4, shuffle=True, seed=5, repeat=True)
    assert repeated.cardinality() == tf.data.INFINITE_CARDINALITY
    three = order(repeated, 15)
    assert three[:20] == epoch0 and three[20:40] == epoch1 and sorted(three[40:]) == list(range(20))
    assert order(data.make_dataset(ds, 4, shuffle=True, seed=5, repeat=True, epoch=1), 10) == three[20:]
    assert order(data.make_dataset(ds, 6, shuffle=False)) == list(range(20))


@pytest.mark.parametrize("cached", [True, False])
def test_drop_remainder_and_epoch_boundaries(numbers, cached):
    ds = numbers[0] if cached else numbers[1]
    sizes = [len(b["v"]) for b in data.make_dataset(ds, 6, shuffle=True, seed=1)]
    assert sizes == [6, 6, 6, 2] and data.steps_per_epoch(ds, 6) == 4
    dropped = data.make_dataset(ds, 6, shuffle=True, seed=1, drop_remainder=True)
    assert [len(b["v"]) for b in dropped] == [6, 6, 6] and data.steps_per_epoch(ds, 6, drop_remainder=True) == 3
    assert dropped.element_spec["v"].shape == (6, 1)
    assert order(dropped) == data.epoch_order(20, 1, 0)[:18].tolist()
    # Repeated: every epoch ends with its own last batch, no batch mixes two epochs.
    repeated = data.make_dataset(ds, 6, shuffle=True, seed=1, repeat=True)
    sizes = [len(b["v"]) for b in repeated.take(8)]
    assert sizes == [6, 6, 6, 2] * 2
    epochs = order(repeated, 8)
    assert sorted(epochs[:20]) == sorted(epochs[20:]) == list(range(20))
    repeated = data.make_dataset(ds, 6, shuffle=True, seed=1, repeat=True, drop_remainder=True)
    assert [len(b["v"]) for b in repeated.take(6)] == [6] * 6
    with pytest.raises(DatasetError, match="fewer samples than one batch of 32"):
        data.make_dataset(ds, 32, shuffle=False, drop_remainder=True)
    with pytest.raises(ValueError, match="batch_size must be 1 or more"):
        data.make_dataset(ds, 0, shuffle=False)


# --------------------------------------------------------------------------------------
# Image folders
# --------------------------------------------------------------------------------------


def test_image_folder_dataset(tmp_path):
    root = tmp_path / "pets"
    red, green = np.zeros((4, 6, 3)), np.zeros((4, 6, 3))
    red[..., 0], green[..., 1] = 255, 255
    green[1, 2] = (10, 20, 30)
    image(root / "dog" / "b.png", "RGB", green)
    image(root / "cat" / "z.png", "RGB", red)
    image(root / "cat" / "a.png", "RGB", red)
    ds = data.ImageFolderDataset(root, {"image": ("x", (3, 4, 6)), "label": ("y", (1,))}, image_normalization=True)
    assert ds.classes == ["cat", "dog"]
    (batch,) = batches(data.make_dataset(ds, 8, shuffle=False))
    assert batch["image"].shape == (3, 4, 6, 3)
    np.testing.assert_array_equal(batch["label"][:, 0], [0, 0, 1])
    np.testing.assert_allclose(batch["image"][2, 0, 0], [0, 1, 0])
    np.testing.assert_allclose(batch["image"][2, 1, 2], np.array([10, 20, 30]) / 255)
    np.testing.assert_array_equal(batch["image"][0, ..., 0], np.ones((4, 6)))


# --------------------------------------------------------------------------------------
# Errors in the pipeline
# --------------------------------------------------------------------------------------


@pytest.fixture
def broken(tmp_path):
    """Row 4 names a missing image; nothing is checked up front (validate=False)."""
    for r in range(4):
        image(tmp_path / "img" / f"{r}.png", "L", np.full((2, 2), r))
    csv_path = write(tmp_path / "d.csv", "x:image,y\nimg/0.png,0\nimg/1.png,1\nimg/gone.png,2\nimg/3.png,3\n")
    ds = data.NNCDataset(csv_path, {"x": ("x", (1, 2, 2)), "y": ("y", (1,))}, cache=False, validate=False)
    expected = (
        f'{csv_path}, row 4, column "x:image": image file "img/gone.png" not found '
        f"(looked for {tmp_path / 'img' / 'gone.png'})"
    )
    return ds, expected


def test_a_broken_row_surfaces_as_a_dataset_error_naming_it(broken):
    ds, expected = broken
    pipeline = data.make_dataset(ds, 2, shuffle=False)
    with pytest.raises(tf.errors.OpError) as info:
        batches(pipeline)
    assert expected in info.value.message  # TensorFlow's error, with its traceback
    assert str(data.as_dataset_error(info.value)) == expected
    assert data.as_dataset_error(ValueError("something else")) is None
    with pytest.raises(DatasetError) as info, data.reraise_dataset_errors():
        batches(pipeline)
    assert str(info.value) == expected
    with pytest.raises(tf.errors.InvalidArgumentError), data.reraise_dataset_errors():  # other errors pass through
        tf.reshape(tf.zeros(3), (2, 2))


def test_a_broken_row_stops_keras_fit_with_a_dataset_error(broken):
    keras = pytest.importorskip("keras")
    ds, expected = broken
    pipeline = data.make_dataset(ds, 2, shuffle=False).map(lambda b: (b["x"], b["y"]))
    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(DatasetError) as info, data.reraise_dataset_errors():
        model.fit(pipeline, epochs=1, shuffle=False, verbose=0)
    assert str(info.value) == expected


# --------------------------------------------------------------------------------------
# Distribution
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cached", [True, False])
def test_a_distribution_strategy_splits_the_batches_between_replicas(numbers, cached):
    ds = numbers[0] if cached else numbers[1]
    pipeline = data.make_dataset(ds, 6, shuffle=True, seed=3)
    policy = pipeline.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    for strategy in (tf.distribute.OneDeviceStrategy(devices[0]), tf.distribute.MirroredStrategy(devices[:2])):
        seen, sizes = [], []
        for batch in strategy.experimental_distribute_dataset(pipeline):
            parts = [t.numpy() for t in strategy.experimental_local_results(batch["v"])]
            sizes.append([len(p) for p in parts])
            seen.extend(int(v) for p in parts for v in p.ravel())
        assert seen == order(pipeline)  # the replicas' shares, in order, make the whole batches
        assert sum(map(sum, sizes)) == 20 and len(sizes) == 4
        if len(devices) >= 2 and isinstance(strategy, tf.distribute.MirroredStrategy):
            assert sizes[0] == [3, 3]
