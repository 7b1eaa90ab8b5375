"""load_dataset: every source kind on tiny generated files, and every refusal's message."""
import gzip
import struct

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vaelab.data.sources import BUILTINS, load_dataset, looks_like_table, read_table
from vaelab.errors import DataError


def idx_bytes(arr: np.ndarray) -> bytes:
    """An IDX file as MNIST ships it: 00 00 type ndim, big-endian int32 dims, data."""
    codes = {np.dtype("u1"): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}
    header = bytes([0, 0, codes[arr.dtype], arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape)
    return header + arr.tobytes()


def save_images(folder, arrays, ext=".png"):
    folder.mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(arrays):
        Image.fromarray(a).save(folder / f"img{i:02d}{ext}")


# ---------------------------------------------------------------- formats


def test_npy_2d_keeps_float32_memmap_without_copy(tmp_path):
    X = np.random.default_rng(0).random((6, 5)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    ds = load_dataset(tmp_path / "x.npy")
    assert ds.X.shape == (6, 5) and ds.X.dtype == np.float32
    assert isinstance(ds.X, np.memmap)
    np.testing.assert_array_equal(ds.X, X)
    assert ds.y is None and ds.source == str((tmp_path / "x.npy").resolve())


def test_npy_3d_uint8_scaled_and_given_a_channel(tmp_path):
    X = np.arange(4 * 3 * 2, dtype=np.uint8).reshape(4, 3, 2) * 10
    X[0, 0, 0] = 255
    with open(tmp_path / "x.NPY", "wb") as f:  # np.save would append ".npy" to a path
        np.save(f, X)
    ds = load_dataset(str(tmp_path / "x.NPY"))
    assert ds.X.shape == (4, 1, 3, 2) and ds.X.dtype == np.float32
    assert ds.X.max() == 1.0
    np.testing.assert_allclose(ds.X[:, 0], X / 255, rtol=1e-6)


def test_npy_4d_channels_last_is_transposed(tmp_path):
    X = np.random.default_rng(1).random((3, 5, 4, 3))
    np.save(tmp_path / "x.npy", X)
    ds = load_dataset(tmp_path / "x.npy")
    assert ds.X.shape == (3, 3, 5, 4) and ds.X.dtype == np.float32 and ds.X.flags.c_contiguous
    np.testing.assert_allclose(ds.X, X.transpose(0, 3, 1, 2).astype(np.float32))


def test_npy_4d_channels_first_kept(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 6, 7)))
    assert load_dataset(tmp_path / "x.npy").X.shape == (2, 1, 6, 7)


def test_npz_with_labels(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.ones((4, 3)), y=np.array([2, 10, 2, 1]))
    ds = load_dataset(tmp_path / "d.npz")
    assert ds.X.shape == (4, 3)
    assert ds.classes == ("1", "2", "10")  # integers sort numerically
    np.testing.assert_array_equal(ds.y, [1, 2, 1, 0])
    assert ds.y.dtype == np.int64


def test_npz_label_key_and_single_data_array(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((3, 4, 4), np.uint8), target=np.array(["b", "a", "b"]))
    ds = load_dataset(tmp_path / "d.npz", label_column="target")
    assert ds.X.shape == (3, 1, 4, 4) and ds.classes == ("a", "b")
    np.testing.assert_array_equal(ds.y, [1, 0, 1])


def test_csv_with_label_column(tmp_path):
    pd.DataFrame({"a": [1, 2, 3], "species": ["cat", "dog", "cat"], "b": [0.5, 0.25, 1.0]}).to_csv(
        tmp_path / "t.csv", index=False
    )
    ds = load_dataset(tmp_path / "t.csv", label_column="species")
    assert ds.X.shape == (3, 2) and ds.X.dtype == np.float32
    np.testing.assert_allclose(ds.X, [[1, 0.5], [2, 0.25], [3, 1.0]])
    assert ds.classes == ("cat", "dog")
    np.testing.assert_array_equal(ds.y, [0, 1, 0])


