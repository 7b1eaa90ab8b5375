"""Nothing lost, nobody in (issue 14): the run folder under concurrent use, damage, hostile files and
absurd arguments. One test (or more) per defect of the issue, each written to fail on the code before
the fix; item 9 (CSV headers) belongs to the tables work. Commands run in-process through the CLI
(`main`); the few that need a process of their own (a kill, a closed pipe, concurrency) run one."""
import base64
import errno
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from vaelab import files
from vaelab.checkpoint import RunDir
from vaelab.errors import RunError
from vaelab.cli import main

from run_helpers import copy_tree, within

FAST = ["--epochs", "1", "--hidden", "8", "--latent-dim", "2", "--batch-size", "64", "--device", "cpu", "--quiet"]
ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
posix_only = pytest.mark.skipif(not hasattr(signal, "SIGALRM") or os.name != "posix", reason="needs POSIX (signals, fork, FIFOs, fcntl)")


# ------------------------------------------------------------------ helpers
def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv, match=""):
    """The command exits 2 with one line on stderr that holds ``match``."""
    code, _, err = cli(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, err)
    assert match in lines[0], lines[0]
    return lines[0]


def snapshot(folder):
    """Every file under ``folder`` (links as links) with its bytes."""
    out = {}
    for root, dirs, names in os.walk(folder):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            p = os.path.join(root, name)
            out[os.path.relpath(p, folder)] = os.readlink(p) if os.path.islink(p) else open(p, "rb").read()
    return out


def png_bytes(seed=0, size=8):
    from io import BytesIO

    pixels = np.random.default_rng(seed).integers(0, 255, (size, size), dtype=np.uint8)
    buf = BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def edit_metrics(run, **blocks):
    path = run / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics.update(blocks)
    path.write_text(json.dumps(metrics))


# ------------------------------------------------------------------ runs to work on
@pytest.fixture(scope="module")
def runs(tiny_runs, tmp_path_factory):
    """This module's copies of the session's tiny runs (its tests write into them)."""
    folder = tmp_path_factory.mktemp("safety")
    return {k: copy_tree(v, folder / k) for k, v in tiny_runs.items()}


@pytest.fixture(scope="module")
def data(tiny_runs):
    """Where the runs' data lie: {"image": folder of x.npy and y.npy, ..., "past": a series' past.csv}."""
    return {**{k: v.parent for k, v in tiny_runs.items()}, "past": tiny_runs["series"].parent / "past.csv",
            "labels": tiny_runs["image"].parent / "y.npy"}  # fmt: skip


@pytest.fixture(scope="module")
def image_run(runs):
    """A labelled run on 120 digits (1x8x8), 1 epoch; its data (x.npy, y.npy) beside the session's original."""
    return runs["image"]


@pytest.fixture(scope="module")
def table_run(runs):
    return runs["table"]


@pytest.fixture(scope="module")
def series_run(runs):
    return runs["series"]


@pytest.fixture
def run(image_run, tmp_path):
    """A copy of the image run to damage."""
    return copy_tree(image_run, tmp_path / "run")


# ------------------------------------------------- 1. demo --out deletes folders it did not write
@pytest.mark.parametrize("config", ["project", "vaelab run"])
def test_demo_checks_its_options_first_and_never_wipes_a_folder_it_did_not_write(image_run, tmp_path, capsys, config):
    """The repro: a project folder holding a config.json (its own, or a copied vaelab run's) and src/, data/."""
    project = tmp_path / "project"
    if config == "project":
        project.mkdir()
        (project / "config.json").write_text('{"name": "my project", "version": 3}')
    else:
        shutil.copytree(image_run, project)
    (project / "src").mkdir()
    (project / "src" / "main.py").write_text("print('my code')\n")
    (project / "data").mkdir()
    (project / "data" / "measurements.csv").write_text("a,b\n1,2\n")
    before = snapshot(project)
    refused(capsys, "demo", "--out", project, "--latent-dim", "0", "--quiet", match="latent_dim")
    assert snapshot(project) == before
    # Valid options: the foreign files stop it before anything is deleted (and before any training).
    line = refused(capsys, "demo", "--out", project, "--quiet", "--epochs", "1")
    assert ("not a vaelab run" if config == "project" else "files vaelab did not write") in line
    assert snapshot(project) == before


def test_demo_on_a_folder_without_a_run_says_so_once(tmp_path, capsys):
    # It read "dd is not a vaelab run (dd is not a vaelab run: it has no config.json. Runs are made by ...)".
    folder = tmp_path / "dd"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    line = refused(capsys, "demo", "--out", folder, "--quiet", "--epochs", "1")
    assert line.count("is not a vaelab run") == 1 and "has no config.json" in line and "Choose another --out" in line
    assert (folder / "notes.txt").read_text() == "mine"


def test_replacing_a_run_removes_only_its_files_and_never_follows_links(run, tmp_path):
    from vaelab.runs.run import remove_run

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.png").write_bytes(png_bytes())
    (run / "figures" / "linked.png").symlink_to(outside / "keep.png")
    remove_run(run)
    assert list(run.iterdir()) == [] and (outside / "keep.png").read_bytes() == png_bytes()


# ------------------------------------------------- 2. concurrent commands lose metrics.json blocks
def _writer(run, i, rounds, barrier, lost):
    """Update block ``i`` ``rounds`` times; before each update, check that the previous one survived
    (only this process writes block i, so another writer's stale copy is the only way to lose it)."""
    rd = RunDir(run)
    barrier.wait()
    for r in range(rounds):
        if r and rd.read_metrics().get(f"block{i}", {}).get("round") != r - 1:
            with lost.get_lock():
                lost.value += 1
        rd.update_metrics(**{f"block{i}": {"round": r, "pad": "x" * 4000}})


def _merger(run, i, rounds, barrier, lost):
    """As _writer, for entry ``i`` of one shared block (what explore and compare-samplers do)."""
    rd = RunDir(run)
    barrier.wait()
    for r in range(rounds):
        if r and rd.read_metrics().get("explore", {}).get(f"e{i}") != r - 1:
            with lost.get_lock():
                lost.value += 1
        rd.merge_metrics("explore", {f"e{i}": r})


