"""Property-based fuzzing (issue 8) of every data loader, the config loader, the table and series
state readers, and `vaelab train`: whatever the input, the answer is a valid result or vaelab's
own error, never another exception and never a hang. Sized to run in well under a minute."""
import contextlib
import gzip
import io
import json
import math
import os
import struct
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from vaelab.checkpoint import RunConfig
from vaelab.cli import main
from vaelab.config import DataConfig, ModelConfig, TrainConfig, from_dict, to_dict
from vaelab.data.sources import load_dataset
from vaelab.data.table_demo import make_mixed_table
from vaelab.data.table_schema import TableSchema
from vaelab.data.table_transformer import TableTransformer
from vaelab.data.timeseries import SeriesScaler
from vaelab.data.trend import HANDLINGS, WindowCoder
from vaelab.errors import ConfigError, DataError, RunError

# VAELAB_FUZZ_SCALE=N runs N times as many examples, drawn at random; by default the draws are
# derandomized (the same on every run), so a test run never fails by luck on code outside this change.
SCALE = int(os.environ.get("VAELAB_FUZZ_SCALE", "1"))


def fuzz(n: int):
    return settings(max_examples=n * SCALE, deadline=None, database=None, derandomize=SCALE == 1,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])  # fmt: skip


FUZZ = fuzz(60)
SLOW_LIMIT_S = 20  # "never a hang": one load of a file of a few kB takes milliseconds


@contextlib.contextmanager
def folder():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def check_load(source, **kw):
    """load_dataset returns a valid Dataset or raises DataError; anything else fails the test."""
    start = time.perf_counter()
    try:
        ds = load_dataset(source, **kw)
    except DataError as e:
        assert str(e).strip() and "\n" not in str(e).strip(), repr(e)
        event("refused: " + " ".join(str(e).split()[1:6]))
        return None
    finally:
        assert time.perf_counter() - start < SLOW_LIMIT_S
    X = ds.X
    assert isinstance(X, np.ndarray) and X.dtype == np.float32
    assert X.ndim in (2, 4) and X.shape[0] >= 1 and min(X.shape) >= 1, X.shape
    assert X.ndim == 2 or X.shape[1] in (1, 3), X.shape
    assert np.isfinite(X).all()
    event("loaded")
    if ds.y is not None:
        assert ds.y.dtype == np.int64 and ds.y.shape == (X.shape[0],)
        assert 0 <= ds.y.min() and ds.y.max() < len(ds.classes)
    return ds


# ------------------------------------------------------------------ random bytes

MAGIC = [b"", b"\x93NUMPY", b"\x93NUMPY\x01\x00", b"PK\x03\x04", b"PK\x05\x06" + b"\x00" * 18, b"\x00\x00\x08\x03",
         b"\x00\x00\x0d\x02", b"\x1f\x8b\x08\x00", b"PAR1", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"a,b\n",
         b"\xef\xbb\xbf", b"\x80\x04\x95"]  # fmt: skip
SUFFIXES = [".npy", ".npz", ".csv", ".parquet", ".pq", ".idx", "-ubyte", ".idx.gz", "-ubyte.gz", ".gz", ".bin", ""]


@FUZZ
@given(suffix=st.sampled_from(SUFFIXES), magic=st.sampled_from(MAGIC), tail=st.binary(max_size=600))
def test_random_bytes_with_every_suffix(suffix, magic, tail):
    with folder() as d:
        path = d / f"data{suffix}"
        path.write_bytes(magic + tail)
        check_load(path)
        check_load(_csv(d, 2), labels=path)  # the same bytes as a labels file


@FUZZ
@given(names=st.lists(st.sampled_from(["a.png", "b.jpg", "c.jpeg", "k/d.png", "k/e.png", "j/f.jpg"]), min_size=1,
                      max_size=4, unique=True), magic=st.sampled_from(MAGIC), tail=st.binary(max_size=300))  # fmt: skip
