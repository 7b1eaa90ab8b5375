"""Out-of-core data (vaelab.data.rows): training, scoring and encoding from memory-mapped
.npy and from Parquet read in record batches, with the results of the same data in memory,
in memory bounded by the batch; and bfloat16 autocast training."""
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

import vaelab
from vaelab.cli import main
from vaelab.data.arrays import as_examples
from vaelab.data.rows import ParquetMatrix, Rows, TensorRows, parquet_looks_like_table
from vaelab.data.sources import load_dataset
from vaelab.data.split import binarize_fixed
from vaelab.runs.train import train_run
from vaelab.commands.score import score
from tests.conftest import FAST


def _weights(module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.state_dict().values()]


def _same_weights(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(b)))


def _run_weights(run) -> dict:
    from safetensors.torch import load_file

    return {k: v.numpy().tobytes() for k, v in load_file(run / "model.safetensors").items()}


# ------------------------------------------------------------------ Rows, TensorRows


def test_rows_index_like_the_converted_array(tmp_path):
    raw = np.random.default_rng(0).integers(0, 256, (50, 4, 4, 3), dtype=np.uint8)  # channels-last uint8
    np.save(tmp_path / "u8.npy", raw)
    X = as_examples(np.load(tmp_path / "u8.npy", mmap_mode="r"), "u8.npy", lazy=True)
    full = as_examples(raw, "u8.npy")  # the whole file converted in memory
    assert isinstance(X, Rows) and X.shape == full.shape == (50, 3, 4, 4) and len(X) == 50
    np.testing.assert_array_equal(X[:], full)
    np.testing.assert_array_equal(X[7:19:3], full[7:19:3])
    np.testing.assert_array_equal(X[[9, 2, 2, -1]], full[[9, 2, 2, -1]])
    np.testing.assert_array_equal(X[torch.tensor([4, 0])], full[[4, 0]])
    np.testing.assert_array_equal(X[-3], full[-3])
    np.testing.assert_array_equal(np.asarray(X), full)
    view = X.take(np.arange(10, 40))  # a split: nothing read
    np.testing.assert_array_equal(view[[0, 29, 5]], full[10:40][[0, 29, 5]])
    np.testing.assert_array_equal(view.take([3, 1])[:], full[[13, 11]])
    assert view[:].flags.writeable and X[0:2].dtype == np.float32
    with pytest.raises(IndexError):
        X[50]


