"""Crash safety (issue 8): SIGKILL at random points, atomic files, unwritable or full disks.

- A trainer killed with SIGKILL at seeded random moments, resumed each time with
  ``--resume``, ends with weights bitwise equal to an uninterrupted run.
- A file in a run folder is never seen half-written, however often its writer is killed.
- An unwritable or full output folder is one clear line (exit 2) that leaves the
  previous checkpoint intact, and ``--resume`` afterwards continues.

Thread settings: the subprocesses run with OMP_NUM_THREADS=1 and the in-process
reference under ``torch.set_num_threads(1)``; for this model the weights were also
checked to be bitwise identical at 1 and 2 threads, so the parity does not hinge on it.
"""
import errno
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from sklearn.datasets import load_digits

from vaelab import files
from vaelab.checkpoint import RunDir
from vaelab.cli import main
from vaelab.errors import ConfigError, RunError
from vaelab.runs.train import train_run

EPOCHS = 8
# save_every 0: the run is written after every epoch (the default writes every SAVE_EVERY seconds), so that the
# kills below can land between two checkpoints and the write failures after a given epoch.
SETTINGS = dict(latent_dim=2, hidden=[16], epochs=EPOCHS, batch_size=32, device="cpu", save_every=0)
ARGS = ["--latent-dim", "2", "--hidden", "16", "--epochs", str(EPOCHS), "--batch-size", "32", "--device", "cpu", "--quiet",
        "--save-every", "0"]  # fmt: skip
ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
WAIT_S = 240  # generous: the CI machine is small and shared
TMP_GLOB = ".*.tmp"
posix_only = pytest.mark.skipif(not hasattr(signal, "SIGKILL") or not hasattr(os, "fork"), reason="needs SIGKILL and fork")


# ------------------------------------------------------------------ helpers
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """600 sklearn digits in [0, 1] as an (N, 1, 8, 8) .npy file."""
    path = tmp_path_factory.mktemp("crash_data") / "digits.npy"
    X = (load_digits().data[:600] / 16.0).astype(np.float32)
    np.save(path, X.reshape(-1, 1, 8, 8))
    return path


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """An uninterrupted run, trained in this process with one thread like the subprocesses."""
    out = tmp_path_factory.mktemp("crash_ref") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_run(data, out, SETTINGS)
    finally:
        torch.set_num_threads(threads)
    return out


def one_thread(fn, *args, **kwargs):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn(*args, **kwargs)
    finally:
        torch.set_num_threads(threads)


def assert_same_weights(run: Path, ref: Path) -> None:
    """Every tensor of model.safetensors and train_state.safetensors is bitwise equal."""
    for name in ("model.safetensors", "train_state.safetensors"):
        a, b = load_file(run / name), load_file(ref / name)
        assert a.keys() == b.keys(), name
        for key in a:
            assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), f"{name}: {key} differs"
    state, _ = RunDir(run).read_train_state()
    ref_state, _ = RunDir(ref).read_train_state()
    assert (state.epoch, state.step, state.best_epoch, state.best_loss) == (
        ref_state.epoch, ref_state.step, ref_state.best_epoch, ref_state.best_loss)  # fmt: skip
    assert [r["train_loss"] for r in state.history] == [r["train_loss"] for r in ref_state.history]


def snapshot(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if p.is_file()}


def assert_readable(run: Path) -> None:
    """Every file a reader opens is whole: safetensors load, JSON parses."""
    rd = RunDir(run)
    if rd.file("config.json").exists():
        rd.read_config()
    if rd.file("train_state.safetensors").exists():
        rd.read_train_state()
    if rd.file("model.safetensors").exists():
        rd.read_weights()
    rd.read_metrics()
    if rd.file("history.csv").exists():
        lines = rd.file("history.csv").read_text().splitlines()
        assert lines[0].startswith("epoch,") and all(len(line.split(",")) == len(lines[0].split(",")) for line in lines)