def test_csv_without_header_keeps_first_row(tmp_path):
    (tmp_path / "t.csv").write_text("1,2\n3,4\n5,6\n")
    assert load_dataset(tmp_path / "t.csv").X.shape == (3, 2)
    np.savetxt(tmp_path / "s.csv", np.arange(12.0).reshape(4, 3), delimiter=",")  # NumPy's header-less floats
    assert load_dataset(tmp_path / "s.csv").X.shape == (4, 3)
    # A UTF-8 byte-order mark (Excel's "CSV UTF-8") made the first cell text, so the first row was taken for a
    # header: one example lost, and the file read as a table (an audit)
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf1.5,2.5\n3.5,4.5\n5.5,6.5\n")
    np.testing.assert_array_equal(load_dataset(tmp_path / "bom.csv").X[:, 0], [1.5, 3.5, 5.5])
    assert not looks_like_table(tmp_path / "bom.csv")


@pytest.mark.parametrize("values", ["floats", "integers"])
def test_a_numeric_header_is_a_header(tmp_path, values):
    """Issue 14 item 9: pandas' default header 0,1,...,8 was read as a data row (101 examples,
    every index shifted). Integer names over decimal data (wavelengths, years) are headers too."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 9)) if values == "floats" else rng.integers(0, 50, size=(100, 9))
    pd.DataFrame(X).to_csv(tmp_path / "t.csv", index=False)  # header 0,1,...,8
    assert (tmp_path / "t.csv").read_text().startswith("0,1,2,3,4,5,6,7,8\n")
    ds = load_dataset(tmp_path / "t.csv")
    assert ds.X.shape == (100, 9)
    np.testing.assert_allclose(ds.X, X.astype(np.float32), rtol=1e-6)
    frame = read_table(tmp_path / "t.csv")
    assert list(frame.columns) == [str(i) for i in range(9)] and len(frame) == 100
    pd.DataFrame(rng.random((5, 3)), columns=[400, 410, 420]).to_csv(tmp_path / "w.csv", index=False)
    assert list(read_table(tmp_path / "w.csv").columns) == ["400", "410", "420"]


@pytest.mark.parametrize("ext", [".parquet", ".pq"])
def test_parquet(tmp_path, ext):
    df = pd.DataFrame({"x0": np.arange(5, dtype=np.int64), "x1": np.linspace(0, 1, 5), "label": [0, 1, 0, 1, 1]})
    df.to_parquet(tmp_path / f"t{ext}", engine="pyarrow")
    ds = load_dataset(tmp_path / f"t{ext}", label_column="label")
    assert ds.X.shape == (5, 2) and ds.X.dtype == np.float32
    np.testing.assert_array_equal(ds.y, [0, 1, 0, 1, 1])
    assert ds.classes == ("0", "1")


@pytest.mark.parametrize("gz", [False, True])
def test_idx_images_and_labels(tmp_path, gz):
    images = np.random.default_rng(2).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    labels = np.array([3, 1, 3, 0, 1], dtype=np.uint8)
    suffix = ".gz" if gz else ""
    write = gzip.compress if gz else bytes
    images_file = tmp_path / f"train-images-idx3-ubyte{suffix}"
    labels_file = tmp_path / f"train-labels-idx1-ubyte{suffix}"
    images_file.write_bytes(write(idx_bytes(images)))
    labels_file.write_bytes(write(idx_bytes(labels)))
    ds = load_dataset(images_file, labels=labels_file)
    assert ds.X.shape == (5, 1, 4, 3) and ds.X.dtype == np.float32
    np.testing.assert_allclose(ds.X[:, 0], images / 255, rtol=1e-6)
    assert ds.classes == ("0", "1", "3")
    np.testing.assert_array_equal(ds.y, [2, 1, 2, 0, 1])


def test_idx_found_by_magic_number_and_big_endian_values(tmp_path):
    X = np.arange(6, dtype=">f4").reshape(3, 2)
    (tmp_path / "renamed.bin").write_bytes(idx_bytes(X))
    ds = load_dataset(tmp_path / "renamed.bin")
    np.testing.assert_array_equal(ds.X, [[0, 1], [2, 3], [4, 5]])


def test_folder_of_grey_pngs(tmp_path):
    arrays = [np.full((5, 4), 50 * i, np.uint8) for i in range(3)]
    save_images(tmp_path / "imgs", arrays)
    ds = load_dataset(tmp_path / "imgs")
    assert ds.X.shape == (3, 1, 5, 4) and ds.y is None
    np.testing.assert_allclose(ds.X[:, 0, 0, 0], [0, 50 / 255, 100 / 255], rtol=1e-6)


def test_folder_of_rgb_jpegs(tmp_path):
    arrays = [np.full((6, 8, 3), 255, np.uint8) for _ in range(2)]
    save_images(tmp_path / "imgs", arrays, ext=".JPG")
    ds = load_dataset(tmp_path / "imgs")
    assert ds.X.shape == (2, 3, 6, 8) and ds.X.dtype == np.float32
    assert ds.X.min() >= 0.95 and ds.X.max() <= 1.0


def test_folder_mixing_grey_and_rgb_is_refused_naming_files_of_each(tmp_path):
    # it became RGB without a word, every grey image read three times over (an audit, s12): refused with the remedy
    save_images(tmp_path / "imgs", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.uint8)])
    with pytest.raises(DataError, match=r"1 greyscale image \(\S+\) and 1 colour image \(\S+\).*convert\('L'\)"):
        load_dataset(tmp_path / "imgs")


def test_folder_with_class_subfolders(tmp_path):
    save_images(tmp_path / "pets" / "dogs", [np.zeros((3, 3), np.uint8)] * 2)
    save_images(tmp_path / "pets" / "cats", [np.zeros((3, 3), np.uint8)] * 3)
    ds = load_dataset(tmp_path / "pets")
    assert ds.X.shape == (5, 1, 3, 3)
    assert ds.classes == ("cats", "dogs")
    np.testing.assert_array_equal(ds.y, [0, 0, 0, 1, 1])


def test_labels_from_txt_and_csv_files(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    (tmp_path / "l.txt").write_text("b\na\nb\n")
    ds = load_dataset(tmp_path / "x.npy", labels=tmp_path / "l.txt")
    assert ds.classes == ("a", "b")
    np.testing.assert_array_equal(ds.y, [1, 0, 1])
    pd.DataFrame({"id": [1, 2, 3], "digit": [7, 7, 9]}).to_csv(tmp_path / "l.csv", index=False)
    ds = load_dataset(tmp_path / "x.npy", labels=tmp_path / "l.csv", label_column="digit")
    assert ds.classes == ("7", "9")
    np.testing.assert_array_equal(ds.y, [0, 0, 1])


def test_builtin_mnist5k():
    ds = load_dataset("mnist5k")
    assert ds.X.shape == (5000, 1, 28, 28) and ds.X.dtype == np.float32
    assert ds.X.min() >= 0.0 and ds.X.max() <= 1.0 and ds.X.max() == 1.0
    assert ds.classes == tuple(str(d) for d in range(10))
    np.testing.assert_array_equal(np.bincount(ds.y), [500] * 10)
    assert ds.source == "mnist5k"


def test_builtin_digits():
    ds = load_dataset("digits")
    assert ds.X.shape == (1797, 1, 8, 8) and ds.X.dtype == np.float32
    assert ds.X.min() == 0.0 and ds.X.max() == 1.0
    assert ds.n_classes == 10 and ds.y.dtype == np.int64 and ds.source == "digits"
    assert set(BUILTINS) == {"mnist5k", "digits"}


# ---------------------------------------------------------------- refusals


def test_nan_refused_with_count_and_first_example(tmp_path):
    X = np.zeros((5, 3), np.float32)
    X[2, 1] = X[4, 0] = np.nan
    np.save(tmp_path / "x.npy", X)
    with pytest.raises(DataError, match=r"2 NaN and 0 infinite value\(s\); the first is in example 2"):
        load_dataset(tmp_path / "x.npy")


def test_inf_refused(tmp_path):
    pd.DataFrame({"a": [1.0, 2.0, np.inf]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"0 NaN and 1 infinite value\(s\); the first is in example 2"):
        load_dataset(tmp_path / "t.csv")


def test_empty_csv_file_refused(tmp_path):
    (tmp_path / "t.csv").write_text("")
    with pytest.raises(DataError, match="is empty"):
        load_dataset(tmp_path / "t.csv")


def test_header_only_csv_refused(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="holds no data"):
        load_dataset(tmp_path / "t.csv")


def test_empty_npy_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((0, 4), np.float32))
    with pytest.raises(DataError, match=r"holds no data \(shape \(0, 4\)\)"):
        load_dataset(tmp_path / "x.npy")


def test_1d_npy_refused_with_labels_hint(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(5.0))
    with pytest.raises(DataError, match=r"got a 1-D array of shape \(5,\).*--labels"):
        load_dataset(tmp_path / "x.npy")


def test_5d_npy_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 1, 1, 1)))
    with pytest.raises(DataError, match="got a 5-D array"):
        load_dataset(tmp_path / "x.npy")


def test_text_in_numeric_csv_names_column_and_row_but_not_the_value(tmp_path):
    """The cell is never echoed (issue 14): the file may be private and messages end up in logs."""
    pd.DataFrame({"a": [1, 2, 3], "colour": ["1.5", "2", "Jane Doe"]}).to_csv(tmp_path / "t.csv", index=False)
    expected = r"Column 'colour' of t.csv must hold numbers; row 2 \(line 4 of the file\) holds text that is not a number"
    with pytest.raises(DataError, match=expected + r".*--label-column colour") as err:
        load_dataset(tmp_path / "t.csv")
    assert "Jane" not in str(err.value)


def test_missing_label_column_lists_columns(tmp_path):
    pd.DataFrame({"a": [1, 2]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"no column 'label'.*\['a'\]"):
        load_dataset(tmp_path / "t.csv", label_column="label")


def test_labels_of_wrong_length(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 2)))
    np.save(tmp_path / "y.npy", np.array([0, 1, 0]))
    with pytest.raises(DataError, match=r"expected 4 labels \(one per example\), got 3"):
        load_dataset(tmp_path / "x.npy", labels=tmp_path / "y.npy")


def test_missing_label_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    (tmp_path / "l.txt").write_text("a\n\nb\n")
    with pytest.raises(DataError, match="Label of example 1 in l.txt is missing"):
        load_dataset(tmp_path / "x.npy", labels=tmp_path / "l.txt")


def test_images_of_mixed_sizes_named(tmp_path):
    save_images(tmp_path / "imgs", [np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8), np.zeros((5, 4), np.uint8)])
    with pytest.raises(DataError, match=r"img00.png is 4x4 \(width x height\) but img02.png is 4x5"):
        load_dataset(tmp_path / "imgs")


def test_empty_folder_refused(tmp_path):
    (tmp_path / "imgs").mkdir()
    with pytest.raises(DataError, match="holds no .png/.jpg/.jpeg images"):
        load_dataset(tmp_path / "imgs")


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_idx_refused(tmp_path, gz):
    data = idx_bytes(np.zeros((3, 4, 4), np.uint8))[:-5]
    name = "t10k-images-idx3-ubyte" + (".gz" if gz else "")
    (tmp_path / name).write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DataError, match=r"is truncated: its header promises shape \(3, 4, 4\)"):
        load_dataset(tmp_path / name)


def test_1d_idx_as_data_refused(tmp_path):
    (tmp_path / "labels.idx").write_bytes(idx_bytes(np.array([1, 2], np.uint8)))
    with pytest.raises(DataError, match="1-D IDX file, i.e. labels; pass it with --labels"):
        load_dataset(tmp_path / "labels.idx")


def test_object_npy_refused_without_unpickling(tmp_path):
    np.save(tmp_path / "x.npy", np.array([[1, "a"], [None, 2]], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="cannot be read without unpickling"):
        load_dataset(tmp_path / "x.npy")


def test_unknown_extension_lists_supported_kinds(tmp_path):
    (tmp_path / "data.xlsx").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DataError, match=r"unsupported kind of file\. Supported: \.npy, .*mnist5k, digits"):
        load_dataset(tmp_path / "data.xlsx")


def test_missing_file_names_path_and_suggests_builtin(tmp_path):
    with pytest.raises(DataError, match=r"Data file not found: .*nope\.npy"):
        load_dataset(tmp_path / "nope.npy")
    with pytest.raises(DataError, match="Did you mean the built-in data set 'mnist5k'"):
        load_dataset("mnist")


def test_label_column_for_a_source_without_columns_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    with pytest.raises(DataError, match="has no columns"):
        load_dataset(tmp_path / "x.npy", label_column="y")


def test_numeric_files_with_named_columns_are_tables(tmp_path):
    """Issue 17 item 4: a numeric CSV/Parquet with a header is a table (names kept, columns scaled);
    header-less numbers and wide numeric files stay matrices."""
    from vaelab.data.sources import MAX_TABLE_COLUMNS, looks_like_table

    rng = np.random.default_rng(0)
    pd.DataFrame(rng.normal(size=(20, 9))).to_csv(tmp_path / "default_names.csv", index=False)
    pd.DataFrame(rng.normal(size=(20, 3)), columns=["a", "b", "c"]).to_csv(tmp_path / "named.csv", index=False)
    pd.DataFrame(rng.normal(size=(20, 3)), columns=["a", "b", "c"]).to_parquet(tmp_path / "named.parquet")
    np.savetxt(tmp_path / "bare.csv", rng.normal(size=(20, 3)), delimiter=",")
    wide = MAX_TABLE_COLUMNS + 1
    pd.DataFrame(rng.random((5, wide)), columns=[f"p{i}" for i in range(wide)]).to_csv(tmp_path / "wide.csv", index=False)
    pd.DataFrame(rng.random((5, wide)), columns=[f"p{i}" for i in range(wide)]).to_parquet(tmp_path / "wide.parquet")
    assert [looks_like_table(tmp_path / f) for f in ("default_names.csv", "named.csv", "named.parquet")] == [True] * 3
    assert [looks_like_table(tmp_path / f) for f in ("bare.csv", "wide.csv", "wide.parquet")] == [False] * 3


@pytest.mark.parametrize("header, repeated", [("a,b,a", "['a']"), ("\ufeffa,b,a,b", "['a', 'b']")])
def test_repeated_column_names_in_a_csv_header_are_refused(tmp_path, header, repeated):
    """pandas renames a repeated 'a' to 'a.1' without a word; vaelab.TableVAE refuses such a table, and so do files."""
    path = tmp_path / "dup.csv"
    path.write_text(header + "\n" + "\n".join(",".join(["1"] * len(header.split(","))) for _ in range(3)) + "\n",
                    encoding="utf-8")
    for read in (read_table, load_dataset):
        with pytest.raises(DataError, match=r"Column names must be distinct; dup.csv names the column\(s\) "
                                             + repeated.replace("[", r"\[").replace("]", r"\]")):
            read(path)



@pytest.mark.parametrize("text, said", [
    ("age,city,score\n" + "".join(f"{20 + i},Oslo,0.{i},\n" for i in range(30)), "rows hold more cells than its header's 3"),
    ("age;city;score\n" + "".join(f"{20 + i};Oslo;0.{i}\n" for i in range(30)), "one name holding ';'"),
    ("age\tcity\n" + "".join(f"{20 + i}\tOslo\n" for i in range(30)), "one name holding '\\\\t'"),
])
def test_a_csv_that_does_not_read_as_comma_separated_columns_is_refused(tmp_path, text, said):
    """Rows ended by a comma made pandas take each row's first cell as its index and shift every column (an audit:
    'score' was then refused as "entirely missing", and --ignore score trained on ages filed under nothing and cities
    under 'age'); a file separated by ';' was trained as one column of text."""
    path = tmp_path / "odd.csv"
    path.write_text(text, encoding="utf-8")
    for read in (read_table, load_dataset):
        with pytest.raises(DataError, match=r"odd.csv does not read as comma-separated columns: .*" + said):
            read(path)


def test_a_marker_that_reads_as_a_number_marks_the_same_cells_of_a_parquet_as_of_its_csv(tmp_path):
    """An audit: --missing-values -999 read a CSV's -999 and -999.0 cells as missing (pandas' na_values), while a
    Parquet of the same rows kept its int64 and float64 -999s as values, so a run trained on one file modelled the
    other's sentinels as numbers (and scored them as far out of range)."""
    df = pd.DataFrame({"f": [1.5, -999.0, 2.0, 3.0], "i": [1, -999, 2, 3], "n": pd.array([1, -999, None, 3], "Int64"),
                       "t": ["x", "-999", "y", "z"], "b": [True, False, True, True]})  # fmt: skip
    df.to_csv(tmp_path / "m.csv", index=False)
    df.to_parquet(tmp_path / "m.parquet", index=False)
    csv, parquet = read_table(tmp_path / "m.csv", ("-999",)), read_table(tmp_path / "m.parquet", ("-999",))
    for name in df.columns:
        assert csv[name].isna().tolist() == parquet[name].isna().tolist(), name
    assert parquet.loc[1, ["f", "i", "n", "t"]].isna().all() and parquet["b"].tolist() == df["b"].tolist()
    np.testing.assert_array_equal(parquet["i"].to_numpy(np.float64)[[0, 2, 3]], [1, 2, 3])
    unmarked = read_table(tmp_path / "m.parquet", ("?",))  # a marker that is no number leaves number columns alone
    assert unmarked["i"].dtype == np.int64 and unmarked["f"].tolist() == df["f"].tolist()


