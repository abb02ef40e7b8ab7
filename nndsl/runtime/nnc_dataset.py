"""NNC dataset CSV files and image folders, read into float32 NumPy arrays (no deep learning framework).

This file is part of the generated project (PyTorch and Keras alike) and needs only numpy,
Pillow and the standard library; ``data.py`` turns its samples into the framework's input
pipeline (a torch ``DataLoader``, a ``tf.data.Dataset``).

NNC's dataset CSV format (Neural Network Console; read the same way as nnabla's
``CsvDataSource`` in ``nnabla/utils/data_source_implements.py``):

* The first row is the header. Each header cell is ``name[__index][:label name]``:
  ``x:image`` is the variable ``x`` with the label name "image" (a caption only), and
  ``x__0:Sepal length``, ``x__1:Sepal width``, ... are the elements 0, 1, ... of the vector
  variable ``x``. A network's ``Input`` layer reads the variable named by its dataset binding.
* Every following row is one sample. A cell is a number, or the path of a file relative to
  the CSV file's folder (absolute paths work too; ``\\`` is read as a folder separator, as
  nnabla does): an image (.png, .jpg, .jpeg, .bmp, .gif, .tif, .tiff), a .csv file holding
  a matrix of numbers, or a .npy array. Labels are numbers: a class index stays a float, as
  in nnabla; the training script casts it. Inputs named in ``class_counts`` (``{input: number
  of classes}``: the labels of a categorical loss) must hold whole numbers from 0 to the number
  of classes - 1: a label of 10 for 10 classes, -1, 1e30 or 2.5 is an error, not truncated.
* Images become channels x height x width arrays: grayscale has 1 channel, RGB 3. With
  NNC's "ImageNormalization" option pixels are divided by 255 (numbers are left as they
  are). NNC does not resize images while training (a shape mismatch stops it): its dataset
  tools resize when the dataset is created. So does this module: an image whose channels
  or size differ from the input's shape is an error, not silently resized. An image of more
  than ``MAX_IMAGE_PIXELS`` pixels (Pillow's decompression-bomb limit) is refused unread.

Samples keep NNC's layout, channels first (an image input of shape (C, H, W)); a
channels-last framework transposes them in its ``data.py``.

Problems are reported as ``DatasetError``, whose message is the whole explanation, naming
the CSV file, the row (1-based as in a spreadsheet; the header is row 1) and the column.
Datasets check every row when they are created, so that a broken dataset fails before
training starts, and report the first few problems together.
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "IMAGE_EXTENSIONS",
    "DatasetError",
    "ImageFolderDataset",
    "ImageListDataset",
    "NNCDataset",
    "epoch_order",
    "output_columns",
    "write_output_csv",
]

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff")
ARRAY_EXTENSIONS = (".csv", ".npy")
DEFAULT_CACHE_LIMIT = 4 * 2**30  # bytes: larger datasets are read from disk sample by sample
MAX_PROBLEMS = 10  # problems listed by one DatasetError
MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485  # Pillow's decompression-bomb limit

# Pillow modes converted before reading pixels ("P", palette images, is handled apart).
_CONVERT_MODES = {
    "1": "L",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "LAB": "RGB",
    "HSV": "RGB",
    "RGBX": "RGB",
    "RGBa": "RGBA",
    "La": "LA",
    "PA": "RGBA",
}


class DatasetError(Exception):
    """A problem with a dataset. ``str(error)`` is the complete explanation: print it, no traceback needed.

    It pickles (to and from worker processes) as ``DatasetError(explanation)``.
    """

    def __init__(self, *args: object, message: str | None = None) -> None:
        # torch's DataLoader re-raises an error of a worker process in the main process as
        # DatasetError("Caught DatasetError in DataLoader worker process 0.\nOriginal Traceback ...")
        # (older torch: as DatasetError(message=...)): keep only the explanation it ends with.
        text = message if message is not None else args[0] if len(args) == 1 else None
        if isinstance(text, str) and text.startswith("Caught DatasetError "):
            _, found, explanation = text.rpartition("DatasetError: ")
            args = (explanation.rstrip() if found else text,)
        elif message is not None:
            args = (message,)
        super().__init__(*args)


# --------------------------------------------------------------------------------------
# The header
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    """One header cell, parsed as ``name[__index][:label name]``."""

    position: int  # 0-based position in a row
    text: str  # the cell as written, used in messages
    variable: str
    element: int | None  # the __index of a vector element
    label: str | None


def _parse_header_cell(position: int, text: str) -> _Column:
    variable, _, label = text.strip().partition(":")
    name, sep, index = variable.rpartition("__")
    if sep and name and index.isdigit():
        return _Column(position, text, name, int(index), label or None)
    return _Column(position, text, variable, None, label or None)


@dataclass(frozen=True)
class _Binding:
    """One network input and the column(s) it reads."""

    name: str  # the network input
    shape: tuple[int, ...]  # per sample
    columns: tuple[_Column, ...]  # one column, or the vector's element columns in index order
    vector: bool

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def describe(self) -> str:
        return f'input "{self.name}" expects shape {_shape_text(self.shape)}'


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape) if shape else "()"


def _quote_all(texts: Sequence[str]) -> str:
    return ", ".join(f'"{t}"' for t in texts) if texts else "(none)"


# --------------------------------------------------------------------------------------
# Cells: numbers, images, matrix files
# --------------------------------------------------------------------------------------


def _parse_number(text: str) -> float:
    """A cell as a finite number; raises ValueError with the problem otherwise."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("expected a number, found an empty cell")
    try:
        value = float(stripped)
    except ValueError:
        raise ValueError(f'expected a number, found "{text}"') from None
    if not math.isfinite(value):
        raise ValueError(f'expected a finite number, found "{text}"')
    return value