def _mapped_rss_kb(path) -> int:
    """Resident kB of this process's mappings of ``path`` (from /proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                inside = head[-1] == str(path)
            elif inside and head[0] == "Rss:":
                total += int(head[1])
    return total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_reading_a_memory_map_in_slices_lets_its_pages_go(tmp_path):
    # A read page of a mapped file stays in the process's resident memory until the map closes:
    # streaming a 784 MB .npy through `inspect` kept all of it (peak 2.3 GB at 1M rows). Read
    # slice by slice, the rows must come out exact and the map hold (almost) nothing afterwards.
    raw = np.random.default_rng(0).integers(0, 256, (4000, 1, 32, 32), dtype=np.uint8)  # 4 MB
    np.save(tmp_path / "big.npy", raw)
    mm = np.load(tmp_path / "big.npy", mmap_mode="r")
    X, T = Rows(mm), TensorRows(Rows(mm))
    expected = raw.astype(np.float32) / 255
    for s in range(0, 4000, 333):
        np.testing.assert_array_equal(X[s : s + 333], expected[s : s + 333])
        np.testing.assert_array_equal(T[s : s + 333].numpy(), expected[s : s + 333])
    np.testing.assert_array_equal(X[np.arange(100, 900)], expected[100:900])  # a contiguous gather
    assert _mapped_rss_kb(tmp_path / "big.npy") <= 512  # was the whole file, 4,000 kB (fault-around: a few pages)
    # A scattered read (a seeded subsample, sorted or not) lets its pages go too: it touched pages
    # all over the file (inspect's 4,096 codes of 1M rows kept 0.4 GB of the map).
    picks = np.random.default_rng(1).choice(4000, 300, replace=False)
    np.testing.assert_array_equal(X[np.sort(picks)], expected[np.sort(picks)])
    np.testing.assert_array_equal(X[picks], expected[picks])
    np.testing.assert_array_equal(T[picks].numpy(), expected[picks])
    assert _mapped_rss_kb(tmp_path / "big.npy") <= 512
    np.testing.assert_array_equal(X[3999], expected[3999])  # the map still reads after letting go


@pytest.mark.parametrize("order", ["sorted", "shuffled"])
def test_tensor_rows_binarize_each_row_as_the_whole_set_is_binarized(tmp_path, order):
    X = np.random.default_rng(1).random((300, 1, 5, 5), dtype=np.float32)
    np.save(tmp_path / "x.npy", X)
    rows = Rows(np.load(tmp_path / "x.npy", mmap_mode="r"), np.arange(20, 270))
    whole = binarize_fixed(torch.from_numpy(X[20:270]), 7)  # what training in memory sees
    lazy = TensorRows(rows, binarize_seed=7)
    idx = torch.tensor([3, 17, 17, 249, 0, 100]) if order == "shuffled" else torch.arange(40, 90)
    assert torch.equal(lazy[idx], whole[idx])
    assert torch.equal(lazy[100:250], whole[100:250])
    assert lazy.shape == whole.shape and lazy.device == torch.device("cpu")


# ------------------------------------------------------- memory map == in memory


@pytest.mark.parametrize("settings", [{"binarize": "fixed"}, {"binarize": "dynamic", "prior": "vamp"},
                                      {"binarize": "none", "conditional": True}])  # fmt: skip
def test_fit_on_a_memory_map_gives_bitwise_the_in_memory_weights(tmp_path, digits, settings):
    X, y = digits
    np.save(tmp_path / "x.npy", X)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    labels = y if settings.get("conditional") else None
    a = vaelab.VAE(**FAST, **settings).fit(X, labels)
    b = vaelab.VAE(**FAST, **settings).fit(mapped, labels)
    assert _same_weights(a.module_, b.module_)
    assert [r["val_loss"] for r in a.history_] == [r["val_loss"] for r in b.history_]
    ys = None if labels is None else y[:100]
    np.testing.assert_array_equal(a.transform(X[:100], ys), b.transform(mapped[:100], ys))
    np.testing.assert_array_equal(a.transform(X, labels), b.transform(mapped, labels))
    np.testing.assert_array_equal(a.score_samples(X, labels), b.score_samples(mapped, labels))
    np.testing.assert_array_equal(a.log_likelihood(X, labels, n_samples=8).log_px,
                                  b.log_likelihood(mapped, labels, n_samples=8).log_px)  # fmt: skip


def test_a_run_on_a_memory_map_equals_a_run_on_data_in_memory(tmp_path, digits):
    """train_run keeps a .npy mapped and trains on views of its splits; an .npz is read into
    memory. Same data, same weights and test metrics; uint8 is converted per batch the same way."""
    X = (digits[0] * 255).round().astype(np.uint8).reshape(-1, 8, 8)
    np.save(tmp_path / "x.npy", X)
    np.savez(tmp_path / "x.npz", X=X)
    mapped = train_run(tmp_path / "x.npy", tmp_path / "mapped", {**FAST, "binarize": "fixed"})
    memory = train_run(tmp_path / "x.npz", tmp_path / "memory", {**FAST, "binarize": "fixed"})
    assert isinstance(mapped.dataset.X, Rows) and isinstance(memory.dataset.X, np.ndarray)
    assert _run_weights(mapped.run.path) == _run_weights(memory.run.path)
    assert mapped.metrics["test"] == memory.metrics["test"]


# ----------------------------------------------------------------------- Parquet


def _frame(X, y=None, index=None):
    df = pd.DataFrame(X, columns=[f"c{j}" for j in range(X.shape[1])], index=index)
    if y is not None:
        df["label"] = [f"class-{v}" for v in y]
    return df


def test_parquet_streams_what_the_eager_reader_reads(tmp_path, digits):
    X, y = digits
    df = _frame(X, y, index=np.arange(len(X)) * 3)  # a pandas index column, left out of the data
    df["c1"] = (df["c1"] * 16).round().astype("int16")
    df["c2"] = df["c2"] > 0.5
    df.to_parquet(tmp_path / "t.parquet", row_group_size=64)
    eager = load_dataset(tmp_path / "t.parquet", label_column="label")
    lazy = load_dataset(tmp_path / "t.parquet", label_column="label", lazy=True)
    assert isinstance(lazy.X, Rows) and isinstance(lazy.X.base, ParquetMatrix)
    np.testing.assert_array_equal(np.asarray(lazy.X), eager.X)
    np.testing.assert_array_equal(lazy.y, eager.y)
    assert lazy.classes == eager.classes and lazy.fingerprint() == eager.fingerprint()
    # Reads in order, out of order, across row groups, and gathers, all give the eager rows.
    for key in (slice(0, 300), slice(250, 300), slice(10, 200), [299, 0, 65, 64, 63], np.arange(5, 300, 7)):
        np.testing.assert_array_equal(lazy.X[key], eager.X[key])


def test_scores_and_codes_from_parquet_equal_those_from_memory(tmp_path, digits):
    X = digits[0]
    _frame(X).to_parquet(tmp_path / "x.parquet", row_group_size=50)
    model = vaelab.VAE(**FAST).fit(X)
    streamed = load_dataset(tmp_path / "x.parquet", lazy=True).X
    np.testing.assert_array_equal(model.transform(streamed), model.transform(X))
    np.testing.assert_array_equal(model.score_samples(streamed), model.score_samples(X))
    a = model.log_likelihood(streamed, n_samples=16, chunk_size=256)
    b = model.log_likelihood(X, n_samples=16, chunk_size=256)
    np.testing.assert_array_equal(a.log_px, b.log_px)


def test_a_parquet_run_trains_from_its_cache_and_resume_reuses_it(tmp_path, digits):
    X, y = digits
    _frame(X, y).to_parquet(tmp_path / "t.parquet", row_group_size=70)
    np.savez(tmp_path / "t.npz", X=X, y=np.array([f"class-{v}" for v in y]))
    settings = {**FAST, "conditional": True, "epochs": 4}
    parquet = train_run(tmp_path / "t.parquet", tmp_path / "pq", settings, label_column="label")
    memory = train_run(tmp_path / "t.npz", tmp_path / "mem", settings, label_column="y")
    assert _run_weights(parquet.run.path) == _run_weights(memory.run.path)
    assert parquet.metrics["test"] == memory.metrics["test"]
    cache = tmp_path / "pq" / "cache"
    np.testing.assert_array_equal(np.load(cache / "data.npy"), X)
    key = json.loads((cache / "data.json").read_text())
    assert key["fingerprint"] == json.loads((tmp_path / "pq" / "config.json").read_text())["data"]["fingerprint"]

    # Interrupted after epoch 2, resumed: the cache is reused (not rewritten), the result is the whole run's.
    class Stop:
        def __call__(self, event, info):
            if event == "epoch" and info["epoch"] == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_run(tmp_path / "t.parquet", tmp_path / "cut", settings, label_column="label", progress=Stop())
    written = (tmp_path / "cut" / "cache" / "data.npy").stat().st_mtime_ns
    resumed = train_run(None, tmp_path / "cut", resume=True)
    assert (tmp_path / "cut" / "cache" / "data.npy").stat().st_mtime_ns == written
    assert _run_weights(resumed.run.path) == _run_weights(parquet.run.path)
    # Scoring the run's validation split reads the cache; a changed file is not read from it.
    scored = score(tmp_path / "pq", "val", n_samples=8)
    assert len(scored.result) == 30 and np.isfinite(scored.result.log_px).all()
    os.utime(tmp_path / "t.parquet", ns=(written, written + 10**9))
    from vaelab.runs.run import Run

    dataset, _ = Run(parquet.run.path).data(lazy=True)
    assert isinstance(dataset.X, Rows)  # read from the Parquet file again, whose fingerprint still matches


def test_parquet_tables_are_told_from_matrices_by_streaming(tmp_path, digits):
    X = digits[0][:, :4]
    cases = {
        "numeric": _frame(X),
        "nan": _frame(np.where(X > 0.9, np.nan, X)),
        "text": _frame(X).assign(city="x"),
        "nullable": _frame(X).assign(n=pd.array([1, None] * 150, dtype="Int64")),
    }
    for name, df in cases.items():
        df.to_parquet(tmp_path / f"{name}.parquet", row_group_size=40)
        expected = bool(df.isna().to_numpy().any()) or not all(pd.api.types.is_numeric_dtype(t) for t in df.dtypes)
        assert parquet_looks_like_table(tmp_path / f"{name}.parquet") is expected, name


# ------------------------------------------------------------------------- bf16


def test_bf16_autocast_trains_on_cpu(tmp_path, digits):
    X = digits[0]
    settings = {**FAST, "epochs": 6, "hidden": [64], "validation_fraction": 0.2}
    fp32 = vaelab.VAE(**settings).fit(X[:250])
    bf16 = vaelab.VAE(**settings, precision="bf16").fit(X[:250])
    assert all(np.isfinite(r["train_loss"]) and np.isfinite(r["val_loss"]) for r in bf16.history_)
    assert not _same_weights(fp32.module_, bf16.module_)
    assert next(bf16.module_.parameters()).dtype == torch.float32  # weights stay float32
    assert bf16.score(X[250:]) == pytest.approx(fp32.score(X[250:]), rel=0.05)
    with pytest.raises(vaelab.VaelabError, match="precision must be one of"):
        vaelab.VAE(**FAST, precision="fp16").fit(X)
    # The CLI option, stored in the run and kept by load.
    np.save(tmp_path / "x.npy", X)
    assert main(["train", str(tmp_path / "x.npy"), "--out", str(tmp_path / "run"), "--precision", "bf16",
                 "--epochs", "1", "--hidden", "16", "--latent-dim", "2", "--device", "cpu", "--quiet"]) == 0  # fmt: skip
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["precision"] == "bf16"
    assert vaelab.load(tmp_path / "run").precision == "bf16"


# ------------------------------------------------------------ the memory bound

# The child marks its phases on stdout; the parent samples the child's RssAnon (memory it
# holds: mapped file pages are page cache, not counted) every millisecond, with no GIL shared.
CHILD = textwrap.dedent(
    """
    import json, sys
    def phase(name):
        print("PHASE", name, flush=True)
    phase("import")
    import vaelab
    from vaelab.cli import main
    from vaelab.data.sources import load_dataset
    path, run = sys.argv[1], sys.argv[2]
    phase("train")
    code = main(["train", path, "--out", run, "--epochs", "1", "--batch-size", "256", "--hidden", "16",
                 "--latent-dim", "2", "--device", "cpu", "--quiet"])
    assert code == 0, code
    phase("encode")
    model = vaelab.load(run, device="cpu")
    X = load_dataset(path, lazy=True).X
    assert type(X).__name__ in ("memmap", "Rows"), type(X)
    Z = model.transform(X)
    phase("score")
    ll = model.log_likelihood(X, n_samples=4)
    phase("done")
    print("RESULT", json.dumps({"n": len(X), "z": list(Z.shape), "ll": len(ll)}), flush=True)
    """
)
FEATURES = 256  # 1 KiB per example: per-example bookkeeping (split codes, indices: ~20 B) stays small beside it


def _peak_anon_mb(path, run, tmp_path) -> dict[str, float]:
    # glibc's dynamic mmap threshold and arenas, and the delay before Arrow's mimalloc returns
    # freed pages, keep freed blocks for a while: noise of tens of MB between runs. These
    # settings make RssAnon count what is held.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_ARENA_MAX": "1", "MIMALLOC_PURGE_DELAY": "0",
           "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}  # one thread each: two children share 2 cores
    with open(tmp_path / f"{run.name}.err", "w+") as err:
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(run)], stdout=subprocess.PIPE,
                                stderr=err, text=True, env=env)  # fmt: skip
        current, lines = ["start"], []

        def read():
            for line in proc.stdout:
                lines.append(line)
                if line.startswith("PHASE "):
                    current[0] = line.split()[1]

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        peaks: dict[str, int] = {}
        status = f"/proc/{proc.pid}/status"
        while proc.poll() is None:
            try:
                with open(status) as f:
                    found = re.search(r"RssAnon:\s+(\d+)", f.read())
            except OSError:
                break
            if found:
                peaks[current[0]] = max(peaks.get(current[0], 0), int(found.group(1)))
            time.sleep(0.001)
        proc.wait(timeout=300)
        reader.join(timeout=10)
        err.seek(0)
        assert proc.returncode == 0, err.read()[-3000:]
    result = json.loads(next(line for line in lines if line.startswith("RESULT"))[7:])
    assert result["n"] == result["z"][0] == result["ll"]
    return {k: v / 1024 for k, v in peaks.items()}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads RssAnon from /proc")
def test_peak_memory_stays_flat_as_the_file_grows(tmp_path):
    """`vaelab train`, VAE.transform and log_likelihood on a 30 MB and a 150 MB file (.npy and
    Parquet in row groups larger than a batch), each in a fresh process: the peak of anonymous
    memory in each phase grows by far less than the data does."""
    sizes = {"small": 30_000, "big": 150_000}  # examples of 256 float32: 31 MB and 154 MB
    names = [f"f{j}" for j in range(FEATURES)]
    for label, n in sizes.items():
        X = np.lib.format.open_memmap(tmp_path / f"{label}.npy", mode="w+", dtype=np.float32, shape=(n, FEATURES))
        schema = pa.schema([(c, pa.float32()) for c in names])
        with pq.ParquetWriter(tmp_path / f"{label}.parquet", schema, data_page_size=1 << 16) as w:
            for s in range(0, n, 10_000):  # row groups of 10,000 rows (10 MB: 2.5 batches), pages of 64 KB
                block = np.random.default_rng(s).random((10_000, FEATURES), dtype=np.float32)
                X[s : s + len(block)] = block
                w.write_table(pa.Table.from_arrays(list(block.T), names=names), row_group_size=10_000)
        X.flush()
        del X
    data_growth = (sizes["big"] - sizes["small"]) * FEATURES * 4 / 2**20  # MB
    report = {}
    for ext in ("npy", "parquet"):
        # The small and the big file side by side (each child's own RssAnon is measured).
        peaks, failures = {}, []

        def measure(label):
            try:
                peaks[label] = _peak_anon_mb(tmp_path / f"{label}.{ext}", tmp_path / f"run-{label}-{ext}", tmp_path)
            except BaseException as e:  # reported below, in the test's thread
                failures.append(e)

        workers = [threading.Thread(target=measure, args=(label,)) for label in sizes]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if failures:
            raise failures[0]
        for phase in ("train", "encode", "score"):
            small, big = peaks["small"][phase], peaks["big"][phase]
            report[f"{ext} {phase}"] = (round(small), round(big))
            # Bounded: 10% of the data's growth, plus a constant for short-lived blocks the sampling may miss.
            assert big - small < 0.1 * data_growth + 16, (ext, phase, report, data_growth)
    print("peak RssAnon MB (30 MB file, 150 MB file):", report)


def _anon_mb() -> float:
    with open("/proc/self/status") as f:
        return int(re.search(r"RssAnon:\s+(\d+)", f.read()).group(1)) / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.environ.get("MALLOC_MMAP_THRESHOLD_") is not None,
                    reason="reads RssAnon from /proc; measures glibc's default heap behaviour")  # fmt: skip
def test_a_long_stream_of_batches_holds_no_more_than_its_output():
    # `vaelab inspect` on 1M memory-mapped digits held 1.2 GB of heap after encoding 128 MB of
    # codes: map_batches kept each batch's small output as a tensor of its own between the batch's
    # large temporaries, and glibc could not give that heap back. Under glibc's default settings
    # (no MALLOC_* variables: the test above sets them), the heap must grow by the output alone.
    from vaelab.model import Model

    class Stub:
        device_ = torch.device("cpu")

    def fn(xb, _):
        u = np.random.default_rng(0).random((xb.shape[0], 784))  # a batch's large temporaries (6 MB)
        wide = torch.from_numpy(u.astype(np.float32)) * 2
        return wide[:, :32].clone()

    n = 300_000
    before = _anon_mb()
    out = Model.map_batches(Stub(), fn, torch.zeros(n, 1), None)
    grown = _anon_mb() - before
    output_mb = out.numel() * 4 / 2**20  # 37 MB
    assert out.shape == (n, 32)
    assert grown < output_mb + 50, (grown, output_mb)  # here: ~57 MB; the old code: ~180 MB