def test_a_parquet_text_column_of_true_and_false_reads_as_booleans_as_its_csv_does(tmp_path):
    """An audit: a Parquet column of the texts 'True'/'False' was a categorical of two labels where the CSV of the
    same rows was boolean (pandas reads such CSV cells, any case, as booleans), so a table run's schema depended on
    the file format. Missing cells and a marker read as missing keep the rest boolean; padded text stays text."""
    df = pd.DataFrame({"a": ["True", "False", "TRUE", "false"], "m": ["True", None, "False", "?"],
                       "p": [" True", "False", "True", "False"], "t": ["True", "no", "False", "True"]})  # fmt: skip
    df.to_csv(tmp_path / "b.csv", index=False)
    df.to_parquet(tmp_path / "b.parquet", index=False)
    csv, parquet = read_table(tmp_path / "b.csv", ("?",)), read_table(tmp_path / "b.parquet", ("?",))
    for name in df.columns:
        assert str(parquet[name].dtype) == str(csv[name].dtype), name
        assert parquet[name].tolist() == csv[name].tolist() or name == "m", name
    assert parquet["a"].tolist() == [True, False, True, False]
    assert parquet["m"].tolist()[0::2] == [True, False] and parquet["m"].isna().tolist() == [False, True, False, True]
    assert parquet["p"].tolist() == df["p"].tolist() and parquet["t"].tolist() == df["t"].tolist()