def test_random_bytes_as_images(names, magic, tail):
    with folder() as d:
        for name in names:
            (d / name).parent.mkdir(exist_ok=True)
            (d / name).write_bytes(magic + tail)
        check_load(d)


# ------------------------------------------------------------------ .npy / .npz

DTYPES = st.one_of(
    hnp.scalar_dtypes(), hnp.byte_string_dtypes(max_len=3), hnp.unicode_string_dtypes(max_len=3),
    hnp.array_dtypes(max_size=2), st.just(np.dtype("f2")),
)  # fmt: skip
SHAPES = hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4)


def any_array(shapes=SHAPES):
    """Arrays of every dtype kind, object arrays (of picklable values) included."""
    objects = hnp.arrays(np.dtype(object), shapes, elements=st.one_of(st.integers(), st.text(max_size=3), st.none()))
    return st.one_of(hnp.arrays(DTYPES, shapes), objects)


def npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=arr.dtype.hasobject)
    return buf.getvalue()


# Arrays that are nearly right, so the accepting path is exercised too (NaN and inf included).
def _plausible(dtype):
    values = st.integers(0, 1) if dtype.kind == "b" else st.integers(0, 3)
    if dtype.kind == "f":  # 1e300 fits float64 only: beyond float32 it must be refused as infinite
        values = st.one_of(values, st.sampled_from([0.5, -1e3, float("nan"), float("inf")] + [1e300] * (dtype.itemsize == 8)))
    return hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_dims=5, min_side=1, max_side=4), elements=values)


PLAUSIBLE = st.sampled_from(["<f4", ">f8", "|u1", "<i2", "<i8", "|b1", "<f2", ">u4"]).map(np.dtype).flatmap(_plausible)


@FUZZ
@given(arr=st.one_of(any_array(), PLAUSIBLE), fortran=st.booleans())
def test_npy_of_any_dtype_and_shape(arr, fortran):
    with folder() as d:
        (d / "x.npy").write_bytes(npy_bytes(np.asfortranarray(arr) if fortran else arr))
        ds = check_load(d / "x.npy")
        if ds is not None:  # accepted: a numeric array of a supported rank, values kept (uint8 scaled to [0, 1])
            assert arr.dtype.kind in "biuf" and arr.ndim in (2, 3, 4) and ds.X.size == arr.size
            expected = arr.astype(np.float32) / (255 if arr.dtype == np.uint8 else 1)
            if arr.ndim == 4 and arr.shape[1] not in (1, 3):
                expected = expected.transpose(0, 3, 1, 2)
            np.testing.assert_allclose(ds.X, expected.reshape(ds.X.shape), rtol=1e-6)


@FUZZ
@given(
    descr=st.sampled_from(["<f4", ">f8", "|u1", "<i8", "|b1", "<c8", "|O", "<U2", "|V3", "<M8[s]", "garbage", "<f16"]),
    shape=st.one_of(st.lists(st.one_of(st.integers(0, 5), st.integers(2**30, 2**62), st.integers(-3, -1)),
                             max_size=5).map(tuple), st.sampled_from(["(", "[1]", "None", "'x'", "(1,) * 10**6"])),
    fortran=st.sampled_from(["False", "True", "1", "None"]), version=st.sampled_from([b"\x01\x00", b"\x02\x00", b"\x09\x00"]),
    body=st.one_of(st.binary(max_size=200), st.none()), garble=st.booleans(),
)  # fmt: skip
@example(descr="<f4", shape=(2**32, 2**32), fortran="False", version=b"\x01\x00", body=b"", garble=False)
def test_npy_with_forged_headers(descr, shape, fortran, version, body, garble):
    """Headers claiming shapes the file does not hold, unknown dtypes, and unparsable dicts."""
    if body is None:  # as many bytes as the header promises, where that is small
        small = isinstance(shape, tuple) and all(0 <= n <= 5 for n in shape)
        body = bytes(math.prod(shape) * np.dtype(descr).itemsize) if small and descr[1:] in ("f4", "f8", "u1", "i8", "b1") else b""
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}"
    if garble:
        header = header[: len(header) // 2]
    raw = header.encode("latin1")
    size = "<H" if version == b"\x01\x00" else "<I"
    with folder() as d:
        (d / "x.npy").write_bytes(b"\x93NUMPY" + version + struct.pack(size, len(raw)) + raw + body)
        check_load(d / "x.npy")
        check_load(_csv(d, 2), labels=d / "x.npy")


def _csv(d, n):
    path = d / "features.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i + 1}\n" for i in range(n)))
    return path


