"""`vaelab compare-samplers` and `vaelab sample` on a small labelled image run."""
import json

import numpy as np
import pandas as pd
import pytest

from vaelab.cli import main
from vaelab.runs.train import train_run
from tests.conftest import FAST


@pytest.fixture(scope="module")
def run(tmp_path_factory, digits):
    folder = tmp_path_factory.mktemp("gen")
    X, y = digits
    np.save(folder / "x.npy", X.reshape(-1, 1, 8, 8))
    np.save(folder / "y.npy", y)
    train_run(folder / "x.npy", folder / "run", {**FAST, "latent_dim": 3, "epochs": 6}, labels=str(folder / "y.npy"))
    return folder / "run"


def test_compare_samplers_writes_the_block_table_verdict_and_grids(run, capsys):
    assert main(["compare-samplers", str(run), "--samplers", "prior", "aggregate-gmm", "posterior"]) == 0
    out = capsys.readouterr().out
    assert "| prior |" in out and "| aggregate-gmm |" in out
    assert "For this model, sample from" in out or "No clear winner" in out
    block = json.loads((run / "metrics.json").read_text())["samplers"]
    for name in ("prior", "aggregate-gmm", "posterior"):
        for key in ("frechet", "precision", "recall", "density", "coverage"):
            assert isinstance(block[name][key], float), (name, key)
        assert (run / "figures" / f"samples_{name}.png").is_file()
    assert block["_summary"]["features"] == "classifier"
    for name in ("prior", "aggregate-gmm"):  # every metric with its interval (issue 15 item 6)
        for key in ("frechet", "precision", "recall", "density", "coverage"):
            low, high = block[name]["intervals"][key]
            assert low <= block[name][key] <= high and block[name]["stderr"][key] >= 0
    assert block["_summary"]["intervals"]["replicates"] >= 2 and "not a candidate" in block["_summary"]["verdict"]
    assert (run / "classifier.safetensors").is_file()
    # The cached classifier is reused: a second comparison gives the same numbers.
    assert main(["compare-samplers", str(run), "--samplers", "prior"]) == 0
    again = json.loads((run / "metrics.json").read_text())["samplers"]["prior"]
    assert again["frechet"] == pytest.approx(block["prior"]["frechet"])