@posix_only
@pytest.mark.parametrize("worker", [_writer, _merger], ids=["blocks", "entries of one block"])
def test_eight_processes_updating_one_metrics_json_for_50_rounds_lose_nothing(tmp_path, worker):
    procs, rounds = 8, 50
    run = tmp_path / "run"
    run.mkdir()
    ctx = mp.get_context("fork")
    barrier, lost = ctx.Barrier(procs), ctx.Value("i", 0)
    workers = [ctx.Process(target=worker, args=(run, i, rounds, barrier, lost)) for i in range(procs)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=240)
    assert all(w.exitcode == 0 for w in workers), [w.exitcode for w in workers]
    metrics = RunDir(run).read_metrics()
    assert lost.value == 0, f"{lost.value} updates were lost"
    if worker is _writer:
        assert all(metrics[f"block{i}"]["round"] == rounds - 1 for i in range(procs))
    else:
        assert metrics["explore"] == {f"e{i}": rounds - 1 for i in range(procs)}


@pytest.mark.parametrize("argv, figure, key", [
    (["explore", "traverse", "--steps"], "traversals.png", ("explore", "traverse", "steps")),
    (["score", "test", "--n-samples"], "score_test.png", ("likelihood", "n_samples")),
], ids=["explore", "score"])  # fmt: skip
def test_two_commands_of_one_action_at_once_leave_one_figure_and_its_entry(run, tmp_path, monkeypatch, argv, figure,
                                                                           key):  # fmt: skip
    """An audit (s13 g): two `explore R traverse` (or two `score R`) with other settings at once could leave the figure
    of one beside the metrics.json entry of the other: each was written atomically, but not the pair. The interleaving
    made by hand: the second runs whole after the first wrote its figure and before it wrote its entry."""
    command, *rest, option = argv
    alone = copy_tree(run, tmp_path / "alone")
    assert main([command, str(alone), *rest, option, "3"]) == 0  # the first command's figure, by itself
    expected = (alone / "figures" / figure).read_bytes()
    merge, update = RunDir.merge_metrics, RunDir.update_metrics
    other = []

    def the_other_meanwhile(write):
        def inner(self, *args, **kwargs):
            if not other:
                other.append(None)  # once: the other's own write passes through
                other[0] = main([command, str(run), *rest, option, "5"])
            return write(self, *args, **kwargs)
        return inner

    monkeypatch.setattr(RunDir, "merge_metrics", the_other_meanwhile(merge))
    monkeypatch.setattr(RunDir, "update_metrics", the_other_meanwhile(update))
    assert main([command, str(run), *rest, option, "3"]) == 0 and other == [0]
    value = RunDir(run).read_metrics()
    for k in key:
        value = value[k]
    assert value == 3 and (run / "figures" / figure).read_bytes() == expected


def test_two_sampler_comparisons_at_once_leave_each_grid_beside_its_own_entry(run, tmp_path, monkeypatch):
    """An audit (s14 b): compare-samplers' sample grids were written by the CLI after compare_samplers had written its
    entries, outside the run's lock (and not at all from Python): a comparison that ran whole in between left its
    entries beside the first one's grids. The interleaving made by hand: the second (from Python) runs after the first
    wrote its entries; the grid must be the second's, as a clean comparison with its seed draws it."""
    from vaelab.commands.generate import compare_samplers

    alone = copy_tree(run, tmp_path / "alone")
    assert main(["compare-samplers", str(alone), "--samplers", "prior", "--seed", "5", "--quiet"]) == 0
    expected = (alone / "figures" / "samples_prior.png").read_bytes()
    merge, other = RunDir.merge_metrics, []

    def the_other_after(self, *args, **kwargs):
        written = merge(self, *args, **kwargs)
        if not other:
            other.append(None)  # once: the other's own write passes through
            other[0] = compare_samplers(run, samplers=("prior",), seed=5)
        return written

    monkeypatch.setattr(RunDir, "merge_metrics", the_other_after)
    assert main(["compare-samplers", str(run), "--samplers", "prior", "--seed", "3", "--quiet"]) == 0 and other
    assert RunDir(run).read_metrics()["samplers"]["prior"]["seed"] == 5
    assert (run / "figures" / "samples_prior.png").read_bytes() == expected
    assert other[0]["figures"] == [run / "figures" / "samples_prior.png"]


def test_a_figure_written_without_its_block_is_marked_stale_in_the_report(run, monkeypatch):
    """An audit (s14 b): a command killed between its figure's rename and its block's left the new figure beside the
    old block, and the report showed them as one result. metrics.json records each such figure's SHA-256 with its
    block now; a figure that differs is shown as stale. The kill is made by hand, as the metrics.json write starts."""
    import vaelab.checkpoint as checkpoint

    assert main(["explore", str(run), "traverse", "--steps", "3"]) == 0
    recorded = RunDir(run).read_metrics()["figure_sha256"]["figures/traversals.png"]
    assert recorded == hashlib.sha256((run / "figures" / "traversals.png").read_bytes()).hexdigest()
    assert main(["report", str(run)]) == 0 and "Stale figure" not in (run / "report.html").read_text()

    class Killed(BaseException):
        pass

    write = checkpoint.atomic_write

    def killed_before_metrics(path, *args, **kwargs):
        if path.name == "metrics.json":
            raise Killed
        return write(path, *args, **kwargs)

    monkeypatch.setattr(checkpoint, "atomic_write", killed_before_metrics)
    with pytest.raises(Killed):
        main(["explore", str(run), "traverse", "--steps", "5"])
    monkeypatch.undo()
    assert RunDir(run).read_metrics()["explore"]["traverse"]["steps"] == 3  # the old block, beside the new figure
    assert main(["report", str(run)]) == 0
    assert "Stale figure: figures/traversals.png is not the one written with the numbers" in (run / "report.html").read_text()
    assert main(["explore", str(run), "traverse", "--steps", "5"]) == 0 and main(["report", str(run)]) == 0
    assert "Stale figure" not in (run / "report.html").read_text()  # written again: a pair