@FUZZ
@given(
    arrays=st.dictionaries(st.sampled_from(["X", "x", "data", "y", "labels", "target", "other", "a/b", ""]),
                           st.one_of(any_array(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3)),
                                     PLAUSIBLE),
                           max_size=3),
    label_column=st.sampled_from([None, "y", "target", "X", "missing"]),
    cut=st.one_of(st.none(), st.integers(1, 400)),
)  # fmt: skip
def test_npz_archives(arrays, label_column, cut):
    with folder() as d:
        buf = io.BytesIO()
        np.savez(buf, allow_pickle=True, **arrays) if any(a.dtype.hasobject for a in arrays.values()) else np.savez(buf, **arrays)
        raw = buf.getvalue()
        (d / "x.npz").write_bytes(raw if cut is None else raw[:-cut])
        check_load(d / "x.npz", label_column=label_column)


@FUZZ
@given(members=st.dictionaries(st.sampled_from(["X.npy", "y.npy", "X", "notes.txt", "../up.npy"]),
                               st.binary(max_size=200), min_size=1, max_size=3),
       header=st.booleans())  # fmt: skip
def test_npz_with_foreign_members(members, header):
    import zipfile

    with folder() as d:
        with zipfile.ZipFile(d / "x.npz", "w") as z:
            for name, data in members.items():
                z.writestr(name, (npy_bytes(np.ones((2, 2)))[:60] if header else b"") + data)
        check_load(d / "x.npz")


# --------------------------------------------------------------------- labels

LABELS = st.one_of(
    any_array(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4)),
    st.lists(st.one_of(NUMBER_OR_TEXT := st.one_of(st.integers(-5, 5), st.text(max_size=3), st.sampled_from(
        ["", " ", "nan", "1.0", "1.5", "10", "9", "b\xe9", "9" * 30, "1e300", "-0"]))), min_size=1, max_size=5).map(
        lambda v: np.array(v, dtype=object)),
)  # fmt: skip


@FUZZ
@given(labels=LABELS, n_delta=st.sampled_from([0, 0, 0, 1]), kind=st.sampled_from([".npy", ".txt", ".csv", ".idx", ".npz"]),
       label_column=st.sampled_from([None, None, "label", "0"]))  # fmt: skip
def test_labels_files_of_any_content(labels, n_delta, kind, label_column):
    n = max(1, (labels.shape[0] if labels.ndim else 1) + n_delta)
    with folder() as d:
        np.save(d / "x.npy", np.zeros((n, 2), np.float32))
        path = d / f"labels{kind}"
        if kind == ".npy":
            path.write_bytes(npy_bytes(labels))
        elif kind == ".txt":
            path.write_bytes("\n".join(map(str, labels.ravel())).encode("utf-8", "surrogatepass"))
        elif kind == ".csv":
            pd.DataFrame({"label": labels.ravel()}).to_csv(path, index=False)
        elif kind == ".idx":
            flat = np.asarray([hash(str(v)) % 256 for v in labels.ravel()], np.uint8)
            path.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">i", flat.size) + flat.tobytes())
        else:  # data and labels in one archive
            path = d / "xy.npz"
            buf = io.BytesIO()
            np.savez(buf, X=np.zeros((n, 2)), label=labels, allow_pickle=labels.dtype.hasobject)
            path.write_bytes(buf.getvalue())
            check_load(path, label_column=label_column or "label")
            return
        check_load(d / "x.npy", labels=path, label_column=label_column)


# ------------------------------------------------------------------------ CSV

