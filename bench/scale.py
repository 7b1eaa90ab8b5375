"""Scale: time and peak memory of vaelab's analyses as the data grows (10k, 100k, 1M rows).

The data are memory-mapped ``.npy`` files of 28x28 uint8 digits made from mnist5k (each row
one of its 5,000 images shifted by up to 2 pixels and given a little seeded pixel noise, so
no two rows are alike), with a labels file. Each command runs as its own process, as a user
runs it; its wall time and peak resident memory (``wait4``'s ru_maxrss) are recorded.

- ``inspect RUN data_N.npy --labels labels_N.npy`` on a trained run (``--run``, e.g. the demo);
- ``score RUN data_N.npy --n-samples K`` for each K of ``--score-k`` (examples/s);
- with ``--stream-k``: ``score`` on the largest file with its progress bar on, for each K, the
  examples done, wall seconds and CPU seconds sampled every few seconds (from the bar and
  /proc), stopped after ``--stream-seconds``: the rate in successive windows shows whether the
  stream keeps a constant rate through the file (examples per second and per CPU-second);
- ``compare-samplers`` and ``explore interpolate``/``arithmetic`` on a run *trained on*
  data_N.npy (its training split is 80% of N): trained once per size with the demo's
  architecture for ``--train-epochs`` epochs (training is not timed).

Then the fitted exponent b of time ~ N^b per command (least squares on log-log, sizes that
finished). A command that runs past ``--timeout`` is stopped and shown as "> T s".

    .venv/bin/python bench/scale.py --run runs/demo [--sizes 10000 100000 1000000] [--timeout 600]

Run it on old code with ``PYTHONPATH=/path/to/old/src`` (the commands run ``python -m vaelab``
with this environment). Always exits 0: this is a measurement, not a test.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from _common import machine_line, measure  # noqa: E402 (bench/ is on sys.path when run as a script)

BLOCK = 50_000  # rows written per block when making a data file


def make_data(folder: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    """data_N.npy (N, 1, 28, 28) uint8 and labels_N.npy (N,) int64, made once and reused."""
    from vaelab.data.sources import load_dataset

    data, labels = folder / f"data_{n}.npy", folder / f"labels_{n}.npy"
    if data.is_file() and labels.is_file():
        return data, labels
    base = load_dataset("mnist5k")
    images = np.rint(base.X[:, 0] * 255).astype(np.int16)  # (5000, 28, 28)
    rng = np.random.default_rng(seed)
    tmp = folder / f"data_{n}.tmp.npy"
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, 1, 28, 28))
    y = np.empty(n, dtype=np.int64)
    for start in range(0, n, BLOCK):
        stop = min(n, start + BLOCK)
        pick = rng.integers(0, images.shape[0], stop - start)
        shift = rng.integers(-2, 3, (stop - start, 2))
        block = images[pick]
        for dx in range(-2, 3):
            for dy in range(-2, 3):
                rows = np.flatnonzero((shift[:, 0] == dx) & (shift[:, 1] == dy))
                block[rows] = np.roll(block[rows], (dy, dx), axis=(1, 2))
        block = block + rng.integers(-6, 7, block.shape)
        out[start:stop, 0] = np.clip(block, 0, 255).astype(np.uint8)
        y[start:stop] = base.y[pick]
    out.flush()
    del out
    os.replace(tmp, data)
    np.save(labels, y)
    return data, labels


def timed(cmd: list[str], timeout: float, log: Path) -> dict:
    """Run one command; wall seconds, CPU seconds (user + system, all threads: on a shared machine
    the figure other processes disturb least), peak RSS in GB, exit status (None when stopped at
    the timeout)."""
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    with open(log, "ab") as f:
        f.write(("\n$ " + " ".join(cmd) + "\n").encode())
        f.flush()
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                return {"seconds": None, "cpu_s": usage.ru_utime + usage.ru_stime, "gb": usage.ru_maxrss / 2**20, "rc": None}
            time.sleep(0.2)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu_s": usage.ru_utime + usage.ru_stime, "gb": usage.ru_maxrss / 2**20,
            "rc": os.waitstatus_to_exitcode(status)}


def streamed(cmd: list[str], limit: float, log: Path, every: float = 5.0) -> dict:
    """Run a ``score`` command with its progress bar on stderr; every ``every`` seconds record
    (wall s, CPU s of the process and its threads, examples done in the scoring pass); stop it
    after ``limit`` seconds. Returns the samples, the pass's total and whether it finished."""
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    tick = os.sysconf("SC_CLK_TCK")
    with open(log, "ab") as f:
        f.write(("\n$ " + " ".join(cmd) + "   (streamed)\n").encode())
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True)
    state = {"done": 0, "total": None, "passes": 0}

    def read() -> None:  # tqdm rewrites its line with \r: split on both; the first pass is the scoring
        buf = b""
        for chunk in iter(lambda: proc.stderr.read1(4096), b""):
            buf += chunk
            *parts, buf = re.split(rb"[\r\n]", buf)
            for part in parts:
                m = re.search(rb"scoring:.*?(\d+)/(\d+)", part)
                if not m:
                    continue
                done, total = int(m.group(1)), int(m.group(2))
                if state["total"] is None:
                    state["total"] = total
                if total == state["total"] and state["passes"] == 0:
                    state["done"] = max(state["done"], done)
                    if done == total:
                        state["passes"] = 1  # calibration on the validation split follows: not counted

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started, samples = time.perf_counter(), []
    while True:
        try:
            with open(f"/proc/{proc.pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / tick  # utime + stime, all threads
        except (OSError, IndexError):
            cpu = samples[-1][1] if samples else 0.0
        samples.append((time.perf_counter() - started, cpu, state["done"]))
        if proc.poll() is not None or state["passes"] or time.perf_counter() - started > limit:
            break
        time.sleep(every)
    finished = bool(state["passes"])
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    reader.join(timeout=5)
    return {"samples": samples, "total": state["total"], "finished": finished}


def window_rates(samples: list[tuple[float, float, int]], windows: int = 8) -> list[dict]:
    """Examples per wall second and per CPU-second in ``windows`` successive stretches of the
    scoring (from the first progress to the last sample)."""
    moving = [s for s in samples if s[2] > 0]
    if len(moving) < windows + 1:
        return []
    edges = np.linspace(0, len(moving) - 1, windows + 1).round().astype(int)
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        (t0, c0, d0), (t1, c1, d1) = moving[a], moving[b]
        out.append({"from": d0, "to": d1, "per_s": (d1 - d0) / max(t1 - t0, 1e-9),
                    "per_cpu_s": (d1 - d0) / max(c1 - c0, 1e-9)})
    return out


def exponent(points: list[tuple[int, float]]) -> float | None:
    """b in time ~ N^b, least squares on log-log; None with fewer than two finished sizes."""
    if len(points) < 2:
        return None
    x, t = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(x, t, 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a trained run (e.g. runs/demo from `vaelab demo`)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--work", default="runs/scale", help="folder for the data files and trained runs")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before a command is stopped")
    parser.add_argument("--score-k", type=int, nargs="*", default=[100, 1000], help="K of the score runs")
    parser.add_argument("--score-max", type=float, default=2e7,
                        help="score only where N x K is at most this (importance samples in all)")
    parser.add_argument("--stream-k", type=int, nargs="*", default=[],
                        help="K of streamed score runs on the largest file (rates through the file)")
    parser.add_argument("--stream-seconds", type=float, default=600.0,
                        help="seconds each streamed score run is given before it is stopped")
    parser.add_argument("--train-sizes", type=int, nargs="*", default=None,
                        help="sizes to train a run on for compare-samplers/explore (default: those <= 100k)")
    parser.add_argument("--train-epochs", type=int, default=1)
    parser.add_argument("--skip", nargs="*", default=[], help="commands to leave out (inspect score compare explore)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    log = work / "commands.log"
    py = [sys.executable, "-m", "vaelab"]
    print(machine_line())
    print(f"vaelab from: {os.environ.get('PYTHONPATH') or 'the installed package'}; run {args.run}; timeout {args.timeout:g} s")
    results: list[dict] = []

    def timed_out_before(command: str) -> bool:
        """A command that ran past the timeout at a smaller size is not run at larger ones."""
        return any(r["command"] == command and r["seconds"] is None for r in results)

    def record(command: str, n: int, r: dict, **extra) -> None:
        row = {"command": command, "n": n, **r, **extra, "load": os.getloadavg()[0]}
        results.append(row)
        shown = f"> {args.timeout:g}" if r["seconds"] is None else f"{r['seconds']:.1f}"
        failed = "" if r["rc"] in (0, None) else f"  (exit {r['rc']}, see {log})"
        print(f"  {command:<28} N={n:>9,}  {shown:>8} s  cpu {r['cpu_s']:.1f} s  {r['gb']:.2f} GB  "
              f"load {row['load']:.2f}{failed}", flush=True)

    for n in args.sizes:
        data, labels = make_data(work, n)
        if "inspect" not in args.skip and not timed_out_before("inspect"):
            record("inspect", n, timed([*py, "inspect", args.run, str(data), "--labels", str(labels)], args.timeout, log))
        if "score" not in args.skip:
            for k in args.score_k:
                if n * k > args.score_max or timed_out_before(f"score K={k}"):
                    continue
                Path(args.run, "calibration.safetensors").unlink(missing_ok=True)  # first use: validation scored too
                r = timed([*py, "score", args.run, str(data), "--n-samples", str(k), "--quiet",
                           "--out", str(work / f"scores_{n}_{k}.csv")], args.timeout, log)  # fmt: skip
                rate = None if r["seconds"] is None else n / r["seconds"]
                record(f"score K={k}", n, r, examples_per_s=rate)
        train_sizes = args.train_sizes if args.train_sizes is not None else [s for s in args.sizes if s <= 100_000]
        if n not in train_sizes or {"compare", "explore"} <= set(args.skip):
            continue
        run = work / f"run_{n}"
        if not (run / "model.safetensors").is_file():
            if run.exists():
                shutil.rmtree(run)
            r = timed([*py, "train", str(data), "--labels", str(labels), "--out", str(run), "--latent-dim", "16",
                       "--hidden", "512", "256", "--epochs", str(args.train_epochs), "--patience", "0", "--quiet"],
                      10 * args.timeout, log)  # fmt: skip
            print(f"  (trained {run} in {r['seconds'] or math.inf:.0f} s; not timed)")
        if "compare" not in args.skip and not timed_out_before("compare-samplers"):
            (run / "classifier.safetensors").unlink(missing_ok=True)  # first use: the domain classifier is trained
            record("compare-samplers", n, timed([*py, "compare-samplers", str(run)], args.timeout, log))
        if "explore" not in args.skip:
            for what in ("interpolate", "arithmetic"):
                if timed_out_before(f"explore {what}"):
                    continue
                record(f"explore {what}", n, timed([*py, "explore", str(run), what, "test:0", "test:1"], args.timeout, log))

    streams = []
    for k in args.stream_k:
        n = max(args.sizes)
        data, _ = make_data(work, n)
        Path(args.run, "calibration.safetensors").unlink(missing_ok=True)
        r = streamed([*py, "score", args.run, str(data), "--n-samples", str(k),
                      "--out", str(work / f"scores_stream_{n}_{k}.csv")], args.stream_seconds, log)  # fmt: skip
        rates = window_rates(r["samples"])
        streams.append({"k": k, "n": n, **r, "windows": rates, "load": os.getloadavg()[0]})
        done = r["samples"][-1][2] if r["samples"] else 0
        print(f"  score K={k} streamed over {n:,} rows: {done:,} scored in {r['samples'][-1][0]:.0f} s"
              f"{' (all)' if r['finished'] else ' (then stopped)'}; load {os.getloadavg()[0]:.2f}", flush=True)
        for w in rates:
            print(f"    rows {w['from']:>9,}-{w['to']:>9,}: {w['per_s']:8.1f} examples/s  {w['per_cpu_s']:8.1f} per CPU-s")
        if rates:
            per_s = np.array([w["per_s"] for w in rates])
            per_cpu = np.array([w["per_cpu_s"] for w in rates])
            print(f"    windows: {per_s.mean():.1f} examples/s (min {per_s.min():.1f}, max {per_s.max():.1f}); "
                  f"{per_cpu.mean():.1f} per CPU-s (min {per_cpu.min():.1f}, max {per_cpu.max():.1f}); "
                  f"last / first window per CPU-s = {per_cpu[-1] / per_cpu[0]:.3f}")

    print("\n| command | N | seconds | CPU s | peak GB | examples/s | load |\n|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        sec = f"> {args.timeout:g}" if r["seconds"] is None else f"{r['seconds']:.1f}"
        rate = "" if r.get("examples_per_s") is None else f"{r['examples_per_s']:,.0f}"
        print(f"| {r['command']} | {r['n']:,} | {sec} | {r['cpu_s']:.1f} | {r['gb']:.2f} | {rate} | {r['load']:.2f} |")
    print("\nfitted exponent b of time ~ N^b, wall and CPU seconds (finished sizes only):")
    for command in dict.fromkeys(r["command"] for r in results):
        done = [r for r in results if r["command"] == command and r["seconds"] and r["rc"] == 0]
        b, b_cpu = exponent([(r["n"], r["seconds"]) for r in done]), exponent([(r["n"], r["cpu_s"]) for r in done])
        timed_out = any(r["command"] == command and r["seconds"] is None for r in results)
        print(f"  {command:<28} " + ("n/a (fewer than 2 sizes finished)" if b is None else f"b = {b:.2f} (CPU: {b_cpu:.2f})")
              + ("  (a larger size ran past the timeout)" if timed_out else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"commands": results, "streams": streams}, indent=1))


if __name__ == "__main__":
    measure(main)