def test_a_parquet_text_column_of_true_false_and_na_is_boolean_with_missing_cells_as_its_csv(tmp_path):
    """An audit (s15): a Parquet text column of 'True'/'False'/'NA' trained as three categories (training keeps pandas'
    missing spellings of a Parquet file as text) where its CSV is boolean with missing values. Beside True/False those
    spellings are missing cells, at training as in later reads; a run that holds 'NA' as a category of the column (one
    trained as three categories) reads it so; a column of 'NA' alone stays text."""
    from vaelab.data.sources import PANDAS_MISSING

    df = pd.DataFrame({"f": ["True", "NA", "False", "", "nan", "True"], "n": ["NA", "NA", "", "NA", "NA", "NA"],
                       "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})  # fmt: skip
    df.to_csv(tmp_path / "b.csv", index=False)
    df.to_parquet(tmp_path / "b.parquet", index=False)
    csv = read_table(tmp_path / "b.csv")
    for kept in (PANDAS_MISSING, ()):  # training keeps every spelling in text; a later read those the run holds
        parquet = read_table(tmp_path / "b.parquet", kept=kept)
        assert parquet["f"][[0, 2, 5]].tolist() == csv["f"][[0, 2, 5]].tolist() == [True, False, True], kept
        assert parquet["f"].isna().tolist() == csv["f"].isna().tolist() == [False, True, False, True, True, False]
    assert read_table(tmp_path / "b.parquet", kept=PANDAS_MISSING)["n"].tolist() == df["n"].tolist()
    held = read_table(tmp_path / "b.parquet", kept=PANDAS_MISSING, text={"f": ("", "NA", "nan")})
    assert held["f"].tolist() == df["f"].tolist()


def test_a_parquet_reads_pandas_missing_spellings_as_missing_as_its_csv_does(tmp_path):
    """An audit: a Parquet file's text cells '', 'NA' and 'null' stayed text (categories) while the CSV of the same
    rows read them as missing (pandas' default na_values), so the same data was read two ways. A text column stays
    text once they are missing (a Parquet column stored as text is text); a spelling kept (an older run's category)
    stays text."""
    df = pd.DataFrame({"a": ["x", "", "NA", "null", "y"], "n": ["1", "2", "N/A", "4", "5"],
                       "c": pd.Categorical(["u", "NA", "v", "u", "v"])})  # fmt: skip
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet", index=False)
    csv, parquet = read_table(tmp_path / "t.csv"), read_table(tmp_path / "t.parquet")
    for name in df.columns:
        assert csv[name].isna().tolist() == parquet[name].isna().tolist(), name
    assert parquet["a"].tolist()[0::4] == ["x", "y"] and parquet["n"].tolist()[:2] == ["1", "2"]
    assert list(parquet["c"].cat.categories) == ["u", "v"]
    kept = read_table(tmp_path / "t.parquet", kept=("NA",))
    assert kept["a"].tolist()[2] == "NA" and kept["c"].tolist()[1] == "NA" and kept["a"].isna().sum() == 2


def test_a_csv_reads_a_runs_text_columns_as_text_as_its_parquet_holds_them(tmp_path):
    """An audit (s13): a run trained on a Parquet file holds a text column of digits ('00104', '1') as categories; the
    CSV of the same rows read them as the numbers 104 and 1.0, so every row of it was "not seen in training". text=
    names a run's text columns: read as text, each keeping as text the missing spellings it holds as categories."""
    df = pd.DataFrame({"zip": ["00104", "00220", "", "00104"], "c": ["u", "NA", "v", "NA"], "a": ["x", "NA", "y", "z"],
                       "v": ["1", "NA", "3", "4"]})  # fmt: skip
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet", index=False)
    plain = read_table(tmp_path / "t.csv")
    assert plain["zip"].tolist()[:2] == [104, 220]
    text = read_table(tmp_path / "t.csv", text={"zip": (), "c": ("NA",), "nope": ()})
    parquet = read_table(tmp_path / "t.parquet", kept=("NA",))
    assert text["zip"].tolist()[:2] == ["00104", "00220"] and text["zip"].isna().tolist() == [False, False, True, False]
    assert text["zip"].tolist()[:2] == parquet["zip"].tolist()[:2]
    assert text["c"].tolist() == ["u", "NA", "v", "NA"]  # a spelling the run holds as a category stays text there
    assert text["a"].isna().tolist() == [False, True, False, False] and text["v"].isna().sum() == 1  # and nowhere else
    assert text["v"].dropna().tolist() == [1, 3, 4]


def test_a_parquet_files_named_index_is_a_column_as_in_its_csv(tmp_path):
    """An audit: a frame with a DatetimeIndex 'date' written to Parquet lost its dates (pandas restores them as the
    index), so --time date was "not a column of the data", while the CSV of the same frame holds the column. An
    unnamed index is row numbers, left out as before; an index named as a column is refused, naming it."""
    from vaelab.data.sources import read_series

    df = pd.DataFrame({"x": np.arange(4.0)}, index=pd.date_range("2020-01-01", periods=4, name="date"))
    df.to_parquet(tmp_path / "s.parquet")
    df.to_csv(tmp_path / "s.csv")
    parquet, csv = read_series(tmp_path / "s.parquet"), read_series(tmp_path / "s.csv")
    assert list(parquet.columns) == list(csv.columns) == ["date", "x"]
    assert pd.to_datetime(csv["date"]).tolist() == parquet["date"].tolist()
    df.reset_index(drop=True).set_axis([3, 5, 7, 9]).to_parquet(tmp_path / "u.parquet")
    assert list(read_table(tmp_path / "u.parquet").columns) == ["x"]
    df.rename_axis("x").to_parquet(tmp_path / "d.parquet")
    with pytest.raises(DataError, match=r"names the column\(s\) \['x'\] more than once"):
        read_table(tmp_path / "d.parquet")


def test_a_parquet_label_column_keeps_its_texts_as_classes(tmp_path):
    """pandas' missing spellings are read as missing in table and series reads; an array run's Parquet labels stay
    as they were read ('None' a class), so a run trained before reads its own file as it was trained."""
    df = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "y": ["None", "cat", "None", "cat"]})
    df.to_parquet(tmp_path / "l.parquet", index=False)
    assert load_dataset(tmp_path / "l.parquet", label_column="y").classes == ("None", "cat")