NUMBER = st.one_of(st.integers(-(10**20), 10**20).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr))
CELL = st.one_of(
    NUMBER, NUMBER, NUMBER,
    st.sampled_from(["", "nan", "NaN", "inf", "-inf", "Infinity", "NA", "null", "None", "1e999", "0x1F", "1_0",
                     "True", "false", " 3 ", '"', '""', "'", ",", "\n", "\r", "\\", "\x00", "é", "\u2028", "٣"]),
    st.text(max_size=6),
)  # fmt: skip


@FUZZ
@given(
    header=st.one_of(st.none(), st.lists(st.one_of(st.text(max_size=4), st.sampled_from(["1", "2.5", "y", "a"])),
                                         min_size=1, max_size=4)),
    rows=st.lists(st.lists(CELL, min_size=0, max_size=5), min_size=0, max_size=6),
    quoting=st.booleans(), label_column=st.sampled_from([None, "y", "a", "1", ""]),
)  # fmt: skip
def test_csv_with_random_cells(header, rows, quoting, label_column):
    import csv

    with folder() as d:
        path = d / "x.csv"
        lines = ([header] if header is not None else []) + rows
        if quoting:
            with open(path, "w", newline="", encoding="utf-8") as f:
                csv.writer(f, quoting=csv.QUOTE_ALL).writerows(lines)
        else:  # joined raw: stray quotes and commas break the grid
            path.write_bytes("\n".join(",".join(line) for line in lines).encode("utf-8", "surrogatepass"))
        check_load(path, label_column=label_column)
        np.save(d / "x.npy", np.zeros((len(rows) or 1, 2)))
        check_load(d / "x.npy", labels=path, label_column=label_column)


@FUZZ
@given(text=st.text(max_size=200), encoding=st.sampled_from(["utf-8", "utf-16", "latin-1", "cp1252"]))
def test_csv_and_txt_of_random_text(text, encoding):
    with folder() as d:
        raw = text.encode(encoding, errors="replace")
        (d / "x.csv").write_bytes(raw)
        check_load(d / "x.csv")
        (d / "l.txt").write_bytes(raw)
        np.save(d / "x.npy", np.zeros((max(1, text.count("\n")), 2)))
        check_load(d / "x.npy", labels=d / "l.txt")


# -------------------------------------------------------------------- Parquet

PA_COLUMNS = st.sampled_from([
    pa.array([1.5, None, 3.0]), pa.array([1, 2, 3], pa.int8()), pa.array([True, False, None]),
    pa.array(["a", "b", None]), pa.array([b"\x00", b"\xff", b""]), pa.array([[1], [2, 3], None]),
    pa.array([{"x": 1}, {"x": 2}, None]), pa.array(["a", "b", "a"]).dictionary_encode(),
    pa.array([1, 2, 3]).dictionary_encode(), pa.array([0, 1, 2], pa.timestamp("s")),
    pa.array([0, 1, 2], pa.duration("ms")), pa.array([0, 1, 2], pa.date32()), pa.array([1.0, 2.0, 3.0], pa.float16()),
    pa.array([None, None, None], pa.null()), pa.array([10**18, -(10**18), 0], pa.int64()),
    pa.array([2**64 - 1, 0, 1], pa.uint64()), pa.array([float("inf"), 0.0, 1.0]),
    pa.array([1.25, 2.5, None], pa.float32()),
])  # fmt: skip


@FUZZ
@given(columns=st.lists(PA_COLUMNS, min_size=1, max_size=4), names=st.lists(st.text(max_size=3), min_size=4, max_size=4),
       rows=st.integers(0, 3), label_column=st.sampled_from([None, "y", "c0"]), cut=st.one_of(st.none(), st.integers(1, 60)))  # fmt: skip
def test_parquet_of_arrow_types(columns, names, rows, label_column, cut):
    names = [n if i else "c0" for i, n in enumerate(names)]
    assume(len(set(names[: len(columns)])) == len(columns))
    with folder() as d:
        table = pa.table({n: c.slice(0, rows) for n, c in zip(names, columns)})
        buf = io.BytesIO()
        pq.write_table(table, buf)
        raw = buf.getvalue()
        (d / "x.parquet").write_bytes(raw if cut is None else raw[:-cut])
        check_load(d / "x.parquet", label_column=label_column)