def test_the_weights_are_hashed_once_per_command_and_again_whenever_they_change(run, monkeypatch):
    """An audit (s14 b): every write of an analysis hashed the model files again under the run's lock, a second for a
    large ONNX model. Their digest is kept by their metadata (inode, size, times) once they have settled: explore
    hashes them once (as it loads the model); a rewrite of the weights is hashed again, and a file changed within the
    settling time is never taken from the cache."""
    import vaelab.checkpoint as checkpoint

    hashed = []
    hash_model = RunDir.hash_model
    monkeypatch.setattr(RunDir, "hash_model", lambda self, *h: hashed.append(1) or hash_model(self, *h))
    monkeypatch.setattr(checkpoint, "SETTLED_S", 0.0)  # the copied run's files are a moment old
    assert main(["explore", str(run), "traverse", "--steps", "3"]) == 0 and len(hashed) == 1
    rd = RunDir(run)
    digest = rd.weights_digest()
    assert len(hashed) == 1 and digest == RunDir(run).read_metrics()["explore"]["traverse"]["weights_digest"]
    weights = rd.read_weights()
    rd.write_weights({k: v + 1 if v.is_floating_point() else v for k, v in weights.items()})  # same size, new bytes
    assert rd.weights_digest() != digest and len(hashed) == 2
    monkeypatch.setattr(checkpoint, "SETTLED_S", 3600.0)  # not settled: hashed every time
    rd.write_weights(weights)
    assert rd.weights_digest() == digest and rd.weights_digest() == digest and len(hashed) == 4


def test_the_report_shows_no_diagnostics_figure_of_other_data_beside_the_diagnostics(run, data):
    """An audit (s15 b): `inspect RUN test` on a labelled run draws each class's codes (class_scatter.png); a later
    `inspect RUN FILE --representative` of unlabelled data replaced the diagnostics and drew no such figure, and the
    report showed the test split's class scatter beside the new block. The block lists its figures now."""
    assert main(["inspect", str(run), "test"]) == 0 and (run / "figures" / "class_scatter.png").is_file()
    assert main(["report", str(run)]) == 0 and "Each class&#39;s codes" in (run / "report.html").read_text()
    assert main(["inspect", str(run), str(data["image"] / "x.npy"), "--representative"]) == 0
    block = RunDir(run).read_metrics()["diagnostics"]
    assert "figures/latent_scatter.png" in block["figures"] and "figures/class_scatter.png" not in block["figures"]
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "Each class&#39;s codes" not in page and "Codes of the data in the two most informative" in page


@posix_only
def test_a_second_training_of_a_run_is_refused_while_one_runs_and_a_killed_one_blocks_nothing(run, capsys):
    """An audit (s14 b): two `train --resume` of one run at once both ran, each writing its epochs over the other's.
    The second is refused now, before any work, in one line naming the first; a training killed with SIGKILL leaves
    its lock file but never blocks the run (the kernel releases the lock)."""
    before = {k: v for k, v in snapshot(run).items() if k != ".train.lock"}
    with RunDir(run).training("vaelab train --resume"):
        line = refused(capsys, "train", "--out", run, "--resume", "--epochs", "2", "--quiet",
                       match="is being trained by another process (vaelab train --resume, pid")  # fmt: skip
        assert f"pid {os.getpid()} on " in line and f"kill {os.getpid()}" in line
        assert {k: v for k, v in snapshot(run).items() if k != ".train.lock"} == before  # nothing else written
    killed = subprocess.run([sys.executable, "-c", "import os, sys; from vaelab.checkpoint import RunDir\n"
                             "with RunDir(sys.argv[1]).training(): os.kill(os.getpid(), 9)", str(run)],
                            env={**ENV, "PYTHONPATH": os.pathsep.join(sys.path)})  # fmt: skip
    assert killed.returncode == -signal.SIGKILL and "pid" in (run / ".train.lock").read_text()
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2", "--quiet"]) == 0


def test_the_demo_never_empties_a_run_that_is_being_trained(run, capsys):
    """An audit (s15 b): `vaelab demo --out RUN` emptied RUN while a `train --resume` of it ran (its lock file too),
    and the training went on writing its epochs into the folder the demo trained in. The demo is refused first now."""
    from vaelab.runs.run import remove_run

    before = {k: v for k, v in snapshot(run).items() if k != ".train.lock"}
    with RunDir(run).training("vaelab train --resume"):
        with pytest.raises(RunError, match="is being trained by another process"):
            remove_run(run)
    assert {k: v for k, v in snapshot(run).items() if k != ".train.lock"} == before
    remove_run(run)  # the training ended: replaced as before
    assert list(run.iterdir()) == []


@posix_only
def test_a_resume_that_starts_while_a_command_writes_keeps_its_temporary_file(run, monkeypatch):
    """An audit (s14): `train --resume` deleted every temporary file of the run as it started, those of commands
    writing the run meanwhile too: a report (or score's calibration cache, or an analysis' metrics.json) between
    writing its temporary file and renaming it failed ("Could not write report.html: No such file or directory").
    Only files whose writer no longer runs are deleted now (a kill's leftovers, as before)."""
    import tempfile

    mkstemp, resumed = tempfile.mkstemp, []

    def resume_meanwhile(*args, **kwargs):  # the report's temporary file is written; the resume starts
        fd, name = mkstemp(*args, **kwargs)
        if not resumed and os.path.basename(name).startswith(".report.html."):
            resumed.append(main(["train", "--out", str(run), "--resume", "--epochs", "2", "--quiet"]))
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", resume_meanwhile)
    assert main(["report", str(run)]) == 0 and resumed == [0]
    assert (run / "report.html").read_text().startswith("<!DOCTYPE html>")
    # a kill's leftover (its writer gone) is deleted as before; a live writer's, even unknown to this command, kept
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead, live = (run / f".metrics.json.{gone.stdout.strip()}-{files.HOST}.abcd1234.tmp",
                  run / "figures" / f".grid.png.{os.getpid()}-{files.HOST}.abcd1234.tmp")  # fmt: skip
    dead.write_bytes(b"half")
    live.write_bytes(b"half")
    assert RunDir(run).remove_temp_files() == [dead] and live.exists() and not dead.exists()