def test_a_parquet_categorical_of_true_and_false_reads_as_booleans_as_its_csv_does(tmp_path):
    """An audit: a Parquet categorical (dictionary) column of 'True'/'False' stayed categorical while the CSV of the
    same cells was boolean."""
    df = pd.DataFrame({"b": pd.Categorical(["True", "False", "True", None]), "k": pd.Categorical(["True", "no", "no", "no"])})
    df.to_csv(tmp_path / "b.csv", index=False)
    df.to_parquet(tmp_path / "b.parquet", index=False)
    csv, parquet = read_table(tmp_path / "b.csv"), read_table(tmp_path / "b.parquet")
    assert parquet["b"].tolist()[:3] == csv["b"].tolist()[:3] == [True, False, True] and parquet["b"].isna().tolist() == [False] * 3 + [True]
    assert isinstance(parquet["k"].dtype, pd.CategoricalDtype)  # another value: labels, as they were


def test_a_series_npy_reads_a_number_marker_as_missing_as_its_csv_does(tmp_path):
    """A series run's --missing-values -999 read a CSV's and a Parquet's -999 cells as missing but left an .npy's as
    values, so the same series trained as NaN-filled from one file and as -999s from the other."""
    from vaelab.data.sources import read_series

    values = np.arange(12.0).reshape(6, 2)
    values[2, 1] = -999
    np.save(tmp_path / "s.npy", values)
    np.save(tmp_path / "i.npy", values.astype(np.int64))
    pd.DataFrame(values, columns=["a", "b"]).to_csv(tmp_path / "s.csv", index=False)
    expected = read_series(tmp_path / "s.csv", ("-999",)).to_numpy()
    assert np.isnan(expected[2, 1]) and np.isnan(expected).sum() == 1
    for name in ("s.npy", "i.npy"):
        np.testing.assert_array_equal(read_series(tmp_path / name, ("-999", "?")), expected)
    assert read_series(tmp_path / "i.npy", ("?",)).dtype == np.int64  # no number marker: the array as it is