# ------------------------------------------------------------------------ IDX


@FUZZ
@given(
    type_byte=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0x0A, 0xFF]),
    dims=st.lists(st.one_of(st.integers(0, 4), st.integers(1, 4), st.integers(-(2**31), 2**31 - 1)), max_size=5),
    ndim_delta=st.sampled_from([0, 0, 0, -1, 1]), extra=st.sampled_from([0, 0, 0, -3, -1, 1, 3]),
    zero_prefix=st.sampled_from([True, True, False]),
    gz=st.sampled_from(["no", "yes", "truncated", "garbage"]), name=st.sampled_from(["x.idx", "x-ubyte", "x.bin"]),
)  # fmt: skip
@example(type_byte=0x08, dims=[65536] * 4, ndim_delta=0, extra=0, zero_prefix=True, gz="no", name="x.idx")  # 2**64 wraps
def test_idx_with_random_headers(type_byte, dims, ndim_delta, extra, zero_prefix, gz, name):
    ndim = max(0, len(dims) + ndim_delta) % 256
    head = bytes([0, 0, type_byte, ndim]) if zero_prefix else bytes([1, 0, type_byte, ndim])
    head += struct.pack(f">{len(dims)}i", *dims)
    size = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}.get(type_byte, 1)
    count = math.prod(dims) if dims and all(0 <= x <= 4 for x in dims) else 3
    raw = head + bytes(max(0, count * size + extra))
    if gz != "no":
        name += ".gz"
        raw = gzip.compress(raw)
        raw = raw[: len(raw) // 2] if gz == "truncated" else raw[:10] + b"\x00garbage" if gz == "garbage" else raw
    with folder() as d:
        (d / name).write_bytes(raw)
        ds = check_load(d / name)
        if ds is not None:
            assert ds.X.shape[0] == dims[0]
        check_load(_csv(d, max(1, dims[0] if dims and 0 < dims[0] <= 4 else 1)), labels=d / name)


# --------------------------------------------------------------------- images

MODES = {"PNG": ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "I", "I;16"], "JPEG": ["L", "RGB", "CMYK"],
         "BMP": ["1", "L", "P", "RGB"], "GIF": ["L", "P"], "TIFF": ["L", "RGB", "F", "I;16", "CMYK", "YCbCr"]}  # fmt: skip
IMAGE = st.sampled_from(sorted(MODES)).flatmap(
    lambda fmt: st.tuples(st.just(fmt), st.sampled_from(MODES[fmt]), st.integers(1, 6), st.integers(1, 6))
)


@FUZZ
@given(images=st.lists(IMAGE, min_size=1, max_size=4), layout=st.sampled_from(["flat", "classes", "mixed"]),
       name_ext=st.sampled_from([".png", ".jpg", ".jpeg", ".PNG"]), cut=st.one_of(st.none(), st.integers(1, 40)))  # fmt: skip
def test_image_folders_of_random_sizes_modes_and_formats(images, layout, name_ext, cut):
    with folder() as d:
        for i, (fmt, mode, w, h) in enumerate(images):
            sub = {"flat": d, "classes": d / f"class{i % 2}", "mixed": d / "c" if i % 2 else d}[layout]
            sub.mkdir(exist_ok=True)
            buf = io.BytesIO()
            try:
                Image.new(mode, (w, h), color=i * 40 if mode not in ("RGB", "RGBA", "CMYK", "YCbCr") else None).save(buf, fmt)
            except (OSError, ValueError, KeyError):
                assume(False)  # Pillow cannot write this mode in this format
            raw = buf.getvalue()
            if cut is not None and i == 0:
                raw = raw[: max(1, len(raw) - cut)]
            (sub / f"img{i}{name_ext}").write_bytes(raw)
        check_load(d)