def _sig(path: Path):
    """Changes whenever the file is replaced (atomic writes give it a new inode)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _epoch_in_state(path: Path) -> int:
    _, metadata = RunDir(path.parent).read_tensors(path.name)
    return json.loads(metadata["vaelab_state"])["counters"]["epoch"]


# ------------------------------------------------------- 1. SIGKILL + resume
class _Exited(AssertionError):
    pass


def _wait_for(proc, cond, what):
    deadline = time.monotonic() + WAIT_S
    while not cond():
        if proc.poll() is not None:
            raise _Exited(f"the trainer exited (code {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


def _kill_plan(name, rng, epochs=EPOCHS):
    """A function (proc, run, config.json's signature before launch) that returns when it is time to kill."""

    def started(proc, run, before):
        _wait_for(proc, lambda: _sig(run / "config.json") not in (None, before), "config.json was written")

    def plan(proc, run, before):
        started(proc, run, before)  # (re)writing config.json is the last step before training
        state = run / "train_state.safetensors"
        if name == "first epoch":
            time.sleep(rng.uniform(0.0, 0.02))
        elif name == "mid-training":  # between two checkpoints, two or three epochs on
            times = []
            for _ in range(rng.randint(2, 3)):
                s = _sig(state)
                _wait_for(proc, lambda s=s: _sig(state) != s, "a checkpoint")
                times.append(time.monotonic())
            time.sleep(rng.uniform(0.1, 0.9) * (times[-1] - times[-2]))  # a fraction of the last epoch's time
        elif name == "right after a checkpoint":
            s = _sig(state)
            _wait_for(proc, lambda: _sig(state) != s, "a checkpoint")
            time.sleep(rng.uniform(0.0, 0.002))
        elif name == "after the last checkpoint":
            seen = [None]  # so a run already at its last epoch is killed at once (while it evaluates)

            def last():
                s = _sig(state)
                if s is None or s == seen[0]:
                    return False
                seen[0] = s
                return _epoch_in_state(state) >= epochs

            _wait_for(proc, last, "the last checkpoint")
            time.sleep(rng.uniform(0.0, 0.002))

    return plan


@posix_only
def test_sigkill_at_random_points_then_resume_equals_an_uninterrupted_run(tmp_path, data, reference):
    rng = random.Random(8)  # seeded: the same kill delays in every run of the test
    run = tmp_path / "run"
    fresh = [sys.executable, "-m", "vaelab", "train", str(data), "--out", str(run), *ARGS]
    resume = [sys.executable, "-m", "vaelab", "train", "--out", str(run), "--resume", "--quiet", "--save-every", "0"]
    plans = ["first epoch", "mid-training", "right after a checkpoint", "after the last checkpoint"]
    kills = []
    for i, name in enumerate(plans):
        before = _sig(run / "config.json")
        log = (tmp_path / f"stderr{i}.txt").open("w+")
        proc = subprocess.Popen(resume if i else fresh, env=ENV, stdout=subprocess.DEVNULL, stderr=log)
        try:
            _kill_plan(name, rng)(proc, run, before)
            assert proc.poll() is None, f"kill {i} ({name}): the trainer had already exited"
            os.kill(proc.pid, signal.SIGKILL)
        except _Exited as e:
            log.seek(0)
            raise AssertionError(f"kill {i} ({name}): {e}; stderr: {log.read()}") from None
        finally:
            if proc.poll() is None:
                proc.kill()  # SIGKILL: sent already, or the test failed first
            proc.wait(timeout=WAIT_S)
            log.close()
        # Killed while alive: a process that had ended by itself would report its own exit code.
        assert proc.returncode == -signal.SIGKILL, (name, proc.returncode)
        state = run / "train_state.safetensors"
        kills.append((name, _epoch_in_state(state) if state.exists() else 0))
        assert_readable(run)  # whatever the moment, no file a reader opens is half-written
    done = subprocess.run(resume, env=ENV, capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode == 0, done.stderr
    assert_same_weights(run, reference)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"] == json.loads((reference / "metrics.json").read_text())["test"]
    assert metrics["training"]["epochs_run"] == EPOCHS
    assert not list(run.glob(TMP_GLOB)), "temporary files left by the kills are cleaned on resume"
    print("kills (plan, checkpointed epoch):", kills)


# ----------------------------------------- the same for table and series runs
KIND_EPOCHS = 6
KIND_ARGS = ["--latent-dim", "2", "--hidden", "16", "--epochs", str(KIND_EPOCHS), "--batch-size", "32",
             "--device", "cpu", "--quiet", "--save-every", "0"]  # fmt: skip


@pytest.fixture(scope="module")
def kind_sources(tmp_path_factory):
    """A mixed-type table and a panel of series, as CSV files, with the options that make each kind of run."""
    from vaelab.data.table_demo import make_mixed_table
    from vaelab.data.timeseries import make_sine_panel

    folder = tmp_path_factory.mktemp("kind_sources")
    make_mixed_table(1500, seed=3).to_csv(folder / "table.csv", index=False)
    make_sine_panel(n_series=6, length=160, n_features=2, seed=3).to_csv(folder / "series.csv", index=False)
    return {"table": (folder / "table.csv", []),
            "series": (folder / "series.csv", ["--window", "12", "--horizon", "4", "--id", "id", "--time", "time"])}


@posix_only
@pytest.mark.parametrize("kind", ["table", "series"])
def test_table_and_series_runs_killed_and_resumed_equal_an_uninterrupted_run(tmp_path, kind_sources, kind):
    """SIGKILL mid-training and after the last checkpoint (a series run then trains its forecaster),
    --resume each time: the weights, the resume state and the forecaster end bitwise equal."""
    source, options = kind_sources[kind]
    fresh = lambda out: [sys.executable, "-m", "vaelab", "train", str(source), "--out", str(out), *options, *KIND_ARGS]
    ref = subprocess.run(fresh(tmp_path / "ref"), env=ENV, capture_output=True, text=True, timeout=WAIT_S)
    assert ref.returncode == 0, ref.stderr
    run = tmp_path / "run"
    resume = [sys.executable, "-m", "vaelab", "train", "--out", str(run), "--resume", "--quiet", "--save-every", "0"]
    rng = random.Random(12)
    for i, name in enumerate(["mid-training", "after the last checkpoint"]):
        before = _sig(run / "config.json")
        proc = subprocess.Popen(resume if i else fresh(run), env=ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            _kill_plan(name, rng, KIND_EPOCHS)(proc, run, before)
            assert proc.poll() is None, f"kill {i} ({name}): the trainer had already exited"
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=WAIT_S)
        assert proc.returncode == -signal.SIGKILL, (name, proc.returncode)
        assert_readable(run)
    if kind == "series":  # killed while the forecaster trained: the resumed run must train it
        assert not (run / "forecast.safetensors").exists()
    done = subprocess.run(resume, env=ENV, capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode == 0, done.stderr
    assert_same_weights(run, tmp_path / "ref")
    for name in {"table": ("table.json", "table.safetensors", "split.npy"),
                 "series": ("series.json", "series.safetensors", "split.npy", "forecast.safetensors")}[kind]:  # fmt: skip
        assert (run / name).read_bytes() == (tmp_path / "ref" / name).read_bytes(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"] == json.loads((tmp_path / "ref" / "metrics.json").read_text())["test"]
    assert metrics["training"]["epochs_run"] == KIND_EPOCHS


# -------------------------------------------- resuming a run killed early or late
def test_resume_after_a_kill_before_the_first_checkpoint_starts_the_run_cleanly(tmp_path, data, reference):
    run = tmp_path / "run"

    def stop_in_first_epoch(event, info):
        if event == "step" and info["batch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        one_thread(train_run, data, run, SETTINGS, progress=stop_in_first_epoch)
    assert (run / "config.json").exists() and not (run / "train_state.safetensors").exists()
    (run / ".model.safetensors.abcd1234.tmp").write_bytes(b"half a fi")  # as a SIGKILL mid-write leaves
    one_thread(train_run, None, run, resume=True)
    assert_same_weights(run, reference)
    assert not list(run.glob(TMP_GLOB))


def test_a_run_that_never_saved_an_epoch_can_be_started_again_with_other_settings(tmp_path, data, reference):
    """An audit (issue 17): a training that failed in its first epoch left config.json and the kind's state, so a
    fresh `train` said "already holds a run" and --resume could only repeat the same settings. Such a folder (no
    weights, no training state) is started again; a run with saved epochs still is not."""
    run = tmp_path / "run"

    def stop_in_first_epoch(event, info):
        if event == "step" and info["batch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        one_thread(train_run, data, run, {**SETTINGS, "lr": 0.5}, progress=stop_in_first_epoch)
    assert (run / "config.json").exists() and not (run / "train_state.safetensors").exists()
    assert main(["report", str(run)]) == 0  # a report of it (an audit: report.html then blocked the new start)
    one_thread(train_run, data, run, SETTINGS)  # other settings, a fresh start in the same folder
    assert not (run / "report.html").exists()  # the old run's report went with it
    assert_same_weights(run, reference)
    assert json.loads((run / "config.json").read_text())["train"]["lr"] == reference_lr(reference)
    with pytest.raises(RunError, match="already holds a run"):
        one_thread(train_run, data, run, SETTINGS)  # it saved epochs now: refused as before


def reference_lr(reference):
    return json.loads((reference / "config.json").read_text())["train"]["lr"]


def test_a_run_stopped_before_config_json_says_to_start_again_and_can(tmp_path, data, reference, capsys):
    run = tmp_path / "run"
    run.mkdir()
    np.save(run / "split.npy", np.zeros(3, dtype=np.int8))  # killed between split.npy and config.json
    (run / ".split.npy.abcd1234.tmp").write_bytes(b"")
    code = main(["train", "--out", str(run), "--resume", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert str(run) in err[0] and "vaelab train DATA --out" in err[0] and "without --resume" in err[0], err[0]
    one_thread(train_run, data, run, SETTINGS)  # starting again in the same folder works
    assert_same_weights(run, reference)
    assert not list(run.glob(TMP_GLOB))


def test_a_kill_after_the_last_checkpoint_but_before_model_safetensors_is_repaired_on_resume(
    tmp_path, data, reference, monkeypatch
):
    """train_state is written first; a kill before the files derived from it must not leave them stale."""
    run = tmp_path / "run"
    write_weights = RunDir.write_weights

    class Killed(BaseException):
        pass

    def dies_at_the_end(self, state_dict):
        state = self.file("train_state.safetensors")
        if state.exists() and _epoch_in_state(state) == EPOCHS:
            raise Killed  # as a SIGKILL here would: train_state is at the last epoch, the rest is not
        write_weights(self, state_dict)

    monkeypatch.setattr(RunDir, "write_weights", dies_at_the_end)
    with pytest.raises(Killed):
        one_thread(train_run, data, run, SETTINGS)
    monkeypatch.undo()
    one_thread(train_run, None, run, resume=True)
    assert_same_weights(run, reference)
    assert (run / "history.csv").read_text().count("\n") == EPOCHS + 1
    assert json.loads((run / "metrics.json").read_text())["training"]["epochs_run"] == EPOCHS


# ------------------------------------------------- 2. never half-written
WRITER = textwrap.dedent(
    """
    import json, os, sys, time
    import torch
    torch.set_num_threads(1)
    from vaelab.checkpoint import RunDir
    from vaelab.train import TrainState

    run = RunDir(sys.argv[1])
    module = torch.nn.Linear(512, 256)  # 0.5 MB: a write takes a while, so kills land inside it

    def checkpoint(i):  # what on_epoch writes, in its order, every tensor filled with i
        with torch.no_grad():
            module.bias.fill_(i)
            module.weight.fill_(i)
        sd = module.state_dict()
        best = {k: v.clone() for k, v in sd.items()}
        row = {"epoch": i, "train_loss": -i, "seconds": 0.5}
        run.write_train_state(TrainState(epoch=i, step=i, best_epoch=i, history=[row], best_weights=best), module)
        run.write_weights({**sd, "i": torch.tensor(i)})
        run.update_metrics(training={"i": i, "pad": "x" * 20000})

    start = time.perf_counter()
    for i in (1, 2, 3):
        checkpoint(i)
    print((time.perf_counter() - start) / 3, flush=True)  # seconds per checkpoint on this machine
    for line in sys.stdin:
        cmd, *rest = line.split()
        if cmd == "fork":
            pid = os.fork()
            if pid == 0:  # the writer: rewrites the checkpoint until it is killed
                i = run.read_metrics()["training"]["i"]
                stop = time.monotonic() + 60  # never outlive a test that died
                while time.monotonic() < stop:
                    i += 1
                    checkpoint(i)
                os._exit(3)
            print(pid, flush=True)
        elif cmd == "reap":
            _, status = os.waitpid(int(rest[0]), 0)
            print(json.dumps([os.WIFSIGNALED(status) and os.WTERMSIG(status)]), flush=True)
    """
)


@posix_only
def test_files_are_never_seen_half_written_when_the_writer_is_killed(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    rng = random.Random(20)
    helper = subprocess.Popen([sys.executable, "-c", WRITER, str(run)], env=ENV, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    seen, temps = [], set()
    try:
        per_checkpoint = float(helper.stdout.readline())
        for _ in range(20):
            helper.stdin.write("fork\n")
            helper.stdin.flush()
            pid = int(helper.stdout.readline())
            time.sleep(rng.uniform(0.0, 2.5) * per_checkpoint)  # anywhere in the first ~2 checkpoints
            os.kill(pid, signal.SIGKILL)
            helper.stdin.write(f"reap {pid}\n")
            helper.stdin.flush()
            assert json.loads(helper.stdout.readline()) == [signal.SIGKILL]  # it was alive, writing
            # Every file is whole, and each is one consistent version: written in the order
            # train_state (i), model (i), metrics (i), so model lags train_state by at most one.
            rd = RunDir(run)
            if not rd.file("train_state.safetensors").exists():
                continue
            state, current = rd.read_train_state()
            i = state.epoch
            assert state.history == [{"epoch": i, "train_loss": -i, "seconds": 0.5}] and state.best_epoch == i
            assert all(torch.all(t == i) for t in current.values())
            assert all(torch.all(t == i) for t in state.best_weights.values())
            if rd.file("model.safetensors").exists():
                weights = rd.read_weights()
                j = int(weights["i"])
                assert j in (i, i - 1) and torch.all(weights["weight"] == j) and torch.all(weights["bias"] == j)
                metrics = rd.read_metrics()
                if metrics:
                    assert metrics["training"]["i"] in (j, j - 1) and len(metrics["training"]["pad"]) == 20000
            seen.append(i)
            temps.update(p.name for p in run.glob(TMP_GLOB))
    finally:
        helper.stdin.close()
        helper.wait(timeout=60)
    assert len(seen) == 20 and seen[-1] > 3, f"the writers never finished a checkpoint: {seen}"
    assert temps, "no kill landed inside a write (none left a temporary file)"
    # Leftover temp files (from kills mid-write) have names no reader opens; resuming removes them.
    names = {p.name for p in run.iterdir()}
    assert names - {p.name for p in run.glob(TMP_GLOB)} <= {"train_state.safetensors", "model.safetensors", "metrics.json",
                                                            ".metrics.lock"}  # fmt: skip
    RunDir(run).remove_temp_files()
    assert not list(run.glob(TMP_GLOB))
    print(f"{len(seen)} kills; checkpoints reached {seen[-1]}; {len(temps)} temp files left by kills mid-write")


# ------------------------------------------- 3. unwritable folder, full disk
def _chmod_binds() -> bool:
    """False for root (or CAP_DAC_OVERRIDE), who may write into a read-only folder anyway."""
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o555)
        try:
            Path(d, "probe").write_bytes(b"")
        except PermissionError:
            return True
        finally:
            os.chmod(d, 0o755)
    return False


def _arm_after_epoch(monkeypatch, epoch, failure):
    """From the checkpoint after ``epoch`` on, writing fails the way ``failure`` says."""
    armed = []
    write_train_state = RunDir.write_train_state

    def arming(self, state, module):
        if state.epoch > epoch and not armed:
            armed.append(True)
            if failure == "unwritable" and _chmod_binds():
                os.chmod(self.path, 0o555)  # a real read-only folder where chmod binds
            else:
                fail(failure)
        return write_train_state(self, state, module)

    def fail(kind):
        if kind == "unwritable":  # creating the temporary file is refused
            def mkstemp(*args, **kwargs):
                raise PermissionError(errno.EACCES, "Permission denied", kwargs.get("dir"))

            monkeypatch.setattr(files.tempfile, "mkstemp", mkstemp)
        else:  # the temporary file is created, then the disk fills up
            def fsync(fd):
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(files.os, "fsync", fsync)

    monkeypatch.setattr(RunDir, "write_train_state", arming)


@pytest.mark.parametrize("failure", ["unwritable", "disk full"])
def test_an_unwritable_or_full_folder_is_a_clear_error_and_keeps_the_checkpoint(
    tmp_path, data, reference, monkeypatch, failure
):
    run = tmp_path / "run"
    before = {}

    def remember(event, info):
        if event == "epoch" and info["epoch"] == 2:
            before.update(snapshot(run))

    _arm_after_epoch(monkeypatch, 2, failure)
    try:
        with pytest.raises(RunError) as e:
            one_thread(train_run, data, run, SETTINGS, progress=remember)
    finally:
        os.chmod(run, 0o755)
        monkeypatch.undo()
    msg = str(e.value)
    assert "\n" not in msg, msg
    assert str(run) in msg and "--resume" in msg, msg
    assert ("full" in msg) if failure == "disk full" else ("cannot write to" in msg), msg
    assert snapshot(run) == before, "the previous checkpoint is intact, bitwise"
    assert not list(run.glob(TMP_GLOB))
    one_thread(train_run, None, run, resume=True)
    assert_same_weights(run, reference)


@pytest.mark.parametrize("failure", ["unwritable", "disk full"])
def test_cli_reports_an_unwritable_or_full_folder_in_one_line_and_resume_continues(
    tmp_path, data, reference, monkeypatch, capsys, failure
):
    run = tmp_path / "run"
    _arm_after_epoch(monkeypatch, 3, failure)
    try:
        code = one_thread(main, ["train", str(data), "--out", str(run), *ARGS])
    finally:
        os.chmod(run, 0o755)
        monkeypatch.undo()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "Traceback" not in err[0], err
    assert err[0].startswith("vaelab train: error:") and str(run) in err[0] and "--resume" in err[0], err[0]
    assert RunDir(run).read_train_state()[0].epoch == 3
    assert one_thread(main, ["train", "--out", str(run), "--resume", "--quiet"]) == 0
    assert_same_weights(run, reference)


def test_an_output_folder_that_cannot_be_created_is_a_clear_error(tmp_path, data, monkeypatch, capsys):
    def mkdir(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", mkdir)
    code = main(["train", str(data), "--out", str(tmp_path / "ro" / "run"), *ARGS])
    monkeypatch.undo()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "cannot write to" in err[0] and str(tmp_path / "ro" / "run") in err[0], err


def test_the_run_is_written_every_save_every_seconds_and_a_stop_keeps_the_last_written_epoch(
    tmp_path, data, reference, monkeypatch
):
    """Issue 17: the checkpoint is written when save_every seconds have passed since the last write and after
    the last epoch, not after every epoch. A run stopped in between keeps the folder as last written, bitwise,
    and --resume from it ends bitwise equal to an uninterrupted run. Each epoch takes 4 s of a fake clock."""
    import types

    from vaelab import estimator

    clock = [0.0]
    monkeypatch.setattr(estimator, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    written = []
    write_train_state = RunDir.write_train_state

    def counting(self, state, module):
        written.append(state.epoch)
        write_train_state(self, state, module)

    monkeypatch.setattr(RunDir, "write_train_state", counting)
    run = tmp_path / "run"
    at_epoch_4 = {}

    class Stopped(BaseException):
        pass

    def epochs_of_4_s(event, info):
        if event == "epoch":
            clock[0] += 4.0
            if info["epoch"] == 4:
                at_epoch_4.update(snapshot(run))
            if info["epoch"] == 6:
                raise Stopped  # as a kill here would: epochs 5 and 6 were trained, not written

    with pytest.raises(Stopped):
        one_thread(train_run, data, run, {**SETTINGS, "save_every": 10}, progress=epochs_of_4_s)
    assert written == [4], "epochs 1-3 end 0, 4 and 8 s after the start; epoch 4 at 12 s"
    assert snapshot(run) == at_epoch_4, "the folder is as epoch 4 wrote it, bitwise"
    assert_readable(run)
    one_thread(train_run, None, run, {"save_every": 0}, resume=True)
    assert written == [4, 5, 6, 7, 8], "resumed from epoch 4; save_every 0 writes every epoch"
    assert_same_weights(run, reference)


def test_save_every_must_be_a_number_of_seconds(tmp_path, data, capsys):
    for bad in (-1.0, float("nan"), "often"):
        with pytest.raises(ConfigError, match="save_every must be a number of seconds"):
            train_run(data, tmp_path / "never", {**SETTINGS, "save_every": bad})
    assert main(["train", str(data), "--out", str(tmp_path / "never"), "--save-every", "-1", "--quiet"]) == 2
    assert "--save-every (save_every) must be a number of seconds" in capsys.readouterr().err
    assert not (tmp_path / "never").exists(), "refused before anything is written"