def test_compare_samplers_on_too_few_samples_for_intervals_claims_none(run, tmp_path, capsys):
    """--n 5 leaves no half-sample that holds a k-NN ball, so no interval: the verdict said "the 95% intervals of
    prior ... overlap it (prior 2.50 (no interval))" and the table's note and the report's caption described
    95% half-sampling intervals that were not there (an audit)."""
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert main(["compare-samplers", str(copy), "--samplers", "prior", "aggregate-gmm", "--n", "5", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "(no interval)" in out and "95% interval" not in out and "10 half-samples" not in out
    assert "too few samples for intervals" in out
    assert main(["report", str(copy)]) == 0
    html = (copy / "report.html").read_text(encoding="utf-8")
    assert "too few samples for intervals" in html and "% intervals]" not in html


def test_the_report_shows_the_last_comparison_and_names_the_earlier_samplers(run, tmp_path, capsys):
    """Entries of an earlier compare-samplers stay in metrics.json; the report put them in the table of the last one,
    under its caption ("12 samples per sampler" over rows of 30) and beside its verdict ("Only prior was compared")
    (an audit)."""
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert main(["compare-samplers", str(copy), "--samplers", "prior", "aggregate-gmm", "--quiet"]) == 0
    assert main(["compare-samplers", str(copy), "--samplers", "prior", "--n", "12", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["report", str(copy)]) == 0
    html = (copy / "report.html").read_text(encoding="utf-8")
    section = html[html.index('id="samplers"'):html.index('id="traversals"')]
    assert "12 samples per sampler" in section and "<td>aggregate-gmm</td>" not in section
    assert "Not shown: aggregate-gmm" in section and "Samples from aggregate-gmm" not in section


def test_a_large_test_split_is_compared_on_a_seeded_subsample_and_the_convention_is_stated(run, monkeypatch, capsys):
    import vaelab.commands.generate as generate

    monkeypatch.setattr(generate, "MAX_REAL", 20)
    monkeypatch.setattr(generate, "MAX_MEMORIZATION", 8)
    assert main(["compare-samplers", str(run), "--samplers", "prior"]) == 0
    out = capsys.readouterr().out
    summary = json.loads((run / "metrics.json").read_text())["samplers"]["_summary"]
    assert summary["n_real"] == summary["n_samples"] == 20 and summary["n_test"] == 30
    assert summary["n_memorization"] == {"test": 8, "fake": 8}
    assert summary["knn"]["k_density_coverage"] == 5 and summary["knn"]["balls"] == "open"
    assert "(a seeded subsample of 30)" in out and "k = 3 (precision/recall), 5 (density/coverage), open" in out


@pytest.mark.parametrize("suffix", [".npy", ".png", ".csv"])
def test_sample_writes_each_format(run, tmp_path, suffix):
    out = tmp_path / f"s{suffix}"
    assert main(["sample", str(run), "--n", "12", "--out", str(out)]) == 0
    assert out.is_file()
    if suffix == ".npy":
        X = np.load(out)
        assert X.shape == (12, 1, 8, 8) and 0 <= X.min() and X.max() <= 1
    if suffix == ".csv":
        assert pd.read_csv(out).shape == (12, 64)


def test_sample_says_whether_it_wrote_decoder_means_or_draws(run, tmp_path, capsys):
    # "5 samples from prior" was printed alike for decoder means and, with --draw, draws from p(x|z).
    capsys.readouterr()
    assert main(["sample", str(run), "--n", "5", "--out", str(tmp_path / "m.npy")]) == 0
    assert "5 samples from prior (decoder means E[x|z])" in capsys.readouterr().out
    assert main(["sample", str(run), "--n", "5", "--draw", "--out", str(tmp_path / "d.npy")]) == 0
    assert "5 samples from prior (draws from p(x|z))" in capsys.readouterr().out


def test_sample_is_seeded_and_errors_are_one_line(run, tmp_path, capsys):
    a, b, c = (tmp_path / f"{n}.npy" for n in "abc")
    for path, seed in ((a, "1"), (b, "1"), (c, "2")):
        assert main(["sample", str(run), "--n", "5", "--sampler", "aggregate-gmm", "--seed", seed, "--out", str(path)]) == 0
    assert np.array_equal(np.load(a), np.load(b)) and not np.array_equal(np.load(a), np.load(c))
    capsys.readouterr()
    for argv, match in (
        (["sample", str(run), "--n", "0", "--out", str(tmp_path / "x.npy")], "positive integer"),
        (["sample", str(run), "--n", "3", "--out", str(tmp_path / "x.txt")], ".npy, .png or .csv"),
        (["sample", str(run), "--n", "3", "--class", "4", "--out", str(tmp_path / "x.npy")], "needs a conditional model"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0], err


def test_class_conditional_sampling(tmp_path, digits, capsys):
    X, y = digits
    np.save(tmp_path / "x.npy", X.reshape(-1, 1, 8, 8))
    np.save(tmp_path / "y.npy", y)
    train_run(tmp_path / "x.npy", tmp_path / "run", {**FAST, "conditional": True}, labels=str(tmp_path / "y.npy"))
    outs = {}
    for label in ("3", "7"):
        outs[label] = tmp_path / f"c{label}.npy"
        assert main(["sample", str(tmp_path / "run"), "--n", "6", "--class", label, "--out", str(outs[label])]) == 0
    assert not np.array_equal(np.load(outs["3"]), np.load(outs["7"]))
    capsys.readouterr()
    assert main(["sample", str(tmp_path / "run"), "--n", "6", "--out", str(tmp_path / "s.npy")]) == 2
    assert "choose a class with --class" in capsys.readouterr().err


def test_a_conditional_runs_posterior_samples_are_decoded_with_their_inputs_labels(tmp_path, digits):
    """An audit (s12 f): compare-samplers decoded the posterior sampler's draws, "reconstructions of the training
    data", with labels drawn from the test split's classes, not with their inputs' own: most came out of another
    class than the digit they encode."""
    from vaelab.analysis.samplers import generate
    from vaelab.commands.generate import compare_samplers
    from vaelab.runs.run import Run

    X, y = digits
    np.save(tmp_path / "x.npy", X.reshape(-1, 1, 8, 8))
    np.save(tmp_path / "y.npy", y)
    train_run(tmp_path / "x.npy", tmp_path / "run", {**FAST, "conditional": True}, labels=str(tmp_path / "y.npy"))
    result = compare_samplers(tmp_path / "run", samplers=("posterior",), replicates=2)
    run = Run(tmp_path / "run")
    sampler = run.sampler("posterior", 0)
    n = result["summary"]["n_samples"]
    own = generate(run.model, sampler, n, mean=True, seed=0)  # each input's draws decoded with its own label
    np.testing.assert_array_equal(result["grids"]["posterior"], own[:64])


def test_sample_posterior_on_a_conditional_run_decodes_with_the_inputs_own_classes(tmp_path, digits, capsys):
    """An audit (s12): `sample --sampler posterior` on a conditional run required --class and decoded every training
    input's code as that class (compare-samplers decodes each with its input's own). Without --class it now decodes
    each draw with its input's own class and says so; with --class it says the codes come from inputs of any class."""
    from vaelab.analysis.samplers import generate
    from vaelab.runs.run import Run

    X, y = digits
    np.save(tmp_path / "x.npy", X.reshape(-1, 1, 8, 8))
    np.save(tmp_path / "y.npy", y)
    train_run(tmp_path / "x.npy", tmp_path / "run", {**FAST, "conditional": True}, labels=str(tmp_path / "y.npy"))
    capsys.readouterr()
    assert main(["sample", str(tmp_path / "run"), "--n", "12", "--sampler", "posterior", "--out",
                 str(tmp_path / "p.npy")]) == 0  # fmt: skip
    assert "each training input's code decoded with that input's own class" in capsys.readouterr().out
    run = Run(tmp_path / "run")
    own = generate(run.model, run.sampler("posterior", 0), 12, mean=True, seed=0)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), own.reshape(np.load(tmp_path / "p.npy").shape))
    assert main(["sample", str(tmp_path / "run"), "--n", "12", "--sampler", "posterior", "--class", "3", "--out",
                 str(tmp_path / "c.npy")]) == 0  # fmt: skip
    assert "codes of training inputs of any class, each decoded as class 3" in capsys.readouterr().out
    assert main(["sample", str(tmp_path / "run"), "--n", "6", "--out", str(tmp_path / "s.npy")]) == 2  # prior: a class
    assert "choose a class with --class" in capsys.readouterr().err


def test_samplers_fitted_side_by_side_are_the_ones_fitted_one_after_the_other(run):
    # compare-samplers fits the mixture and the flow in two threads: each must be the very fit
    # Run.sampler makes alone (the same seeded draws, whatever the other thread does meanwhile).
    import torch

    from vaelab.commands.generate import fit_samplers
    from vaelab.runs.run import Run

    r = Run(run)
    alone = {name: r.sampler(name, 3) for name in ("aggregate-gmm", "aggregate-flow")}
    together = fit_samplers(r, ("prior", "aggregate-gmm", "aggregate-flow"), 3)
    assert list(together) == ["prior", "aggregate-gmm", "aggregate-flow"]
    np.testing.assert_array_equal(together["aggregate-gmm"].gmm_.means_, alone["aggregate-gmm"].gmm_.means_)
    np.testing.assert_array_equal(together["aggregate-gmm"].gmm_.covariances_, alone["aggregate-gmm"].gmm_.covariances_)
    for (k, a), b in zip(alone["aggregate-flow"].flow_.state_dict().items(), together["aggregate-flow"].flow_.state_dict().values()):
        assert torch.equal(a, b), k
    np.testing.assert_array_equal(together["aggregate-flow"].sample(50, 0), alone["aggregate-flow"].sample(50, 0))


def test_a_classifier_trained_beside_the_fits_is_the_one_trained_alone(run, tmp_path):
    # A domain classifier still to train trains on a thread beside the density fits: its weights and
    # batch order come from its own generator, so it must be bit for bit the classifier trained
    # alone (on one thread, as beside them), and the fits the ones made alone (they seed torch's RNG).
    import shutil

    import torch
    from threadpoolctl import threadpool_limits

    from vaelab.commands.generate import comparison_splits, features_and_samplers, known_feature_space
    from vaelab.runs.run import Run

    # Once torch.set_num_threads has been called (vaelab's series scores do), torch resets a new
    # thread's OpenMP threads at its first product: the classifier's thread must still be on one.
    torch.set_num_threads(torch.get_num_threads())
    shutil.copytree(run, tmp_path / "run")
    (tmp_path / "run" / "classifier.safetensors").unlink(missing_ok=True)
    r = Run(tmp_path / "run")
    parts = comparison_splits(r)
    beside, fitted = features_and_samplers(r, parts, ("aggregate-gmm", "aggregate-flow"), 3)
    assert (tmp_path / "run" / "classifier.safetensors").is_file()
    (tmp_path / "run" / "classifier.safetensors").unlink()
    with threadpool_limits(limits=1, user_api="openmp"):
        alone = known_feature_space(r, parts, 3)()
    for (k, a), b in zip(alone.mapping.state_dict().items(), beside.mapping.state_dict().values()):
        assert torch.equal(a, b), k
    flow = r.sampler("aggregate-flow", 3)
    for (k, a), b in zip(flow.flow_.state_dict().items(), fitted["aggregate-flow"].flow_.state_dict().values()):
        assert torch.equal(a, b), k
    np.testing.assert_array_equal(fitted["aggregate-gmm"].gmm_.means_, r.sampler("aggregate-gmm", 3).gmm_.means_)


def test_samplers_assessed_side_by_side_give_the_numbers_assessed_one_by_one(run, monkeypatch):
    import vaelab.commands.generate as generate

    blocks = []
    for workers in (1, 2):
        monkeypatch.setattr(generate, "ASSESS_WORKERS", workers)
        blocks.append(generate.compare_samplers(run, samplers=("prior", "aggregate-gmm", "posterior"), seed=1)["samplers"])
    assert list(blocks[1]) == ["prior", "aggregate-gmm", "posterior"] and blocks[0] == blocks[1]


def test_compare_samplers_says_which_sampler_it_fits_unless_quiet(run, capsys):
    # compare-samplers printed its progress lines to stderr with no --quiet to stop them (an audit)
    assert main(["compare-samplers", str(run), "--samplers", "prior", "--replicates", "2"]) == 0
    assert "sampling: prior" in capsys.readouterr().err
    assert main(["compare-samplers", str(run), "--samplers", "prior", "--replicates", "2", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "| prior |" in captured.out


def test_the_verdict_recommends_no_sampler_when_every_generator_fails():
    """An audit (s12 c): on a series run compare-samplers said "sample from prior" (its Fréchet interval clear of the
    others') while every sampler had precision and recall 0.00 [0.00, 0.07]: the least bad, not a usable one."""
    from vaelab.commands.generate import verdict

    def entry(frechet, precision, recall, coverage=0.3):
        return {"frechet": frechet, "precision": precision, "recall": recall, "coverage": coverage,
                "intervals": {"frechet": [frechet - 1, frechet + 1], "precision": [0.0, precision + 0.07],
                              "recall": [0.0, recall + 0.07], "coverage": [0.0, coverage + 0.07]}}  # fmt: skip

    failing = {"prior": entry(82.0, 0.0, 0.0), "aggregate-gmm": entry(87.0, 0.0, 0.01), "posterior": entry(83.0, 0.0, 0.0)}
    text = verdict(failing, None)
    assert text.startswith("No sampler is usable: every generator's precision and recall are below 0.05")
    assert "sample from" not in text and "least bad" in text and "not a candidate" in text
    # the lowest Fréchet distance of a failing generator beside a usable one is no winner either
    usable = {**failing, "aggregate-gmm": entry(87.0, 0.6, 0.5)}
    text = verdict(usable, None)
    assert text.startswith("No clear winner: prior has the lowest Fréchet distance") and "sample from" not in text
    assert "aggregate-gmm precision 0.60 [0.00, 0.67], recall 0.50 [0.00, 0.57]" in text
    # a usable best: the comparison by Fréchet distance stands
    fine = {**usable, "prior": entry(82.0, 0.5, 0.4)}
    assert verdict(fine, None).startswith("For this model, sample from prior")
    # samples among the data that cover none of it (an audit, s14: a collapsed model's samples, all one digit, had
    # precision 1.00 and recall 0.00, and the verdict said "sample from prior, because its samples are closest")
    collapsed = {**failing, "prior": entry(82.0, 1.0, 0.0, 0.04), "aggregate-gmm": entry(87.0, 0.0, 0.01, 0.01)}
    text = verdict(collapsed, None)
    assert text.startswith("No sampler gives samples as varied as the data: every generator's recall and coverage are "
                           "below 0.05")  # fmt: skip
    assert "sample from" not in text and "least bad" in text and "prior 0.00 [0.00, 0.07] and 0.04 [0.00, 0.11]" in text
    # decoder means of a sound model cover little by recall, but lie near many examples: no collapse said
    assert verdict({**collapsed, "prior": entry(82.0, 1.0, 0.0, 0.3)}, None).startswith("For this model, sample from")
    # a collapsed best beside a varied generator is no winner (an audit, s14: "sample from prior" was said of it)
    usable_gmm = {**collapsed, "aggregate-gmm": entry(87.0, 0.6, 0.5)}
    text = verdict(usable_gmm, None)
    assert text.startswith("No clear winner: prior has the lowest Fréchet distance") and "sample from" not in text
    assert "its recall and coverage are below 0.05 (recall 0.00 [0.00, 0.07], coverage 0.04 [0.00, 0.11])" in text
    assert "aggregate-gmm recall 0.50 [0.00, 0.57], coverage 0.30 [0.00, 0.37]" in text


def test_a_block_written_while_a_resumed_training_runs_is_marked_stale(run, tmp_path, monkeypatch):
    """An audit (s13): train --resume listed the blocks to mark stale when it started, so a command that wrote its
    block while the training ran (on weights the training then changed) was shown as measured on the final weights."""
    from tests.run_helpers import copy_tree
    from vaelab.estimator import VAE

    run = copy_tree(run, tmp_path / "run")
    fit = VAE.fit_splits

    def explored_meanwhile(self, *args, **kwargs):  # another command on the run, mid-training
        assert main(["explore", str(run), "traverse", "--steps", "3"]) == 0
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(VAE, "fit_splits", explored_meanwhile)
    assert main(["train", "--out", str(run), "--resume", "--epochs", "8", "--quiet"]) == 0
    assert "explore.traverse" in json.loads((run / "metrics.json").read_text())["stale"]


def test_a_block_of_old_weights_written_after_a_resume_ends_is_stale(run, tmp_path, monkeypatch):
    """An audit (s13 g): a command that loaded the model before a train --resume replaced it, and wrote its block after
    the training ended, was freshened and shown as measured on the new weights. Each block now records the weights it
    was measured with (weights_digest), and a block of weights the run no longer holds is stale whatever the order."""
    import vaelab.commands.explore as explore
    from tests.run_helpers import copy_tree
    from vaelab.adopt import ADOPTED
    from vaelab.checkpoint import MODEL, MODEL_FILES, ONNX, WEIGHTS_DIGEST, RunDir

    assert MODEL_FILES == (MODEL, ADOPTED, *ONNX)  # the files an adopted model is made of, hashed by weights_digest
    run = copy_tree(run, tmp_path / "run")
    before = RunDir(run).weights_digest()
    png_bytes = explore.png_bytes

    def resumed_meanwhile(fig):  # the traversal was measured on the old weights; the resume ends; it writes
        monkeypatch.setattr(explore, "png_bytes", png_bytes)
        assert main(["train", "--out", str(run), "--resume", "--epochs", "8", "--quiet"]) == 0
        return png_bytes(fig)

    monkeypatch.setattr(explore, "png_bytes", resumed_meanwhile)
    assert main(["explore", str(run), "traverse", "--steps", "3"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert RunDir(run).weights_digest() != before  # the resume changed the weights
    assert metrics["explore"]["traverse"][WEIGHTS_DIGEST] == before
    assert "explore.traverse" in metrics["stale"]
    # measured again on the weights the run holds: current, and recorded so
    assert main(["explore", str(run), "traverse", "--steps", "3"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["explore"]["traverse"][WEIGHTS_DIGEST] == RunDir(run).weights_digest()
    assert "explore.traverse" not in metrics.get("stale", [])
    # a resume that changes nothing leaves it current (it records the weights the run holds); a block written before
    # weights were recorded is judged as before: stale when a resume changes the weights, current when written again
    assert main(["train", "--out", str(run), "--resume", "--epochs", "8", "--quiet"]) == 0
    assert "explore.traverse" not in json.loads((run / "metrics.json").read_text()).get("stale", [])
    RunDir(run).update_metrics(old={"value": 1.0})
    assert main(["train", "--out", str(run), "--resume", "--epochs", "10", "--quiet"]) == 0
    stale = json.loads((run / "metrics.json").read_text())["stale"]
    assert "old" in stale and "explore.traverse" in stale
    RunDir(run).update_metrics(old={"value": 2.0})
    assert "old" not in json.loads((run / "metrics.json").read_text())["stale"]


def test_blocks_of_weights_a_stopped_resume_changed_are_stale_in_the_report(run, tmp_path, capsys):
    """An audit (s14): a `train --resume` stopped (Ctrl-C, a kill) after it saved new weights never listed the blocks
    measured before it: the report showed them as measured on the weights the run holds, and compare-samplers quoted
    the old diagnostics' prior-hole mass. A block records its weights, so readers see they are not the run's."""
    from tests.run_helpers import copy_tree
    from vaelab.checkpoint import RunDir
    from vaelab.commands.report import write_report

    run = copy_tree(run, tmp_path / "run")
    assert main(["explore", str(run), "traverse", "--steps", "3"]) == 0
    assert main(["inspect", str(run)]) == 0
    assert main(["compare-samplers", str(run), "--samplers", "prior", "aggregate-gmm", "--n", "20", "--replicates",
                 "2"]) == 0  # fmt: skip
    before = RunDir(run).weights_digest()

    def stop(event, info):  # Ctrl-C once the resume's first epoch is saved
        if event == "epoch":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_run(None, run, {"epochs": 20, "save_every": 0}, resume=True, progress=stop)
    metrics = json.loads((run / "metrics.json").read_text())
    assert RunDir(run).weights_digest() != before and "stale" not in metrics  # changed, and nothing listed
    assert {"explore.traverse", "diagnostics", "samplers"} <= set(RunDir(run).stale_results(metrics))
    html = write_report(run).read_text()
    assert html.count("Stale: this part was measured") >= 2 and f"explore {run} traverse again" in html
    capsys.readouterr()
    assert main(["compare-samplers", str(run), "--samplers", "prior", "--n", "20", "--replicates", "2"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["samplers"]["_summary"]["prior_hole_mass_stale"] is True
    # compared again (prior alone): the comparison the report shows is current; aggregate-gmm's entry, of the old
    # weights, is not shown (an earlier comparison) and does not make it stale
    assert "samplers" not in RunDir(run).stale_results(metrics) and "aggregate-gmm" in metrics["samplers"]


def test_a_prior_hole_mass_of_weights_a_resumed_training_changed_is_not_quoted(run, tmp_path, capsys):
    """An audit (s12 c): after train --resume changed the weights, compare-samplers quoted the stale diagnostics'
    prior-hole mass ("prior-hole mass 0.030", and in its verdict) beside samplers of the new weights."""
    from tests.run_helpers import copy_tree

    run = copy_tree(run, tmp_path / "run")
    assert main(["inspect", str(run)]) == 0
    assert main(["compare-samplers", str(run), "--samplers", "prior", "--n", "20", "--replicates", "2"]) == 0
    assert main(["train", "--out", str(run), "--resume", "--epochs", "8", "--quiet"]) == 0
    assert {"diagnostics", "samplers"} <= set(json.loads((run / "metrics.json").read_text())["stale"])
    capsys.readouterr()
    assert main(["compare-samplers", str(run), "--samplers", "prior", "aggregate-gmm", "--n", "40", "--replicates",
                 "2"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    summary = json.loads((run / "metrics.json").read_text())["samplers"]["_summary"]
    assert summary["prior_hole_mass"] is None and summary["prior_hole_mass_stale"] is True
    assert "prior-hole mass not measured on these weights (vaelab inspect measured it before train --resume" in out
    assert "hole mass" not in summary["verdict"]
    # compared again on these weights: no longer stale (it stayed so, and the report said to run compare-samplers
    # again after it had: an audit, s12)
    stale = json.loads((run / "metrics.json").read_text())["stale"]
    assert "samplers" not in stale and {"diagnostics", "diagnostics_by_data.test"} <= set(stale)
    from vaelab.commands.report import write_report

    html = write_report(run).read_text(encoding="utf-8")
    assert f"run vaelab compare-samplers {run} again" not in html and f"run vaelab inspect {run} again" in html
    # inspected again: neither its block nor the data's entry is stale ("diagnostics_by_data" stayed so: an audit, s12)
    assert main(["inspect", str(run)]) == 0
    stale = json.loads((run / "metrics.json").read_text()).get("stale", [])
    assert not [name for name in stale if name.startswith("diagnostics")], stale


def test_the_test_data_fed_as_a_sampler_have_no_class_tv(run, tmp_path, monkeypatch):
    """An audit (s13): the class TV compared the classifier's predicted shares of the samples with the test
    labels' shares, so the classifier's errors counted as the generator's: the test data themselves, fed as a
    sampler's samples, got a TV above 0. Compared with the classifier's predicted shares of the test data, 0."""
    import shutil

    import vaelab.commands.generate as generate
    from vaelab.runs.run import Run

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    held_out = np.asarray(Run(copy).split("test").X)
    monkeypatch.setattr(generate, "generate", lambda model, sampler, n, **_: held_out[:n])
    result = generate.compare_samplers(copy, samplers=("prior",), replicates=2)
    classes = result["samplers"]["prior"]["classes"]
    assert result["summary"]["n_samples"] == len(held_out) and result["summary"]["classifier_test_accuracy"] < 1
    assert classes["total_variation"] == 0 and classes["n_dropped"] == 0
    assert classes["compared_with"] == "predicted classes of real data"
    assert classes["fake_shares"] == classes["predicted_real_shares"]
    labels = np.bincount(Run(copy).split("test").y, minlength=10) / len(held_out)
    np.testing.assert_allclose(classes["real_shares"], labels)  # the labels' shares, as before
    assert "class TV: the classifier's predicted classes of the samples against those of the test examples" in \
        generate.markdown_table(result["samplers"], result["summary"])


def test_the_table_and_the_report_say_the_frechet_interval_is_for_this_sample_size(run, tmp_path, capsys):
    """An audit (s13): the Fréchet distance of finite samples is biased upward (0.29 on average for 400 against 400
    points in 8 dimensions whose population value is 0.16, SE 0.07), so its interval covers the estimator at this
    sample size, not the distributions' distance; neither the table nor the report said so."""
    from tests.run_helpers import copy_tree

    run = copy_tree(run, tmp_path / "run")
    assert main(["compare-samplers", str(run), "--samplers", "prior", "--n", "20", "--replicates", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Fréchet is biased upward at finite sample sizes: its value and interval (where there is one) are for " \
        "this many samples" in out
    assert main(["report", str(run)]) == 0
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "Fréchet is biased upward at finite sample sizes" in html