def _png_header(width, height, mode_byte=0, depth=8, pixels=b"\x00" * 10):
    """A PNG whose header claims width x height and whose data is a few bytes."""
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, mode_byte, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


@FUZZ
@given(width=st.one_of(st.integers(1, 8), st.sampled_from([10**5, 2**20, 2**31 - 1])),  # big: bombs, or 8 rows of 1M
       height=st.one_of(st.integers(1, 8), st.sampled_from([10**5, 2**20, 2**31 - 1])),
       mode_byte=st.sampled_from([0, 2, 3, 4, 6, 1, 7]), depth=st.sampled_from([1, 8, 16, 3]),
       pixels=st.binary(max_size=40))  # fmt: skip
@example(width=60000, height=60000, mode_byte=0, depth=8, pixels=b"\x00" * 10)  # a decompression bomb
def test_png_headers_that_lie_about_their_pixels(width, height, mode_byte, depth, pixels):
    with folder() as d:
        (d / "a.png").write_bytes(_png_header(width, height, mode_byte, depth, pixels))
        check_load(d)


# ------------------------------------------------------------- config.json values

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
VALID_RUN = RunConfig(
    ModelConfig(input_shape=(64,), latent_dim=2, hidden=(8,)), TrainConfig(epochs=1),
    DataConfig(source="/data/x.npy", n_examples=10, classes=("0", "1")),
).to_dict()


MIXED_MODEL = to_dict(ModelConfig(input_shape=(5,), likelihood="mixed", hidden=(4,), blocks=(
    ("gaussian", 0, 1, 4), ("categorical", 1, 3, -1), ("bernoulli", 4, 1, -1))))  # fmt: skip
MIXED_MODEL = json.loads(json.dumps(MIXED_MODEL))


@st.composite
def mutated(draw, value):
    """``value`` with one node replaced by a random JSON value, or a key dropped or added."""
    if isinstance(value, dict) and value and draw(st.integers(0, 3)):
        key = draw(st.sampled_from(sorted(value)))
        action = draw(st.sampled_from(["descend", "descend", "drop", "add"]))
        out = dict(value)
        if action == "drop":
            del out[key]
        elif action == "add":
            out[draw(st.text(max_size=6))] = draw(JSON)
        else:
            out[key] = draw(mutated(value[key]))
        return out
    if isinstance(value, list) and value and draw(st.integers(0, 2)):
        i = draw(st.integers(0, len(value) - 1))
        return value[:i] + [draw(mutated(value[i]))] + value[i + 1 :]
    return draw(st.one_of(JSON, st.sampled_from([2**63, 10**400, -1, 0, float("nan"), float("inf"), True, "", []])))


@fuzz(300)
@given(d=st.one_of(JSON, mutated(VALID_RUN), mutated(mutated(VALID_RUN))))
def test_run_config_from_any_json_value(d):
    try:
        cfg = RunConfig.from_dict(d)
    except RunError as e:
        assert "\n" not in str(e).strip()
        event("refused")
        return
    event("accepted")
    again = RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))  # what was accepted round-trips
    assert again == cfg


@fuzz(150)
@given(data=st.data(), cls=st.sampled_from([ModelConfig, TrainConfig, DataConfig]))
def test_config_sections_from_any_json_value(data, cls):
    base = {ModelConfig: data.draw(st.sampled_from([VALID_RUN["model"], MIXED_MODEL])), TrainConfig: VALID_RUN["train"],
            DataConfig: VALID_RUN["data"]}[cls]  # fmt: skip
    value = data.draw(st.one_of(JSON, mutated(base), mutated(mutated(base))))
    try:
        cfg = from_dict(cls, value, "fuzz")
    except ConfigError:
        event("refused")
        return
    event("accepted")
    assert isinstance(cfg, cls) and from_dict(cls, json.loads(json.dumps(to_dict(cfg))), "again") == cfg


# ----------------------------------------------------------- table and series states