@pytest.mark.slow  # four interpreters importing torch at once: minutes on a small shared machine
def test_explorations_and_inspect_run_at_once_keep_every_entry(run):
    """The issue's repro through the CLI: commands started together, each exits 0, no entry is gone."""
    commands = [["explore", run, "traverse", "--steps", "3"], ["explore", run, "grid", "--n", "3"],
                ["explore", run, "interpolate", "0", "1", "--steps", "3"], ["inspect", run]]  # fmt: skip
    procs = [subprocess.Popen([sys.executable, "-m", "vaelab", *map(str, c)], env=ENV, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for c in commands]  # fmt: skip
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errs
    metrics = RunDir(run).read_metrics()
    assert set(metrics["explore"]) == {"traverse", "grid", "interpolate"} and "diagnostics" in metrics


# ------------------------------------------------- 3. symlinked subfolders written and deleted through
def _link_figures_to(run, victim):
    shutil.rmtree(run / "figures")
    (run / "figures").symlink_to(victim, target_is_directory=True)


def test_a_figures_link_leading_outside_the_run_is_never_written_through(run, tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "traversals.png").write_bytes(b"precious")
    _link_figures_to(run, victim)
    refused(capsys, "explore", run, "traverse", "--steps", "3", match="outside the run")
    refused(capsys, "inspect", run, match="outside the run")
    assert snapshot(victim) == {"traversals.png": b"precious"}


def test_resume_never_deletes_files_through_a_linked_folder(run, tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / ".notes.abcd1234.tmp").write_text("mine, named like a temporary file")
    _link_figures_to(run, victim)
    refused(capsys, "train", "--out", run, "--resume", "--epochs", "2", "--quiet", match="outside the run")
    assert (victim / ".notes.abcd1234.tmp").exists()


# ------------------------------------------------- 4. report embeds files from outside the run
def test_report_embeds_no_file_from_outside_the_run(run, tmp_path, capsys):
    secret = tmp_path / "secret" / "photo.png"
    secret.parent.mkdir()
    secret.write_bytes(png_bytes(seed=7))
    (run / "figures" / "training_curves.png").unlink()
    (run / "figures" / "training_curves.png").symlink_to(secret)  # a link in figures/
    (run / "figures" / "samples_").mkdir()  # makes the sampler name below a path that resolves
    edit_metrics(run, samplers={"/../../../secret/photo": {"frechet": 1.0}, "_summary": {"verdict": "use it"}})
    code, _, err = cli(capsys, "report", run)
    assert code == 0, err
    page = (run / "report.html").read_text()
    assert base64.b64encode(secret.read_bytes()).decode() not in page
    assert "metrics.json is damaged here" in page  # the sampler entry with that name is left out, with a note
    assert base64.b64encode((run / "figures" / "reconstructions.png").read_bytes()).decode() in page  # the run's own


# ------------------------------------------------- 5. --out naming the run's own files
@pytest.mark.parametrize("argv, victim", [
    (["sample", "{run}", "--n", "4", "--out", "{run}/split.npy"], "{run}/split.npy"),
    (["report", "{run}", "--out", "{run}/metrics.json"], "{run}/metrics.json"),
    (["score", "{run}", "--n-samples", "3", "--quiet", "--out", "{run}/config.json"], "{run}/config.json"),
    (["sample", "{run}", "--n", "4", "--out", "{run}/figures/reconstructions.png"], "{run}/figures/reconstructions.png"),
    (["sample", "{run}", "--n", "4", "--out", "{data}/x.npy"], "{data}/x.npy"),  # the data the run was trained on
])  # fmt: skip
def test_out_never_names_a_file_of_the_run_or_its_data(image_run, data, tmp_path, capsys, argv, victim):
    shutil.copytree(data["image"], tmp_path / "data")  # the run and its data, side by side; the copy reads the copied data
    data = tmp_path / "data"
    run = data / "run"
    config = json.loads((run / "config.json").read_text())
    config["data"].update(source=str(data / "x.npy"), labels=str(data / "y.npy"))
    (run / "config.json").write_text(json.dumps(config))
    victim = victim.format(run=run, data=data)
    before = open(victim, "rb").read()
    refused(capsys, *[a.format(run=run, data=data) for a in argv], match="--out")
    assert open(victim, "rb").read() == before
    assert cli(capsys, "score", run, "--n-samples", "3", "--quiet")[0] == 0  # the run still works


@posix_only
def test_out_naming_a_fifo_is_refused_and_left_alone(run, tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    refused(capsys, "score", run, "--n-samples", "3", "--quiet", "--out", fifo, match="FIFO")
    refused(capsys, "sample", run, "--n", "3", "--out", tmp_path, match="is a folder")
    assert fifo.is_fifo()


# ------------------------------------------------- 6. the calibration cache outlives new weights
def test_calibration_cache_is_not_reused_after_the_weights_change(run, tmp_path, capsys):
    def percentiles(name):
        assert cli(capsys, "score", run, "--n-samples", "20", "--quiet", "--out", tmp_path / name)[0] == 0
        return np.loadtxt(tmp_path / name, delimiter=",", skiprows=1, usecols=7)

    percentiles("first.csv")  # caches the validation scores of the 1-epoch weights
    assert cli(capsys, "train", "--out", run, "--resume", "--epochs", "4", "--quiet")[0] == 0
    after_resume = percentiles("cached.csv")
    (run / "calibration.safetensors").unlink()
    np.testing.assert_array_equal(after_resume, percentiles("fresh.csv"))


def test_the_calibration_cache_is_keyed_by_the_weights_it_was_computed_with(run, tmp_path, capsys, monkeypatch):
    """An audit (s13): the cache's key hashed model.safetensors after the model was loaded from it, so weights that
    train --resume wrote in between keyed the old weights' reference scores with the new weights: a later score on the
    new weights took its percentiles from the old ones."""
    import vaelab.runs.run as run_module

    newer = {k: v + 0.05 if v.is_floating_point() else v for k, v in load_file(run / "model.safetensors").items()}
    loaded = run_module.load

    def load_then_resume_writes(*args, **kwargs):  # the resumed training's next epoch lands just after the load
        model = loaded(*args, **kwargs)
        RunDir(run).write_weights(newer)
        return model

    monkeypatch.setattr(run_module, "load", load_then_resume_writes)
    assert cli(capsys, "score", run, "--n-samples", "20", "--quiet", "--out", tmp_path / "a.csv")[0] == 0
    monkeypatch.setattr(run_module, "load", loaded)
    cached = np.loadtxt(tmp_path / "a.csv", delimiter=",", skiprows=1, usecols=7)
    assert cli(capsys, "score", run, "--n-samples", "20", "--quiet", "--out", tmp_path / "b.csv")[0] == 0
    (run / "calibration.safetensors").unlink()
    assert cli(capsys, "score", run, "--n-samples", "20", "--quiet", "--out", tmp_path / "c.csv")[0] == 0
    fresh = np.loadtxt(tmp_path / "c.csv", delimiter=",", skiprows=1, usecols=7)
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "b.csv", delimiter=",", skiprows=1, usecols=7), fresh)
    assert not np.array_equal(cached, fresh)  # the weights did change the percentiles


