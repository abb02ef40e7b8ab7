"""`nndsl export` writes a dataset's NumData as NNC does: its CSV's data rows where the CSV is
there, 0 (NNC's "not known") where it is not."""

from nndsl.compiler import compile_file
from nndsl.nnc.export import Exporter
from nndsl.nnc.sdcproj_write import sdcproj_text

SPEC = """
network Training {
    x = Input(2, dataset="x")
    t = Input(1, dataset="y")
    loss = x -> fc: Affine(1) -> SquaredError(t)
}

dataset training = "data/train.csv"
"""


def _num_data(tmp_path) -> list[str]:
    result = compile_file(tmp_path / "spec.nnd", text=SPEC)
    assert result.ok, [str(d) for d in result.diagnostics]
    text = sdcproj_text(Exporter(result).export())
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("NumData=")]


def test_num_data_counts_the_csvs_rows_or_is_zero_without_it(tmp_path):
    assert _num_data(tmp_path) == ["0"]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("x__0,x__1,y\n1,2,3\n4,5,6\n\n7,8,9\n", encoding="utf-8")
    assert _num_data(tmp_path) == ["3"]


def test_num_data_reads_nothing_outside_the_specs_folder(tmp_path):
    """A dataset path that leaves the spec's folder is never opened: NumData stays 0."""
    outside = tmp_path / "outside.csv"
    outside.write_text("x__0,x__1,y\n1,2,3\n", encoding="utf-8")
    (tmp_path / "spec").mkdir()
    text = SPEC.replace('"data/train.csv"', '"../outside.csv"')
    result = compile_file(tmp_path / "spec" / "spec.nnd", text=text)
    assert result.ok, [str(d) for d in result.diagnostics]
    lines = sdcproj_text(Exporter(result).export()).splitlines()
    assert [line.split("=", 1)[1] for line in lines if line.startswith("NumData=")] == ["0"]


def test_rows_are_counted_across_read_chunks(tmp_path):
    """A CSV of long lines (chunk borders inside lines and between them) and a last line without its
    newline: every non-blank line counts once."""
    from nndsl.nnc.config_nnd import dataset_rows

    line = "1," * 300_000 + "2\n"  # 600 kB: two lines span a 1 MiB chunk's border
    path = tmp_path / "long.csv"
    path.write_text("a,b\n" + line * 5 + "\n\n" + line.rstrip("\n"), encoding="utf-8")
    assert dataset_rows(path, tmp_path) == 6