@pytest.fixture(scope="module")
def table_state():
    df = make_mixed_table(80, seed=0)
    meta, arrays = TableTransformer(normalization="mode", seed=0).fit(df).state()
    return json.loads(json.dumps(meta)), arrays


ARRAY = st.one_of(hnp.arrays(st.sampled_from([np.float64, np.float32, np.int8, np.bool_, np.complex64, np.dtype("U2")]),
                             hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4)),
                  JSON)  # fmt: skip


@fuzz(150)
@given(data=st.data())
def test_table_schema_and_transformer_from_damaged_state(table_state, data):
    meta, arrays = table_state
    schema = data.draw(st.one_of(JSON, mutated(meta["schema"])))
    try:
        TableSchema.from_dict(schema)
    except ConfigError:
        pass
    new_meta = data.draw(st.one_of(mutated(meta), mutated(mutated(meta)), st.just(meta)))
    new_arrays = dict(arrays)
    if data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(arrays) + ["surprise"]))
        new_arrays[key] = data.draw(ARRAY)
    elif data.draw(st.booleans()):
        new_arrays.pop(data.draw(st.sampled_from(sorted(arrays))))
    try:
        tt = TableTransformer.from_state(new_meta, new_arrays)
    except (ConfigError, DataError):
        event("refused")
        return
    event("accepted")
    tt.inverse_transform(np.full((2, tt.n_features), 0.5, np.float32))  # what was accepted works


SCALER_STATE = SeriesScaler("standard").fit(np.arange(24.0).reshape(2, 4, 3)).state()
SCALER_STATE[0]["features"] = ["a", "b", "c"]
# What a series.safetensors file can hold: numeric arrays of any shape.
STORED = hnp.arrays(st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.int8, np.uint8, np.bool_]),
                    hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4))  # fmt: skip


@fuzz(150)
@given(data=st.data())
def test_series_scaler_from_damaged_state(data):
    meta, arrays = SCALER_STATE
    new_meta = data.draw(st.one_of(JSON, mutated(meta), st.just(meta)))
    new_arrays = data.draw(st.one_of(st.just(arrays), st.dictionaries(st.sampled_from(["loc", "scale", "x"]), STORED),
                                     st.fixed_dictionaries({"loc": STORED, "scale": STORED})))  # fmt: skip
    try:
        scaler = SeriesScaler.from_state(new_meta, new_arrays)
    except RunError:
        event("refused")
        return
    event("accepted")
    F = len(scaler.loc_)
    back = scaler.inverse_transform(scaler.transform(np.ones((1, 2, F))))
    assert np.allclose(back, 1.0)
    assert scaler.features is None or (len(scaler.features) == F and all(isinstance(f, str) for f in scaler.features))


WINDOWS = np.cumsum(np.random.default_rng(0).normal(size=(6, 8, 2)), axis=1)
CODER_STATES = [WindowCoder(h, 4).fit(WINDOWS).state() for h in HANDLINGS]
CODER_KEYS = sorted({k for _, arrays in CODER_STATES for k in arrays} | {"x"})


@fuzz(150)
@given(data=st.data())
def test_window_coder_from_damaged_state(data):
    meta, arrays = data.draw(st.sampled_from(CODER_STATES))
    new_meta = data.draw(st.one_of(JSON, mutated(meta), st.just(meta)))
    new_arrays = data.draw(st.one_of(st.just(arrays), st.dictionaries(st.sampled_from(CODER_KEYS), STORED),
                                     st.fixed_dictionaries({k: STORED for k in arrays})))  # fmt: skip
    try:
        coder = WindowCoder.from_state(new_meta, new_arrays)
    except RunError:
        event("refused")
        return
    event("accepted")
    F = len(coder.stats["loc"])
    X = np.arange(1.0, 1 + 8 * F).reshape(1, 8, F)
    back = coder.decode(coder.encode(X), 8)  # what was accepted works: an exact inverse
    assert np.allclose(back, X, rtol=1e-3, atol=1e-3)


# --------------------------------------------------------------- the CLI end to end