# ------------------------------------------------- 7. a diverged run counts as success
def test_a_nan_weight_in_model_safetensors_is_refused(run, capsys):
    weights = load_file(run / "model.safetensors")
    weights["decoder.2.weight"][0, 0] = float("nan")
    save_file(weights, run / "model.safetensors")  # a file without vaelab's checksum: what other tools write
    for argv in (["score", run, "--n-samples", "3", "--quiet"], ["inspect", run], ["sample", run, "--n", "3",
                                                                                    "--out", run.parent / "s.npy"]):
        refused(capsys, *argv, match="NaN or infinite weights")


def _overflowing(run):
    """Finite weights whose decoder output overflows float32 ((x - 3e38)^2 is inf): every score is NaN. (A posterior
    variance of exp(200) no longer does: scoring keeps the proposal's log-variance within bounds.)"""
    weights = load_file(run / "model.safetensors")
    weights["decoder.2.bias"] = torch.full_like(weights["decoder.2.bias"], 3e38)
    save_file(weights, run / "model.safetensors")


def test_non_finite_scores_are_refused_not_averaged(run, tmp_path, capsys):
    _overflowing(run)
    refused(capsys, "score", run, "--n-samples", "3", "--quiet", match="NaN or infinite log p(x)")
    np.save(tmp_path / "out.npy", np.ones((5, 1, 8, 8), np.float32))
    refused(capsys, "anomaly-eval", run, "--outliers", tmp_path / "out.npy", "--n-samples", "3", "--quiet",
            match="NaN or infinite log p(x)")  # fmt: skip


def test_report_of_a_run_whose_metrics_hold_nan(run, capsys):
    """NaN is stored as null: a block whose numbers are null where arithmetic needs them is shown as not run."""
    edit_metrics(run, likelihood={"test_nll": None, "elbo": None, "bits_per_dim": None, "n_samples": 3},
                 anomaly={"inliers": "test", "outliers": "x", "n_inliers": 3, "n_outliers": 3,
                          "scores": {"log_px": {"auroc": None, "auprc": None}}})  # fmt: skip
    code, _, err = cli(capsys, "report", run)
    assert code == 0, err
    assert "likelihood.test_nll must be a finite number" in (run / "report.html").read_text()


def test_training_whose_test_elbo_is_not_finite_fails_and_keeps_its_checkpoint(tmp_path, capsys):
    from vaelab.data.split import indices, split_assignment

    X = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    X[indices(split_assignment(200, 0.1, 0.1, 0), "test")[0]] = 1e30  # finite, far outside: (x - mu)^2 overflows
    np.save(tmp_path / "x.npy", X)
    line = refused(capsys, "train", tmp_path / "x.npy", "--out", tmp_path / "run", *FAST, match="test ELBO is NaN")
    assert "keeps its last saved epoch" in line
    assert RunDir(tmp_path / "run").read_train_state()[0].epoch == 1


# ------------------------------------------------- 8. a split's name taken for a folder of that name
def test_a_split_name_means_the_split_even_when_a_folder_has_that_name(run, tmp_path, capsys, monkeypatch):
    (tmp_path / "test").mkdir()
    for i in range(3):  # images the model could score: the same 8x8 shape
        (tmp_path / "test" / f"{i}.png").write_bytes(png_bytes(seed=i))
    monkeypatch.chdir(tmp_path)
    n_test = int((np.load(run / "split.npy") == 2).sum())
    code, out, err = cli(capsys, "score", run, "test", "--n-samples", "3", "--quiet")
    assert code == 0 and f"{n_test} examples" in out and "the run's test split" in out, out
    assert "./test here is not used" in err
    code, out, _ = cli(capsys, "score", run, "./test", "--n-samples", "3", "--quiet")
    assert code == 0 and out.startswith("./test: 3 examples"), out


# ------------------------------------------------- 10. metrics.json blocks never validated on read
DAMAGED = [
    ("diagnostics", {"aggregate": "x"}), ("diagnostics", []), ("samplers", [1, 2]),
    ("samplers", {"prior": {"frechet": "low"}, "_summary": {"verdict": 3}}), ("explore", {"grid": {"dims": "ab"}}),
    ("explore", "x"), ("likelihood", {"test_nll": "1", "elbo": 1, "bits_per_dim": 1, "n_samples": 1}),
    ("anomaly", {"scores": 3}), ("synthetic", {"kind": "table"}), ("test", {"elbo": [1]}), ("training", 7),
    ("explore", {"traverse": {"span_sd": {}}, "arithmetic": {"results": [None]}}),
    # found by the hostile corpus after issue 15 added per-spec diagnostics: the report read them unchecked
    ("diagnostics_by_data", 1e308), ("diagnostics_by_data", {"ones.npy": None}), ("diagnostics_by_data", {"x": {"scope": 1}}),
]  # fmt: skip


@pytest.mark.parametrize("block, value", DAMAGED, ids=[f"{b}-{i}" for i, (b, _) in enumerate(DAMAGED)])
def test_a_damaged_block_is_shown_as_not_run_with_a_note(run, capsys, block, value):
    edit_metrics(run, **{block: value})
    code, _, err = cli(capsys, "report", run)
    assert code == 0, err
    assert "metrics.json is damaged here" in (run / "report.html").read_text()


