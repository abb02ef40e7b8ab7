"""The generated projects' data module (nndsl/runtime/torch/data.py) and the digits example dataset."""

import csv
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")
pytest.importorskip("sklearn")


from nndsl.compiler import compile_file  # noqa: E402
from nndsl.examples.digits import build_digits_dataset  # noqa: E402
from nndsl.runtime.torch import data  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DIGITS = {"x": ("x", (1, 8, 8)), "y": ("y", (1,))}

DatasetError = data.DatasetError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def image(path: Path, mode: str = "L", size=(8, 8), value=0) -> Path:
    """An image file; ``size`` is (height, width)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (size[1], size[0]), value).save(path)
    return path


def error_of(make) -> str:
    with pytest.raises(DatasetError) as info:
        make()
    return str(info.value)


# --------------------------------------------------------------------------------------
# The digits dataset: built by nndsl.examples.digits, read as specs/digits.nnd says
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory):
    """A folder standing in for specs/: the digits dataset built into <it>/digits."""
    folder = tmp_path_factory.mktemp("specs")
    build_digits_dataset(folder / "digits")
    return folder


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    return load_digits()


def read_rows(csv_path: Path) -> list[list[str]]:
    with open(csv_path, newline="") as f:
        return list(csv.reader(f))


def index_of(path: str) -> int:
    return int(Path(path).stem.split("_")[0])


def spec_bindings():
    """What specs/digits.nnd reads: dataset files, and per network input (column, shape)."""
    result = compile_file(ROOT / "specs" / "digits.nnd")
    assert result.ok
    project = result.project
    datasets = {d.name: (d.uri, d.settings) for d in project.datasets}
    network = project.network("Training")
    variables = {}
    for layer in network.layers:
        if layer.type == "Input":
            value = network.value(layer.outputs[0])
            variables[value.name] = (layer.params["dataset"], value.shape)
    return datasets, variables


def test_the_digits_spec_reads_what_the_builder_writes(spec_dir, digits):
    datasets, variables = spec_bindings()
    assert variables == DIGITS
    assert {name: uri for name, (uri, _) in datasets.items()} == {
        "training": "digits/train.csv",
        "validation": "digits/validation.csv",
    }
    sizes = {}
    for name, (uri, settings) in datasets.items():
        assert settings["image_normalization"] is True
        ds = data.NNCDataset(spec_dir / uri, variables, image_normalization=True)
        sizes[name] = len(ds)
        rows = read_rows(spec_dir / uri)
        assert rows[0] == ["x:image", "y:label"]
        for i in (0, len(ds) // 2, len(ds) - 1):
            sample = ds[i]
            assert set(sample) == {"x", "y"}
            assert sample["x"].shape == (1, 8, 8) and sample["x"].dtype == torch.float32
            assert sample["y"].shape == (1,) and sample["y"].dtype == torch.float32
            index = index_of(rows[i + 1][0])
            expected = np.rint(digits.images[index] * 255 / 16) / 255
            np.testing.assert_allclose(sample["x"][0].numpy(), expected, atol=1e-6)
            assert sample["y"].item() == digits.target[index]
        xs = torch.stack([ds[i]["x"] for i in range(len(ds))])
        assert xs.min() == 0.0 and xs.max() == 1.0  # ImageNormalization: 0..255 -> 0..1
    assert sizes == {"training": 1437, "validation": 360}


def test_the_digits_split_is_stratified_disjoint_and_complete(spec_dir, digits):
    rows = {split: read_rows(spec_dir / "digits" / f"{split}.csv")[1:] for split in ("train", "validation")}
    indices = {split: [index_of(path) for path, _ in r] for split, r in rows.items()}
    train, validation = set(indices["train"]), set(indices["validation"])
    assert not train & validation
    assert train | validation == set(range(1797))
    assert len(indices["train"]) + len(indices["validation"]) == 1797
    for split, r in rows.items():
        for path, label in r:
            assert path == f"images/{split}/{index_of(path)}_{label}.png"
            assert int(label) == digits.target[index_of(path)]
    for label in range(10):
        in_class = int((digits.target == label).sum())
        in_validation = sum(1 for _, y in rows["validation"] if int(y) == label)
        assert abs(in_validation - 0.2 * in_class) <= 1, (label, in_validation, in_class)


def test_digits_command_line_writes_the_same_files_and_is_idempotent(spec_dir, tmp_path):
    out = tmp_path / "digits"
    build_digits_dataset(out, validation_fraction=0.5, seed=3)  # a different split first: replaced below
    r = subprocess.run(
        [sys.executable, "-m", "nndsl.examples.digits", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert f"{out / 'train.csv'} (1437 samples)" in r.stdout
    assert f"{out / 'validation.csv'} (360 samples)" in r.stdout
    expected = spec_dir / "digits"
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(expected) for p in expected.rglob("*") if p.is_file())
    assert len(files) == 1797 + 2  # no image of the earlier split is left behind
    for f in files:
        assert (out / f).read_bytes() == (expected / f).read_bytes(), f


# --------------------------------------------------------------------------------------
# Numeric columns, vectors, matrix files
# --------------------------------------------------------------------------------------

IRIS = """x__0:Sepal length,x__1:Sepal width,x__2:Petal length,x__3:Petal width,y:Species
5.1,3.5,1.4,0.2,0
7.0,3.2,4.7,1.4,1
6.3,3.3,6.0,2.5,2
"""


def test_numeric_vector_columns_like_the_iris_sample(tmp_path):
    csv_path = write(tmp_path / "iris.csv", IRIS)
    ds = data.NNCDataset(csv_path, {"x": ("x", (4,)), "y": ("y", (1,))}, image_normalization=True)
    assert len(ds) == 3
    assert ds[1]["x"].tolist() == pytest.approx([7.0, 3.2, 4.7, 1.4])  # numbers are not divided by 255
    assert ds[1]["x"].dtype == torch.float32
    assert [ds[i]["y"].tolist() for i in range(3)] == [[0.0], [1.0], [2.0]]
    assert ds[-1]["y"].tolist() == [2.0]
    with pytest.raises(IndexError):
        ds[3]
    with pytest.warns(UserWarning, match="more than the cache limit"):
        uncached = data.NNCDataset(csv_path, {"x": ("x", (4,))}, cache_limit=16)
    assert ds.cached and not uncached.cached
    assert uncached[1]["x"].tolist() == ds[1]["x"].tolist()
    assert pickle.loads(pickle.dumps(ds))[2]["y"].tolist() == [2.0]  # what worker processes may receive


def test_vector_elements_are_assembled_by_index_into_the_shape(tmp_path):
    csv_path = write(tmp_path / "v.csv", "x__2,label,x__0,x__3,x__1\n3,9,1,4,2\n\n")  # a trailing blank line
    ds = data.NNCDataset(csv_path, {"x": ("x", (2, 2)), "t": ("label", (1,))}, cache=False)
    assert len(ds) == 1
    assert ds[0]["x"].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert ds[0]["t"].tolist() == [9.0]


def test_cells_may_name_csv_and_npy_matrix_files(tmp_path):
    write(tmp_path / "m" / "a.csv", "1,2,3\n4,5,6\n")
    np.save(tmp_path / "m" / "b.npy", np.arange(6, dtype=np.float64).reshape(3, 2))
    csv_path = write(tmp_path / "d.csv", "m,y\nm/a.csv,0\nm\\b.npy,1\n")  # NNC on Windows writes '\'
    ds = data.NNCDataset(csv_path, {"m": ("m", (2, 3)), "y": ("y", (1,))})
    assert ds.cached
    assert ds[0]["m"].tolist() == [[1, 2, 3], [4, 5, 6]]
    assert ds[1]["m"].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_grayscale_images_fit_a_two_dimensional_input_and_rgb_is_channels_first(tmp_path):
    image(tmp_path / "g.png", "L", (2, 3), 51)
    rgb = Image.new("RGB", (3, 2), (255, 0, 10))
    rgb.save(tmp_path / "c.png")
    csv_path = write(tmp_path / "d.csv", "g,c\ng.png,c.png\n")
    ds = data.NNCDataset(csv_path, {"g": ("g", (2, 3)), "c": ("c", (3, 2, 3))}, image_normalization=True)
    assert ds[0]["g"].shape == (2, 3) and ds[0]["g"][0, 0].item() == pytest.approx(0.2)
    assert ds[0]["c"][:, 1, 2].tolist() == pytest.approx([1.0, 0.0, 10 / 255])
    raw = data.NNCDataset(csv_path, {"c": ("c", (3, 2, 3))})
    assert raw[0]["c"][:, 0, 0].tolist() == [255.0, 0.0, 10.0]


# --------------------------------------------------------------------------------------
# Errors: each names the file, the row (header = row 1) and the column
# --------------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    image(tmp_path / "img" / "a.png")
    return tmp_path


def test_error_missing_image_file(folder):
    csv_path = write(folder / "d.csv", "x:image,y:label\nimg/a.png,0\nimg/missing.png,1\n")
    assert error_of(lambda: data.NNCDataset(csv_path, DIGITS)) == (
        f'{csv_path}, row 3, column "x:image": image file "img/missing.png" not found '
        f"(looked for {folder / 'img' / 'missing.png'})"
    )


def test_error_unreadable_image_file(folder):
    write(folder / "img" / "bad.png", "not a png")
    csv_path = write(folder / "d.csv", "x:image,y:label\nimg/bad.png,0\n")
    assert error_of(lambda: data.NNCDataset(csv_path, DIGITS)) == (
        f'{csv_path}, row 2, column "x:image": cannot read image file "img/bad.png": '
        "not an image format Pillow can read"
    )


def test_error_image_with_the_wrong_number_of_channels(folder):
    image(folder / "img" / "rgb.png", "RGB")
    csv_path = write(folder / "d.csv", "x:image,y:label\nimg/a.png,0\nimg/rgb.png,1\n")
    assert error_of(lambda: data.NNCDataset(csv_path, DIGITS)) == (
        f'{csv_path}, row 3, column "x:image": image "img/rgb.png" has 3 channels (mode RGB), '
        'but input "x" expects 1 (shape 1x8x8)'
    )


def test_error_image_of_the_wrong_size(folder):
    image(folder / "img" / "big.png", "L", (16, 12))
    csv_path = write(folder / "d.csv", "x:image,y:label\nimg/big.png,0\n")
    assert error_of(lambda: data.NNCDataset(csv_path, DIGITS, cache=False)) == (
        f'{csv_path}, row 2, column "x:image": image "img/big.png" is 16x12 (height x width), but input "x" '
        "expects 8x8 (shape 1x8x8); NNC does not resize images while training: resize them when building the dataset"
    )


def test_error_non_numeric_value(folder):
    csv_path = write(folder / "d.csv", "x:image,y:label\nimg/a.png,0\nimg/a.png,cat\nimg/a.png,\n")
    assert error_of(lambda: data.NNCDataset(csv_path, DIGITS)) == (
        f'dataset "{csv_path}" has 2 problems:\n'
        f'  - {csv_path}, row 3, column "y:label": expected a number, found "cat"\n'
        f'  - {csv_path}, row 4, column "y:label": expected a number, found an empty cell'
    )


def test_error_row_with_the_wrong_number_of_cells(folder):
    csv_path = write(folder / "d.csv", "x:image,y:label\nimg/a.png,0,extra\n")
    assert error_of(lambda: data.NNCDataset(csv_path, DIGITS)) == (
        f"{csv_path}, row 2: 3 cells, but the header has 2 columns"
    )


def test_error_missing_column_lists_the_columns_present(folder):
    csv_path = write(folder / "d.csv", "x:image,label\nimg/a.png,0\n")
    assert error_of(lambda: data.NNCDataset(csv_path, DIGITS)) == (
        f'{csv_path}, row 1 (header): no column "y" for input "y" (a header cell "y", "y:<label>" or vector '
        'cells "y__0", "y__1", ...); the header has: "x:image", "label"'
    )


def test_error_vector_columns_that_do_not_fill_the_shape(tmp_path):
    csv_path = write(tmp_path / "d.csv", "x__0,x__1,x__2,y\n1,2,3,0\n")
    assert error_of(lambda: data.NNCDataset(csv_path, {"x": ("x", (4,)), "y": ("y", (1,))})) == (
        f'{csv_path}, row 1 (header): input "x" expects shape 4 (4 values), but the header has 3 columns '
        'for "x": "x__0", "x__1", "x__2"'
    )


def test_error_missing_dataset_file(tmp_path):
    missing = tmp_path / "nowhere.csv"
    assert error_of(lambda: data.NNCDataset(missing, DIGITS)) == f'dataset file "{missing}" not found'


def test_check_reports_the_first_problems_of_every_row_together(folder):
    image(folder / "img" / "rgb.png", "RGB")
    csv_path = write(
        folder / "d.csv",
        "x:image,y:label\nimg/a.png,0\nimg/rgb.png,one\nimg/a.png\nimg/gone.png,3\nimg/a.png,4\n",
    )
    ds = data.NNCDataset(csv_path, DIGITS, cache=False, validate=False)  # nothing is read yet
    assert len(ds) == 5 and not ds.cached
    assert error_of(lambda: ds.check(max_problems=3)) == (
        f'dataset "{csv_path}" has 4 problems (showing the first 3):\n'
        f'  - {csv_path}, row 3, column "x:image": image "img/rgb.png" has 3 channels (mode RGB), but input "x" '
        "expects 1 (shape 1x8x8)\n"
        f'  - {csv_path}, row 3, column "y:label": expected a number, found "one"\n'
        f"  - {csv_path}, row 4: 1 cell, but the header has 2 columns"
    )
    assert ds[4]["y"].item() == 4.0  # good rows still read
    assert error_of(lambda: ds[3]).startswith(f'{csv_path}, row 5, column "x:image": image file "img/gone.png"')
    # By default the same problems stop the dataset from being created at all.
    assert error_of(lambda: data.NNCDataset(csv_path, DIGITS, cache=False)).startswith(
        f'dataset "{csv_path}" has 4 problems:\n'
    )


def test_an_error_in_a_loader_worker_keeps_its_plain_message(folder):
    """A DataLoader re-raises a worker's error as DatasetError(<worker traceback>): the message stays plain.

    torch's own mechanism is run in-process: a loader whose worker failed takes seconds to shut down.
    """
    from torch._utils import ExceptionWrapper

    csv_path = write(folder / "d.csv", "x:image,y:label\nimg/a.png,0\nimg/gone.png,1\n")
    ds = data.NNCDataset(csv_path, DIGITS, cache=False, validate=False)
    try:
        ds[1]
    except DatasetError:
        wrapped = ExceptionWrapper(where="in DataLoader worker process 0")
    expected = (
        f'{csv_path}, row 3, column "x:image": image file "img/gone.png" not found '
        f"(looked for {folder / 'img' / 'gone.png'})"
    )
    assert wrapped.exc_type is DatasetError and wrapped.exc_msg.startswith("Traceback")
    assert error_of(wrapped.reraise) == expected
    older_torch = f"Caught DatasetError in DataLoader worker process 0.\nOriginal {wrapped.exc_msg}"
    assert str(DatasetError(message=older_torch)) == expected
    assert str(DatasetError(expected)) == expected


# --------------------------------------------------------------------------------------
# Image folders
# --------------------------------------------------------------------------------------


def test_image_folder_dataset(tmp_path):
    root = tmp_path / "pets"
    image(root / "dog" / "b.png", "RGB", (4, 4), (0, 255, 0))
    image(root / "cat" / "z.png", "RGB", (4, 4), (255, 0, 0))
    image(root / "cat" / "a.jpg", "RGB", (4, 4), (255, 0, 0))
    write(root / "cat" / "notes.txt", "not an image")
    (root / "empty").mkdir()  # a folder without images gets no class index, as in NNC
    write(root / "readme.txt", "")
    ds = data.ImageFolderDataset(root, {"image": ("x", (3, 4, 4)), "label": ("y", (1,))}, image_normalization=True)
    assert ds.classes == ["cat", "dog"]
    assert ds.samples == [("cat/a.jpg", 0), ("cat/z.png", 0), ("dog/b.png", 1)]
    assert [ds[i]["label"].item() for i in range(len(ds))] == [0.0, 0.0, 1.0]
    assert ds[2]["image"].shape == (3, 4, 4)
    assert ds[2]["image"][:, 0, 0].tolist() == [0.0, 1.0, 0.0]

    image(root / "dog" / "c.png", "L", (4, 4))
    assert error_of(lambda: data.ImageFolderDataset(root, {"image": ("x", (3, 4, 4))})) == (
        f'image folder "{root}": image "dog/c.png" has 1 channel (mode L), but input "image" expects 3 (shape 3x4x4)'
    )
    assert error_of(lambda: data.ImageFolderDataset(tmp_path / "none", {})) == (
        f'image folder "{tmp_path / "none"}" not found'
    )


# --------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------


@pytest.fixture
def numbers(tmp_path):
    csv_path = write(tmp_path / "n.csv", "v\n" + "".join(f"{i}\n" for i in range(20)))
    return data.NNCDataset(csv_path, {"v": ("v", (1,))})


def order(loader) -> list[int]:
    return [int(v) for batch in loader for v in batch["v"].flatten().tolist()]


def test_loader_shuffling_is_reproducible_with_a_seeded_generator(numbers):
    def epochs(seed, workers, count=2):
        loader = data.make_loader(
            numbers, batch_size=4, shuffle=True, workers=workers, generator=torch.Generator().manual_seed(seed)
        )
        return [order(loader) for _ in range(count)]

    first = epochs(seed=7, workers=0)
    assert sorted(first[0]) == list(range(20))
    assert first[0] != first[1]  # a new order every epoch...
    assert epochs(seed=7, workers=0) == first  # ...the same orders run after run
    assert epochs(seed=7, workers=2) == first  # whatever the number of workers
    assert epochs(seed=8, workers=0) != first
    assert order(data.make_loader(numbers, batch_size=6, workers=0)) == list(range(20))


def test_loader_defaults_and_a_distributed_sampler(numbers):
    loader = data.make_loader(numbers, batch_size=4)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert loader.num_workers == data.default_workers() == min(4, cpus)
    assert loader.persistent_workers is False  # workers start anew every pass, seeded from loader.generator
    assert loader.generator is not None  # so no loader draws from torch's global generator
    assert loader.pin_memory is torch.cuda.is_available()
    assert len(data.make_loader(numbers, batch_size=6, workers=0, drop_last=True)) == 3

    from torch.utils.data.distributed import DistributedSampler

    seen = []
    for rank in (0, 1):
        sampler = DistributedSampler(numbers, num_replicas=2, rank=rank, shuffle=True, seed=0)
        loader = data.make_loader(numbers, batch_size=4, shuffle=True, workers=0, sampler=sampler)
        assert loader.sampler is sampler  # the given sampler decides the order
        seen.append(order(loader))
    assert len(seen[0]) == len(seen[1]) == 10
    assert sorted(seen[0] + seen[1]) == list(range(20))