TRAIN = ["--epochs", "1", "--hidden", "4", "--latent-dim", "2", "--batch-size", "64", "--device", "cpu", "--quiet"]
CLI_FILES = st.one_of(
    st.tuples(st.just("x.npy"), hnp.arrays(st.sampled_from([np.float32, np.uint8, np.int16, np.float64, np.bool_]),
                                           hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5)).map(npy_bytes)),
    st.tuples(st.sampled_from(["x.csv", "x.idx", "x.npz", "x.parquet"]), st.binary(max_size=200)),
    st.tuples(st.just("x.csv"), st.lists(st.lists(CELL, min_size=1, max_size=3), min_size=1, max_size=8).map(
        lambda rows: "\n".join(",".join(r) for r in rows).encode("utf-8", "surrogatepass"))),
)  # fmt: skip


@fuzz(8)
@given(file=CLI_FILES)
def test_vaelab_train_on_fuzzed_files_exits_0_or_2_with_one_line(file):
    name, raw = file
    with folder() as d:
        (d / name).write_bytes(raw)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["train", str(d / name), "--out", str(d / "run"), *TRAIN])
        err = err.getvalue()
        event(f"exit {code}")
        assert code in (0, 2), code
        if code == 2:
            assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_series_scaler_state_with_infinite_feature_count():
    with pytest.raises(RunError, match="n_features"):
        SeriesScaler.from_state({**SCALER_STATE[0], "n_features": float("inf")}, SCALER_STATE[1])


@pytest.mark.parametrize("names", [[None, "b", "c"], "abc", {"a": 1, "b": 2, "c": 3}])
def test_series_scaler_state_with_feature_names_that_are_not_text(names):
    with pytest.raises(RunError):
        SeriesScaler.from_state({**SCALER_STATE[0], "features": names}, SCALER_STATE[1])


# ------------------------------------------------------------ safetensors in a run

TORCH_DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int8", "uint8", "bool", "float8_e4m3fn"]


@st.composite
def tensors(draw):
    import torch

    out = {}
    for name in draw(st.lists(st.sampled_from(["current.w", "best.w", "optim.0.exp_avg", "optim.0.step", "log_px",
                                                "elbo", "weight", ""]), max_size=3, unique=True)):  # fmt: skip
        shape = draw(st.lists(st.integers(0, 3), max_size=3))
        out[name] = torch.zeros(shape, dtype=getattr(torch, draw(st.sampled_from(TORCH_DTYPES))))
    return out


STATE_META = {"counters": {"epoch": 1, "step": 2, "best_epoch": 1, "best_loss": 1.5, "bad_epochs": 0,
                           "stopped_early": False},
              "history": [{"epoch": 1, "train_loss": 1.0}], "optimizer": {"param_groups": [{"lr": 0.001}],
                                                                          "state": {"0": ["exp_avg", "step"]}}}  # fmt: skip


@fuzz(100)
@given(data=st.data(), damage=st.sampled_from(["none", "truncate", "flip", "header"]))
def test_safetensors_files_in_a_run(data, damage):
    """read_arrays / read_weights / read_train_state: the values, or a RunError."""
    from safetensors.torch import save

    from vaelab.checkpoint import RunDir

    meta = data.draw(st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
                               st.builds(lambda m: {"vaelab_state": json.dumps(m)}, mutated(STATE_META))))  # fmt: skip
    raw = save(data.draw(tensors()), metadata=meta)
    if damage == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif damage == "flip":
        i = data.draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([raw[i] ^ data.draw(st.integers(1, 255))]) + raw[i + 1 :]
    elif damage == "header":
        raw = struct.pack("<Q", data.draw(st.integers(0, 2**64 - 1))) + raw[8:]
    with folder() as d:
        run = RunDir(d)
        for name in ("model.safetensors", "calibration.safetensors", "train_state.safetensors"):
            (d / name).write_bytes(raw)
        for read in (lambda: run.read_arrays("calibration.safetensors"), run.read_weights, run.read_train_state):
            try:
                read()
            except RunError as e:
                assert "\n" not in str(e).strip()