def _image_mode(image: Image.Image) -> str:
    """The Pillow mode whose pixels are read: palette and exotic modes become L, LA, RGB or RGBA."""
    if image.mode == "P":
        return "RGBA" if "transparency" in image.info else "RGB"
    return _CONVERT_MODES.get(image.mode, image.mode)


def _image_pixels(image: Image.Image, mode: str) -> np.ndarray:
    """Pixels as a float32 channels x height x width array in 0..255 (16-bit images are scaled down, as nnabla does)."""
    if mode.startswith("I"):  # 16-bit grayscale ("I;16", or "I" from older Pillow)
        pixels = np.asarray(image, dtype=np.float32) / 257.0
    elif mode == "F":
        pixels = np.asarray(image, dtype=np.float32)
    else:
        pixels = np.asarray(image if image.mode == mode else image.convert(mode), dtype=np.float32)
    return pixels[np.newaxis] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def _read_matrix_csv(path: Path) -> np.ndarray:
    """A .csv cell's file: rows of numbers (no header), as nnabla's ``load_csv`` reads it."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = [row for row in csv.reader(f) if row]
    values = []
    for r, row in enumerate(rows, start=1):
        try:
            values.append([_parse_number(cell) for cell in row])
        except ValueError as e:
            raise ValueError(f"row {r}: {e}") from None
    if any(len(row) != len(values[0]) for row in values):
        raise ValueError("its rows do not all have the same number of values")
    return np.array(values, dtype=np.float32)


# --------------------------------------------------------------------------------------
# NNCDataset
# --------------------------------------------------------------------------------------


class NNCDataset:
    """A dataset in NNC's CSV format: each item is ``{input name: float32 array of the input's shape}``.

    ``variables`` maps each network input to the CSV variable it reads and its per-sample
    shape, e.g. ``{"x": ("x", (1, 8, 8)), "y": ("y", (1,))}``. ``image_normalization``
    divides image pixels by 255 (NNC's "ImageNormalization").

    ``cache`` (NNC's "EnableCache") reads every sample once, when the dataset is created,
    into arrays held in memory (see ``arrays``). Datasets larger than
    ``cache_limit`` bytes are read from disk sample by sample instead (with a warning).
    ``validate`` checks every row when the dataset is created (images: their header only)
    when nothing is cached; set it to False to skip that scan for huge datasets, whose
    problems then surface when a sample is read.

    ``dataset[i]`` (negative ``i`` counts from the end) is a new dict of new, C-contiguous
    arrays: change them at will. ``shapes`` gives each input's per-sample shape.
    """

    def __init__(
        self,
        csv_path: str | os.PathLike,
        variables: Mapping[str, tuple[str, Sequence[int]]],
        image_normalization: bool = False,
        cache: bool = True,
        *,
        validate: bool = True,
        cache_limit: int = DEFAULT_CACHE_LIMIT,
        class_counts: Mapping[str, int] | None = None,
    ) -> None:
        self.csv_path = Path(csv_path)
        if self.csv_path.suffix.lower() in IMAGE_EXTENSIONS:
            raise DatasetError(
                f'"{self.csv_path}" is an image, not a dataset CSV: give an NNC dataset CSV file '
                "(or a folder of images)"
            )
        header, rows, row_numbers = self._read_csv(self.csv_path)
        self._setup(header, rows, row_numbers, self.csv_path.parent, variables, image_normalization, class_counts)
        self._prepare(cache, validate, cache_limit)

    # Reading the table --------------------------------------------------------------

    @staticmethod
    def _read_csv(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
        """The header, the data rows and their 1-based row numbers (blank lines are skipped)."""
        try:
            with open(path, encoding="utf-8-sig", newline="") as f:
                reader = csv.reader(f)
                try:
                    records = list(reader)
                except csv.Error as e:
                    raise DatasetError(f"{path}, row {reader.line_num}: not valid CSV: {e}") from None
        except FileNotFoundError:
            raise DatasetError(f'dataset file "{path}" not found') from None
        except UnicodeDecodeError as e:
            raise DatasetError(f'cannot read dataset file "{path}": it is not UTF-8 text ({e.reason})') from None
        except OSError as e:
            raise DatasetError(f'cannot read dataset file "{path}": {e.strerror or e}') from None
        if not records or not records[0]:
            raise DatasetError(f"{path}: the file is empty; its first row must be the header")
        rows, numbers = [], []
        for number, record in enumerate(records[1:], start=2):
            if record:  # a blank line: nothing to read
                rows.append(record)
                numbers.append(number)
        return records[0], rows, numbers

    def _setup(
        self,
        header: list[str],
        rows: list[list[str]],
        row_numbers: list[int],
        base_dir: Path,
        variables: Mapping[str, tuple[str, Sequence[int]]],
        image_normalization: bool,
        class_counts: Mapping[str, int] | None = None,
    ) -> None:
        self.columns = list(header)
        self.class_counts = {name: int(n) for name, n in (class_counts or {}).items() if name in variables}
        self._rows = rows
        self._row_numbers = row_numbers
        self._base_dir = base_dir
        self.image_normalization = bool(image_normalization)
        self._bindings = self._bind(header, variables)
        self._cache: dict[str, Any] | None = None  # per input, all samples: see _hold

    def _where(self, index: int | None, column: _Column | None = None) -> str:
        """Where a problem is: the file, the row (None: the header) and the column."""
        row = "row 1 (header)" if index is None else f"row {self._row_numbers[index]}"
        place = f"{self.csv_path}, {row}"
        return f'{place}, column "{column.text}"' if column is not None else place

    def _bind(self, header: list[str], variables: Mapping[str, tuple[str, Sequence[int]]]) -> tuple[_Binding, ...]:
        """Match every input to its header column(s); all header problems are reported together."""
        parsed = [_parse_header_cell(i, text) for i, text in enumerate(header)]
        problems, bindings = [], []
        for name, spec in variables.items():
            try:
                variable, shape = spec
                shape = tuple(int(d) for d in shape)
            except (TypeError, ValueError):
                raise TypeError(f"variables[{name!r}] must be (column name, shape), got {spec!r}") from None
            variable = variable.partition(":")[0]  # "y:label" names the variable "y"
            mine = [c for c in parsed if c.variable == variable]
            single = [c for c in mine if c.element is None]
            elements = sorted((c for c in mine if c.element is not None), key=lambda c: c.element)
            if not single and not elements:
                problems.append(
                    f'no column "{variable}" for input "{name}" (a header cell "{variable}", "{variable}:<label>" '
                    f'or vector cells "{variable}__0", "{variable}__1", ...); the header has: {_quote_all(header)}'
                )
            elif len(single) > 1 or (single and elements):
                both = [c.text for c in single + elements]
                problems.append(f'variable "{variable}" (input "{name}") has more than one column: {_quote_all(both)}')
            elif single:
                bindings.append(_Binding(name, shape, (single[0],), vector=False))
            else:
                indices = [c.element for c in elements]
                texts = [c.text for c in elements]
                if indices != list(range(len(elements))):
                    problems.append(
                        f'the vector columns of "{variable}" (input "{name}") must be numbered {variable}__0 to '
                        f"{variable}__{len(elements) - 1}, once each; the header has: {_quote_all(texts)}"
                    )
                elif len(elements) != math.prod(shape):
                    problems.append(
                        f'input "{name}" expects shape {_shape_text(shape)} ({math.prod(shape)} values), but the '
                        f'header has {len(elements)} columns for "{variable}": {_quote_all(texts)}'
                    )
                else:
                    bindings.append(_Binding(name, shape, tuple(elements), vector=True))
        if problems:
            raise DatasetError(self._summary([f"{self._where(None)}: {p}" for p in problems], len(problems)))
        return tuple(bindings)

    # Reading samples ----------------------------------------------------------------

    def _resolve(self, text: str) -> Path:
        path = Path(text.strip().replace("\\", "/"))
        return path if path.is_absolute() else self._base_dir / path

    def _read_image(self, text: str, binding: _Binding, decode: bool) -> np.ndarray | None:
        path = self._resolve(text)
        if not path.is_file():
            raise ValueError(f'image file "{text}" not found (looked for {path})')
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ValueError(
                f'image file "{text}" has more than {MAX_IMAGE_PIXELS} pixels: refused, unread (a decompression bomb?)'
            ) from None
        except UnidentifiedImageError:
            raise ValueError(f'cannot read image file "{text}": not an image format Pillow can read') from None
        except OSError as e:
            raise ValueError(f'cannot read image file "{text}": {e}') from None
        try:
            with image:
                mode = _image_mode(image)
                channels = Image.getmodebands(mode)
                width, height = image.size
                _check_image_shape(text, mode, channels, height, width, binding)
                if not decode:
                    return None
                pixels = _image_pixels(image, mode)
        except UnidentifiedImageError:
            raise ValueError(f'cannot read image file "{text}": not an image format Pillow can read') from None
        except OSError as e:
            raise ValueError(f'cannot read image file "{text}": {e}') from None
        if self.image_normalization:
            pixels = pixels * np.float32(1.0 / 255.0)
        return pixels.reshape(binding.shape)

    def _read_array(self, text: str, binding: _Binding) -> np.ndarray:
        path = self._resolve(text)
        if not path.is_file():
            raise ValueError(f'file "{text}" not found (looked for {path})')
        try:
            if path.suffix.lower() == ".npy":
                array = np.asarray(np.load(path, allow_pickle=False), dtype=np.float32)
            else:
                array = _read_matrix_csv(path)
        except (OSError, ValueError) as e:
            raise ValueError(f'cannot read "{text}": {e}') from None
        if array.size != binding.size:
            raise ValueError(
                f'"{text}" holds {array.size} values (shape {_shape_text(array.shape)}), but {binding.describe()} '
                f"({binding.size} values)"
            )
        return array.reshape(binding.shape)

    def _read_cell(self, text: str, binding: _Binding, decode: bool) -> np.ndarray | None:
        """One non-vector cell: a number, or an image / matrix file path."""
        extension = os.path.splitext(text.strip())[1].lower()
        if extension in IMAGE_EXTENSIONS:
            return self._read_image(text, binding, decode)
        if extension in ARRAY_EXTENSIONS:
            return self._read_array(text, binding)
        try:
            value = _parse_number(text)
        except ValueError as e:
            if binding.size == 1:
                raise
            kinds = "an image file (" + ", ".join(IMAGE_EXTENSIONS) + "), a .csv or .npy file"
            found = f'"{text}"' if text.strip() else "an empty cell"
            raise ValueError(f"expected {kinds} for {binding.describe()}, found {found}") from e
        if binding.size != 1:
            raise ValueError(f'{binding.describe()}, but the cell holds a single number "{text}"')
        return np.full(binding.shape, value, dtype=np.float32)

    def _read_row(self, index: int, decode: bool = True, problems: list[str] | None = None) -> dict[str, np.ndarray]:
        """The sample of row ``index`` as arrays (when ``decode``; else only checked).

        Problems raise DatasetError, or, when a ``problems`` list is given, are appended to it
        (every cell is checked).
        """
        row = self._rows[index]
        if len(row) != len(self.columns):
            cells = f"{len(row)} cell" + ("" if len(row) == 1 else "s")
            message = f"{self._where(index)}: {cells}, but the header has {len(self.columns)} columns"
            if problems is None:
                raise DatasetError(message)
            problems.append(message)
            return {}
        sample = {}
        for binding in self._bindings:
            column = binding.columns[0]
            try:
                if binding.vector:
                    values = []
                    for column in binding.columns:
                        values.append(_parse_number(row[column.position]))
                    sample[binding.name] = np.array(values, dtype=np.float32).reshape(binding.shape)
                else:
                    value = self._read_cell(row[column.position], binding, decode)
                    if value is not None:
                        sample[binding.name] = value
                if binding.name in self.class_counts and binding.name in sample:
                    _check_class_index(sample[binding.name], self.class_counts[binding.name], binding)
            except ValueError as e:
                message = f"{self._where(index, column)}: {e}"
                if problems is None:
                    raise DatasetError(message) from None
                problems.append(message)
        return sample

    # Checking and caching -----------------------------------------------------------

    def _summary(self, problems: list[str], total: int) -> str:
        if total == 1:
            return problems[0]
        shown = "" if total == len(problems) else f" (showing the first {len(problems)})"
        return f"{self._source()} has {total} problems{shown}:\n" + "\n".join(f"  - {p}" for p in problems)

    def _source(self) -> str:
        return f'dataset "{self.csv_path}"'

    def _scan(
        self, decode: bool, max_problems: int, store: Callable[[int, dict[str, np.ndarray]], None] | None = None
    ) -> tuple[list[str], int]:
        """Read (or only check) every row, handing each good sample to ``store``: the first problems and their total."""
        shown, total = [], 0
        for index in range(len(self._rows)):
            problems: list[str] = []
            sample = self._read_row(index, decode=decode, problems=problems)
            total += len(problems)
            shown.extend(problems[: max(0, max_problems - len(shown))])
            if store is not None and not problems:
                store(index, sample)
        return shown, total

    def check(self, max_problems: int = MAX_PROBLEMS) -> None:
        """Check every row (images: format, channels and size, without decoding them).

        Raises DatasetError listing the first ``max_problems`` problems and their total.
        """
        shown, total = self._scan(decode=False, max_problems=max_problems)
        if total:
            raise DatasetError(self._summary(shown, total))

    def _prepare(self, cache: bool, validate: bool, cache_limit: int) -> None:
        if not self._rows:
            raise DatasetError(f"{self._source()} has no samples")
        size = len(self._rows) * sum(b.size for b in self._bindings) * 4
        if cache and size > cache_limit:
            warnings.warn(
                f"{self._source()}: {size / 2**30:.1f} GiB of samples is more than the cache limit "
                f"({cache_limit / 2**30:.1f} GiB); samples are read from disk instead",
                stacklevel=3,
            )
            cache = False
        if cache:
            arrays = {b.name: np.empty((len(self._rows), *b.shape), dtype=np.float32) for b in self._bindings}

            def store(index: int, sample: dict[str, np.ndarray]) -> None:
                for name, array in sample.items():
                    arrays[name][index] = array

            shown, total = self._scan(decode=True, max_problems=MAX_PROBLEMS, store=store)
            if total:
                raise DatasetError(self._summary(shown, total))
            self._cache = self._hold(arrays)
        elif validate:
            self.check()

    def _hold(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        """The cache to keep, made of the (len, *shape) float32 arrays of every sample.

        A framework's subclass may keep them as its own tensors (sharing their memory, so
        that ``np.asarray`` still reads them, as ``arrays`` does) and then reads its items itself.
        """
        return arrays

    # The Dataset protocol -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        index = range(len(self._rows))[index]  # negative indices; IndexError past the end
        if self._cache is not None:
            return {name: np.array(array[index], dtype=np.float32) for name, array in self._cache.items()}
        sample = self._read_row(index)
        return {name: np.ascontiguousarray(array, dtype=np.float32) for name, array in sample.items()}

    @property
    def cached(self) -> bool:
        """Whether the samples are held in memory."""
        return self._cache is not None

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Each input's per-sample shape (NNC's layout: channels first), in the order of ``variables``."""
        return {b.name: b.shape for b in self._bindings}

    @property
    def arrays(self) -> dict[str, np.ndarray] | None:
        """The cached samples: per input a read-only (len, *shape) float32 array; None when not cached."""
        if self._cache is None:
            return None
        views = {}
        for name, array in self._cache.items():
            view = np.asarray(array).view()
            view.flags.writeable = False
            views[name] = view
        return views

    def __repr__(self) -> str:
        inputs = ", ".join(f"{b.name}: {_shape_text(b.shape)}" for b in self._bindings)
        return f"{type(self).__name__}({self._source()}, {len(self)} samples, {inputs})"


def _check_class_index(values: np.ndarray, classes: int, binding: _Binding) -> None:
    """A label of a categorical loss: whole numbers from 0 to classes - 1 (nothing is truncated)."""
    bad = values[(values != np.floor(values)) | (values < 0) | (values >= classes)]
    if bad.size:
        raise ValueError(
            f'label {float(bad.flat[0]):g} is not a class index of input "{binding.name}": expected a whole '
            f"number from 0 to {classes - 1} ({classes} classes)"
        )


def _check_image_shape(text: str, mode: str, channels: int, height: int, width: int, binding: _Binding) -> None:
    """An image must have the input's channels and size: (C, H, W), or (H, W) for grayscale."""
    shape = binding.shape
    if len(shape) == 3:
        want_channels, want_height, want_width = shape
    elif len(shape) == 2:
        want_channels, (want_height, want_width) = 1, shape
    else:
        raise ValueError(
            f'"{text}" is an image ({channels}x{height}x{width}), but {binding.describe()}; '
            "an image input has the shape channels x height x width"
        )
    if channels != want_channels:
        raise ValueError(
            f'image "{text}" has {channels} channel{"s" if channels != 1 else ""} (mode {mode}), but input '
            f'"{binding.name}" expects {want_channels} (shape {_shape_text(shape)})'
        )
    if (height, width) != (want_height, want_width):
        raise ValueError(
            f'image "{text}" is {height}x{width} (height x width), but input "{binding.name}" expects '
            f"{want_height}x{want_width} (shape {_shape_text(shape)}); NNC does not resize images while training: "
            "resize them when building the dataset"
        )


# --------------------------------------------------------------------------------------
# Image folders
# --------------------------------------------------------------------------------------


class ImageFolderDataset(NNCDataset):
    """Images in ``root/<class name>/<image file>``, read as NNC's image classification CSV.

    NNC's "create image classification dataset" tool turns such a folder into a CSV with the
    header ``x:image,y:label``: class folders sorted by name get the indices 0, 1, ... (a
    folder without images gets none), the image files of each folder are sorted by name,
    subfolders are not searched. This dataset reads the folder the same way, so
    ``variables`` names the columns ``x`` (the image) and ``y`` (the class index), e.g.
    ``{"image": ("x", (3, 32, 32)), "label": ("y", (1,))}``. Items, options and errors are
    those of NNCDataset. ``classes`` lists the class names by index.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        variables: Mapping[str, tuple[str, Sequence[int]]],
        image_normalization: bool = False,
        cache: bool = True,
        *,
        validate: bool = True,
        cache_limit: int = DEFAULT_CACHE_LIMIT,
        class_counts: Mapping[str, int] | None = None,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f'image folder "{self.root}" not found')
        self.classes: list[str] = []
        self.samples: list[tuple[str, int]] = []  # (path relative to root, class index)
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            images = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            if images:
                self.samples.extend((f"{folder.name}/{name}", len(self.classes)) for name in images)
                self.classes.append(folder.name)
        if not self.samples:
            raise DatasetError(
                f'image folder "{self.root}" has no images in class folders (expected '
                f"{self.root}/<class name>/<image>, with the extensions {', '.join(IMAGE_EXTENSIONS)})"
            )
        label_input = next((n for n, (column, _) in variables.items() if column.partition(":")[0] == "y"), None)
        limit = (class_counts or {}).get(label_input)
        if limit is not None and len(self.classes) > limit:
            raise DatasetError(
                f'image folder "{self.root}" has {len(self.classes)} class folders ({", ".join(self.classes[:12])}'
                f'{", ..." if len(self.classes) > 12 else ""}), but input "{label_input}" has {limit} classes'
            )
        rows = [[path, str(label)] for path, label in self.samples]
        self._setup(["x:image", "y:label"], rows, [], self.root, variables, image_normalization, class_counts)
        self._prepare(cache, validate, cache_limit)

    def _where(self, index: int | None, column: _Column | None = None) -> str:
        if index is None:
            return f'image folder "{self.root}" (read as the CSV columns "x:image", "y:label")'
        return f'image folder "{self.root}"'

    def _source(self) -> str:
        return f'image folder "{self.root}"'


class ImageListDataset(NNCDataset):
    """Every image under a folder (sorted by path) as the one image input of a network."""

    def __init__(self, root: str | os.PathLike, variables: Mapping, image_normalization: bool = False) -> None:
        self.root = self.csv_path = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f'image folder "{self.root}" not found')
        images = sorted(
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not images:
            raise DatasetError(f'image folder "{self.root}" has no images ({", ".join(IMAGE_EXTENSIONS)})')
        if len(variables) != 1:
            raise DatasetError(f"a folder of images feeds a network with one input, not {len(variables)}")
        column = next(iter(variables.values()))[0]
        rows = [[path] for path in images]
        self._setup([f"{column}:image"], rows, list(range(2, len(rows) + 2)), self.root, variables, image_normalization)
        self._prepare(cache=False, validate=True, cache_limit=0)

    def _source(self) -> str:
        return f'image folder "{self.root}"'


# --------------------------------------------------------------------------------------
# NNC's output.csv (what infer.py writes)
# --------------------------------------------------------------------------------------


def output_columns(name: str, shape: Sequence[int]) -> list[str]:
    """NNC's output.csv names: the output's name for one value, name__i for the elements of a vector."""
    size = int(np.prod(shape)) if len(shape) else 1
    return [name] if size == 1 else [f"{name}__{i}" for i in range(size)]


def write_output_csv(
    path: Path, dataset: NNCDataset, outputs: Sequence[tuple[str, Sequence[int]]], values: np.ndarray
) -> None:
    """NNC's output.csv: the columns that name each sample (the dataset's inputs read from one
    cell: image paths, numbers; else its index), then every output's values (`values`: one row
    per sample, the outputs flattened and side by side, as `outputs` (name, shape) lists them)."""
    columns = [b.columns[0] for b in dataset._bindings if not b.vector]
    if columns:
        header = [c.text for c in columns]
        labels = [[row[c.position] for c in columns] for row in dataset._rows]
    else:
        header, labels = ["index"], [[str(i)] for i in range(len(dataset))]
    for name, shape in outputs:
        header += output_columns(name, shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for label, row in zip(labels, values, strict=True):
            writer.writerow([*label, *(f"{v:.8g}" for v in row)])


# --------------------------------------------------------------------------------------
# Sample orders
# --------------------------------------------------------------------------------------


def epoch_order(size: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of the sample indices 0..size-1 in ``epoch`` of a run seeded with ``seed``.

    It is ``numpy.random.default_rng([seed, epoch]).permutation(size)`` (int64): a function of
    (seed, epoch) alone, so every epoch has its own order, a run resumed at epoch k sees the
    orders of the run it continues, and every process of a distributed run sees the same
    ones. ``seed`` and ``epoch`` are integers >= 0.
    """
    if seed < 0 or epoch < 0:
        raise ValueError(f"seed and epoch must be 0 or more, got seed={seed}, epoch={epoch}")
    return np.random.default_rng([int(seed), int(epoch)]).permutation(int(size)).astype(np.int64)