def test_commands_reading_or_merging_a_damaged_block_carry_on(run, capsys):
    edit_metrics(run, diagnostics={"aggregate": "x"}, explore=[1], samplers="x")
    code, _, err = cli(capsys, "compare-samplers", run, "--samplers", "prior", "--n", "12")
    assert code == 0, err
    code, _, err = cli(capsys, "explore", run, "grid", "--n", "3")
    assert code == 0, err
    metrics = RunDir(run).read_metrics()
    assert set(metrics["explore"]) == {"grid"} and set(metrics["samplers"]) == {"prior", "_summary"}
    assert metrics["diagnostics"] == {"aggregate": "x"}  # not this command's block: kept as it was


# ------------------------------------------------- 11. absurd numbers
ABSURD = [
    (["inspect", "{run}", "--seed", "-1"], "--seed"),
    (["inspect", "{run}", "--seed", str(2**64)], "--seed"),
    (["sample", "{run}", "--n", str(10**12), "--out", "{tmp}/s.npy"], "--n"),
    (["sample", "{run}", "--n", str(10**8), "--out", "{tmp}/s.npy"], "--n"),  # hung: 10^8 x 64 values
    (["compare-samplers", "{run}", "--samplers", "prior", "--n", str(10**12)], "--n"),
    (["explore", "{run}", "grid", "--n", "100000"], "--n"),
    (["explore", "{run}", "traverse", "--steps", str(10**7)], "--steps"),
    (["explore", "{run}", "interpolate", "0", "1", "--steps", str(10**7)], "--steps"),  # hung
    (["explore", "{run}", "arithmetic", "0", "1", "--n-samples", str(10**9)], "--n-samples"),
    (["score", "{run}", "--n-samples", str(10**12), "--quiet"], "--n-samples"),
    (["evaluate-synthetic", "{table}", "--n", str(10**12)], "--n"),
    (["evaluate-synthetic", "{table}", "--n", str(10**7)], "--n"),  # fits in memory; measuring it hung (fuzz)
    (["compare-samplers", "{run}", "--samplers", "prior", "--n", str(10**6)], "--n"),
    (["sample", "{series}", "--past", "{past}", "--draws", str(10**12), "--out", "{tmp}/f.csv"], "--draws"),
]  # fmt: skip


@posix_only
@pytest.mark.parametrize("argv, names", ABSURD, ids=[" ".join(a[:1] + a[2:4]) for a, _ in ABSURD])
def test_absurd_numbers_are_refused_in_one_line_before_any_work(image_run, table_run, series_run, data, tmp_path, capsys,
                                                                argv, names):  # fmt: skip
    argv = [a.format(run=image_run, table=table_run, series=series_run, tmp=tmp_path, past=data["past"]) for a in argv]
    before = snapshot(image_run)
    with within(30):
        refused(capsys, *argv, match=names)
    assert snapshot(image_run) == before


# ------------------------------------------------- 12. bare mkdir, truncated forecaster, broken pipe
def test_out_under_a_file_is_one_line(run, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    refused(capsys, "sample", run, "--n", "3", "--out", tmp_path / "afile" / "s.npy", match="Not a directory")


def test_figures_folder_that_cannot_be_made_is_one_line(run, monkeypatch, capsys):
    shutil.rmtree(run / "figures")

    def mkdir(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(type(run), "mkdir", mkdir)
    refused(capsys, "explore", run, "grid", "--n", "3", match="cannot write to")


def test_a_truncated_forecaster_is_one_line(series_run, data, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(series_run, run)
    raw = (run / "forecast.safetensors").read_bytes()
    (run / "forecast.safetensors").write_bytes(raw[: len(raw) // 2])
    refused(capsys, "sample", run, "--past", data["past"], "--draws", "3", "--out", tmp_path / "f.csv",
            match="forecast.safetensors is damaged")  # fmt: skip


class _ClosedPipe:
    """A stdout whose reader has gone: every write fails as it does under `| head`."""

    def __init__(self):
        self.read_end, self.write_end = os.pipe()
        os.close(self.read_end)

    def write(self, text):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    def flush(self):
        pass

    def fileno(self):
        return self.write_end


@posix_only
def test_a_closed_pipe_on_stdout_ends_quietly(image_run, monkeypatch, capsys):
    pipe = _ClosedPipe()
    monkeypatch.setattr(sys, "stdout", pipe)
    assert main(["inspect", str(image_run)]) == 141
    assert capsys.readouterr().err == ""
    os.write(pipe.write_end, b"flushed at exit")  # now goes to /dev/null, not into a second BrokenPipeError
    os.close(pipe.write_end)


@pytest.mark.slow  # an interpreter of its own
def test_a_closed_pipe_on_stdout_is_no_traceback(image_run):
    proc = subprocess.Popen([sys.executable, "-m", "vaelab", "inspect", str(image_run)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    proc.stdout.close()  # `| head` that has already gone
    err = proc.stderr.read().decode()
    proc.wait(timeout=300)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 141


# ------------------------------------------------- 13. bit flips in weights and caches
def _flip_a_weight_byte(path):
    """Flip the top bits of one float32 weight's exponent, in the tensor data (not the header)."""
    raw = bytearray(path.read_bytes())
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    name = next(k for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32" and v["shape"])
    raw[8 + n + header[name]["data_offsets"][0] + 3] ^= 0x40
    path.write_bytes(bytes(raw))


def test_a_flipped_bit_in_the_weights_is_refused(run, capsys):
    _flip_a_weight_byte(run / "model.safetensors")
    refused(capsys, "score", run, "--n-samples", "3", "--quiet", match="failed its checksum")


def test_a_flipped_bit_in_a_cache_rebuilds_it(run, capsys):
    def frechet():
        assert cli(capsys, "compare-samplers", run, "--samplers", "prior", "--n", "12")[0] == 0
        return RunDir(run).read_metrics()["samplers"]["prior"]["frechet"]

    clean = frechet()  # trains and caches the domain classifier
    _flip_a_weight_byte(run / "classifier.safetensors")
    assert frechet() == clean
    RunDir(run).read_arrays("classifier.safetensors")  # rewritten whole


# ------------------------------------------------- 14. arguments silently replaced or ignored
IGNORED = [
    (["compare-samplers", "{run}", "--samplers", "prior", "--n", "0"], "--n must be a positive integer"),
    (["evaluate-synthetic", "{table}", "--n", "0"], "--n must be a positive integer"),
    (["sample", "{series}", "--past", "{past}", "--class", "a", "--out", "{tmp}/f.csv"], "--class"),
    (["sample", "{table}", "--n", "3", "--class", "a", "--out", "{tmp}/t.csv"], "--class"),  # refused before too: a pin
    (["sample", "{run}", "--n", "3", "--draws", "5", "--out", "{tmp}/s.npy"], "--draws"),
    (["evaluate-synthetic", "{series}", "--target", "f0"], "--target"),
    (["inspect", "{run}", "--active-threshold", "nan"], "--active-threshold"),
    (["score", "{run}", "--band", "25", "75", "--threshold", "5", "--n-samples", "3", "--quiet"], "not both"),
    (["score", "{run}", "--threshold", "100", "--n-samples", "3", "--quiet"], "--threshold"),
    (["inspect", "{run}", "--labels", "{labels}"], "--labels"),
]  # fmt: skip


@pytest.mark.parametrize("argv, names", IGNORED, ids=[" ".join(a[:1] + a[2:4]) for a, _ in IGNORED])
def test_an_option_that_cannot_apply_is_refused(image_run, table_run, series_run, data, tmp_path, capsys, argv, names):
    argv = [a.format(run=image_run, table=table_run, series=series_run, tmp=tmp_path, past=data["past"],
                     labels=data["labels"]) for a in argv]  # fmt: skip
    refused(capsys, *argv, match=names)


def test_band_and_threshold_are_checked_before_scoring(run, capsys, monkeypatch):
    from vaelab.runs.run import Run

    monkeypatch.setattr(Run, "log_likelihood", lambda *a, **k: pytest.fail("scored before the options were checked"))
    refused(capsys, "score", run, "--band", "80", "20", "--quiet", match="LOW < HIGH")


# ------------------------------------------------- 15. smaller
KILLED_REPORT = """
import os, sys
os.replace = lambda *a, **k: os._exit(9)  # killed between writing the temporary file and renaming it
from vaelab.cli import main
main(["report", sys.argv[1]])
"""


@posix_only
def test_a_report_killed_mid_write_leaves_no_temporary_file_for_good(run):
    proc = subprocess.run([sys.executable, "-c", KILLED_REPORT, str(run)], env=ENV, capture_output=True, timeout=300)
    assert proc.returncode == 9, proc.stderr
    assert list(run.glob(".report.html.*.tmp")), "the kill left no temporary file: the test proves nothing"
    assert main(["report", str(run)]) == 0
    assert not list(run.glob(".report.html.*.tmp"))


@pytest.mark.parametrize("command", ["score", "report"])
def test_a_full_disk_while_scoring_or_reporting_does_not_advise_resuming_training(run, tmp_path, capsys, monkeypatch,
                                                                                 command):  # fmt: skip
    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", fsync)
    argv = ["score", run, "--n-samples", "3", "--quiet", "--out", tmp_path / "s.csv"] if command == "score" else ["report", run]
    line = refused(capsys, *argv, match="full")
    assert "--resume" not in line and "run the command again" in line


def test_compare_samplers_on_a_subset_updates_the_block(run, capsys):
    assert cli(capsys, "compare-samplers", run, "--samplers", "prior", "--n", "12")[0] == 0
    assert cli(capsys, "compare-samplers", run, "--samplers", "posterior", "--n", "12")[0] == 0
    block = RunDir(run).read_metrics()["samplers"]
    assert {"prior", "posterior", "_summary"} <= set(block)
    assert block["_summary"]["compared"] == ["posterior"] and block["prior"]["n_samples"] == 12


def test_an_error_about_a_private_csv_does_not_echo_its_cells(run, tmp_path, capsys):
    rows = ["a,b"] + [f"{i},{i}" for i in range(5)] + ["1,Jane Doe 555-0100"]
    (tmp_path / "private.csv").write_text("\n".join(rows) + "\n")
    line = refused(capsys, "score", run, tmp_path / "private.csv", "--n-samples", "3", "--quiet", match="must hold numbers")
    assert "Jane" not in line and "555" not in line


def test_every_block_vaelab_writes_passes_its_schema(run, table_run, series_run, capsys):
    """The schemas of metrics_schema describe what the commands write (no false 'damaged' notes)."""
    for argv in (["score", run, "--n-samples", "3", "--quiet"], ["inspect", run],
                 ["compare-samplers", run, "--samplers", "prior", "--n", "12"], ["explore", run, "traverse", "--steps", "3"],
                 ["explore", run, "grid", "--n", "3"], ["explore", run, "interpolate", "0", "1", "--steps", "3"],
                 ["explore", run, "arithmetic", "0", "1", "--n-samples", "5"],
                 ["anomaly-eval", run, "--outliers", "val", "--n-samples", "3", "--quiet"]):  # fmt: skip
        assert cli(capsys, *argv)[0] == 0, argv
    for r in (run, table_run, series_run):
        if r is not run:
            assert cli(capsys, "evaluate-synthetic", r)[0] == 0
        blocks, notes = RunDir(r).read_blocks()
        assert notes == {}, notes
    assert set(RunDir(run).read_blocks()[0]) >= {"training", "test", "likelihood", "diagnostics", "samplers", "explore",
                                                  "anomaly"}  # fmt: skip


# ------------------------------------------------- 16. audit s9a: --out, run file links, repeated column names
def test_score_out_in_a_missing_folder_is_made_as_sample_does(run, tmp_path, capsys):
    """score --out in a folder that does not exist scored everything, then failed to write (the figure already
    rewritten); sample --out made the folder. Both make it now."""
    for argv in (["score", run, "--n-samples", "3", "--quiet", "--out", tmp_path / "new" / "s.csv"],
                 ["sample", run, "--n", "3", "--out", tmp_path / "new2" / "s.csv"]):  # fmt: skip
        code, _, err = cli(capsys, *argv)
        assert code == 0, err
    assert (tmp_path / "new" / "s.csv").is_file() and (tmp_path / "new2" / "s.csv").is_file()


def test_a_score_whose_out_cannot_be_written_leaves_the_run_as_it_was(run, tmp_path, capsys, monkeypatch):
    out = tmp_path / "s.csv"
    replace = os.replace

    def full(src, dst, *args, **kwargs):  # the disk fills up just as --out is written
        if os.fspath(dst) == os.fspath(out):
            raise OSError(errno.ENOSPC, "No space left on device")
        return replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(files.os, "replace", full)
    before = snapshot(run)
    refused(capsys, "score", run, "--n-samples", "3", "--quiet", "--out", out, match="full")
    assert snapshot(run) == before  # no figure, no calibration cache, no metrics.json block


@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_a_run_file_linked_outside_the_run_is_never_read(run, tmp_path, capsys, name):
    outside = tmp_path / "elsewhere" / name
    outside.parent.mkdir()
    shutil.move(run / name, outside)
    (run / name).symlink_to(outside)
    refused(capsys, "sample", run, "--n", "3", "--out", tmp_path / "s.npy", match="outside the run")
    refused(capsys, "score", run, "--n-samples", "3", "--quiet", match="outside the run")
    assert not (tmp_path / "s.npy").exists()


def test_metrics_json_linked_outside_the_run_is_neither_read_nor_written(run, tmp_path, capsys):
    outside = tmp_path / "elsewhere" / "metrics.json"
    outside.parent.mkdir()
    outside.write_text('{"theirs": {"secret": 1}}')
    (run / "metrics.json").unlink()
    (run / "metrics.json").symlink_to(outside)
    refused(capsys, "explore", run, "traverse", "--steps", "3", match="outside the run")
    refused(capsys, "score", run, "--n-samples", "3", "--quiet", match="outside the run")
    assert (run / "metrics.json").is_symlink() and outside.read_text() == '{"theirs": {"secret": 1}}'


@pytest.mark.parametrize("which, name", [("table", "table.safetensors"), ("series", "series.safetensors")])
def test_a_kinds_arrays_linked_outside_are_named_as_the_fault(table_run, series_run, tmp_path, capsys, which, name):
    """A kind's arrays (table.safetensors, series.safetensors) linked outside the run, or missing, said "table.json is
    damaged (...); train the run again": the wrong file, and advice that a copy of the file makes needless (an audit,
    s13)."""
    run = copy_tree(table_run if which == "table" else series_run, tmp_path / "run")
    outside = tmp_path / "elsewhere" / name
    outside.parent.mkdir()
    shutil.move(run / name, outside)
    (run / name).symlink_to(outside)
    err = refused(capsys, "score", run, "--n-samples", "3", "--quiet", match="outside the run")
    assert "damaged" not in err and "train the run again" not in err
    (run / name).unlink()
    err = refused(capsys, "score", run, "--n-samples", "3", "--quiet", match=f"{name} is missing")
    assert ".json is damaged" not in err


def test_a_link_to_a_file_inside_the_run_is_followed(run, capsys):
    (run / "kept").mkdir()
    shutil.move(run / "model.safetensors", run / "kept" / "model.safetensors")
    (run / "model.safetensors").symlink_to(run / "kept" / "model.safetensors")
    assert cli(capsys, "score", run, "--n-samples", "3", "--quiet")[0] == 0


def test_out_inside_another_run_is_refused(run, table_run, tmp_path, capsys):
    other = copy_tree(table_run, tmp_path / "other")
    assert cli(capsys, "report", other)[0] == 0
    before = snapshot(other)
    refused(capsys, "report", run, "--out", other / "report.html", match="inside the vaelab run")
    refused(capsys, "sample", run, "--n", "3", "--out", other / "s.csv", match="inside the vaelab run")
    refused(capsys, "score", run, "--n-samples", "3", "--quiet", "--out", other / "sub" / "s.csv",
            match="inside the vaelab run")  # fmt: skip
    assert snapshot(other) == before
    # the run's own folder stays writable where a command writes by default, and a project's config.json is no run
    assert cli(capsys, "report", run, "--out", run / "report.html")[0] == 0
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "config.json").write_text('{"name": "my project"}')
    assert cli(capsys, "sample", run, "--n", "3", "--out", tmp_path / "project" / "s.npy")[0] == 0


def test_repeated_column_names_in_a_csv_header_are_refused(table_run, data, tmp_path, capsys):
    """pandas renames a repeated 'a' to 'a.1'; training went on and sample wrote an 'a.1' the input never had."""
    rows = ["a,b,a"] + [f"{i * 0.1:.1f},{'xy'[i % 2]},{i * 0.2:.1f}" for i in range(60)]
    (tmp_path / "dup.csv").write_text("\n".join(rows) + "\n")
    line = refused(capsys, "train", tmp_path / "dup.csv", "--out", tmp_path / "r", *FAST, match="distinct")
    assert "['a']" in line and not (tmp_path / "r").exists()
    table = open(data["table"] / "t.csv").read().splitlines()
    first = table[0].split(",")[0]
    (tmp_path / "new.csv").write_text("\n".join(f"{r},{r.split(',')[0]}" for r in [table[0]] + table[1:20]) + "\n")
    line = refused(capsys, "score", table_run, tmp_path / "new.csv", "--n-samples", "3", "--quiet", match="distinct")
    assert repr([first]) in line


@pytest.mark.parametrize("inner", ["cache", "figures", "sub/deeper"])
def test_train_out_inside_another_run_is_refused(table_run, data, tmp_path, capsys, inner):
    """train --out R/cache wrote a run inside the run R (score, sample and report refused the same place): an
    audit, s13. Refused in one line before anything is written."""
    other = copy_tree(table_run, tmp_path / "other")
    before = snapshot(other)
    refused(capsys, "train", data["table"] / "t.csv", "--out", other / inner, *FAST,
            match="inside the vaelab run")  # fmt: skip
    assert snapshot(other) == before
