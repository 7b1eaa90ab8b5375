"""`vaelab score` and `vaelab anomaly-eval` on a trained run."""
import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from vaelab.cli import main
from vaelab.runs.train import train_run
from tests.conftest import FAST


@pytest.fixture(scope="module")
def run(tmp_path_factory, digits):
    folder = tmp_path_factory.mktemp("score")
    X, y = digits
    np.save(folder / "digits.npy", X.reshape(-1, 1, 8, 8))
    train_run(folder / "digits.npy", folder / "run", {**FAST, "epochs": 4})
    return folder


def test_score_out_must_be_a_csv_name(run, capsys):
    """--out scores.tsv (or .parquet) was written as CSV text under that name."""
    for name in ("scores.tsv", "scores.parquet", "scores"):
        assert main(["score", str(run / "run"), "--n-samples", "5", "--out", str(run / name), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"must end in .csv; got {name!r}" in err
        assert not (run / name).exists()


def test_score_the_test_split_writes_csv_and_the_likelihood_block(run, capsys):
    out = run / "scores.csv"
    assert main(["score", str(run / "run"), "--n-samples", "50", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "NLL" in printed and "bits/dim" in printed and "flagged" in printed
    frame = pd.read_csv(out)
    for column in ("log_px", "log_px_stderr", "elbo", "reconstruction", "kl", "percentile", "flag"):
        assert column in frame.columns
    assert len(frame) == 30 and (frame["log_px"] >= frame["elbo"] - 1e-6).mean() > 0.9
    assert frame["percentile"].between(0, 100).all()
    block = json.loads((run / "run" / "metrics.json").read_text())["likelihood"]
    for key in ("test_nll", "test_nll_stderr", "bits_per_dim", "n_samples", "elbo"):
        assert key in block
    assert block["n_samples"] == 50 and block["test_nll"] == pytest.approx(-frame["log_px"].mean(), rel=1e-4)
    assert (run / "run" / "calibration.safetensors").is_file()


def test_score_a_file_with_a_band(run, capsys):
    code = main(["score", str(run / "run"), str(run / "digits.npy"), "--n-samples", "10", "--band", "25", "75",
                 "--score", "reconstruction", "--quiet", "--out", str(run / "all.csv")])  # fmt: skip
    assert code == 0
    frame = pd.read_csv(run / "all.csv")
    assert len(frame) == 300 and 0.3 < frame["flag"].mean() < 0.7


def test_labels_for_an_unconditional_model_are_refused_not_ignored(run, digits, capsys):
    """score (and anomaly-eval) took --labels for an unconditional model and ignored them without a word (an audit)."""
    np.save(run / "labels.npy", digits[1])
    argv = ["score", str(run / "run"), str(run / "digits.npy"), "--n-samples", "3", "--quiet", "--out", str(run / "l.csv")]
    assert main([*argv, "--labels", str(run / "labels.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not conditional" in err and "--labels" in err and "Drop it" in err
    assert not (run / "l.csv").exists()
    assert main(["anomaly-eval", str(run / "run"), "--outliers", str(run / "digits.npy"), "--n-samples", "3",
                 "--outlier-labels", str(run / "labels.npy"), "--quiet"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--outlier-labels" in err and "not conditional" in err


def test_a_validation_split_of_one_example_scores_without_flags_and_says_why(tmp_path, digits, capsys):
    """score on a run whose validation split holds one example failed with "Calibration needs at least 2 validation
    examples; got 1." and nothing to do: the NLL is given, with why there are no percentiles and what to do."""
    np.save(tmp_path / "x.npy", digits[0][:10])
    train_run(tmp_path / "x.npy", tmp_path / "run", {**FAST, "epochs": 1})
    assert int((np.load(tmp_path / "run" / "split.npy") == 1).sum()) == 1
    assert main(["score", str(tmp_path / "run"), "--n-samples", "3", "--quiet", "--out", str(tmp_path / "s.csv")]) == 0
    out = capsys.readouterr().out
    assert "NLL" in out and "validation split holds 1 example" in out and "--val-fraction" in out
    assert pd.read_csv(tmp_path / "s.csv")["percentile"].isna().all()


def test_anomaly_eval_reports_each_score(run, capsys):
    noise = run / "noise.npy"
    np.save(noise, np.random.default_rng(0).random((40, 1, 8, 8)).astype(np.float32))
    assert main(["anomaly-eval", str(run / "run"), "--outliers", str(noise), "--n-samples", "20", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "| log_px |" in printed and "AUROC" in printed
    block = json.loads((run / "run" / "metrics.json").read_text())["anomaly"]
    assert set(block["scores"]) == {"log_px", "elbo", "reconstruction"}
    assert block["scores"]["log_px"]["auroc"] > 0.9  # uniform noise is far from digits
    # each class counted as fewer examples where DeLong's variance exceeds Hanley & McNeil's term, and said so
    wider = [k for k, v in block["scores"].items() if max(v["delong_excess"].values()) > 1.0]
    assert all(min(v["delong_excess"].values()) >= 1.0 for v in block["scores"].values())
    said = [n for n in block.get("notes", ()) if "Hanley & McNeil's formula assumes" in n]
    assert bool(said) == bool(wider) and all(f"{k} outliers" in said[0] for k in wider)
    assert all(" ".join(n.split()) in " ".join(printed.split()) for n in said)  # printed wrapped


def test_anomaly_eval_refuses_outliers_the_model_cannot_take_before_scoring_the_inliers(run, capsys):
    """An audit (s14): outliers of the wrong shape were refused only once every inlier had been scored (K draws each);
    both classes are now checked first, and the error names the option."""
    from vaelab.commands.anomaly_eval import evaluate_anomalies
    from vaelab.errors import DataError

    bad = run / "seven.npy"
    np.save(bad, np.zeros((5, 7), np.float32))
    passes = []
    # in the words of what was passed (an audit, s15: "X has 7 features, but VAE is expecting 64", scikit-learn's)
    said = r"--outliers: seven.npy holds examples of shape \(7,\) \(7 values each\); the model of .* takes examples of shape \(1, 8, 8\) \(64 values each\)"
    with pytest.raises(DataError, match=said):
        evaluate_anomalies(run / "run", "test", str(bad), n_samples=5, progress=lambda done, total: passes.append(done))
    assert passes == []  # nothing was scored
    assert main(["anomaly-eval", str(run / "run"), "--outliers", str(bad), "--n-samples", "5", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(said, err) and "X has" not in err, err
    # the contents too (an audit, s14, feared they were read only as scored): a NaN in the outliers is refused before
    # any inlier is scored
    nan = np.zeros((5, 64), np.float32)
    nan[3, 9] = np.nan
    np.save(run / "nan.npy", nan)
    with pytest.raises(DataError, match="--outliers: nan.npy holds 1 NaN .* example 3"):
        evaluate_anomalies(run / "run", "test", str(run / "nan.npy"), n_samples=5,
                           progress=lambda done, total: passes.append(done))  # fmt: skip
    assert passes == []
    # a CSV file of numbers is said by its columns, by score and inspect as by anomaly-eval
    pd.DataFrame(np.zeros((5, 7)), columns=list("abcdefg")).to_csv(run / "seven.csv", index=False)
    for command in (["score", str(run / "run"), str(run / "seven.csv"), "--n-samples", "5", "--quiet"],
                    ["inspect", str(run / "run"), str(run / "seven.csv")]):  # fmt: skip
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "seven.csv has 7 columns of numbers; the model of" in err, err
        assert "takes 64 values per example" in err and "Give a file of 64 columns" in err and "X has" not in err, err


def test_anomaly_eval_gives_auprc_with_its_chance_level(run, capsys):
    """AUPRC's chance level is the share of outliers among the examples scored (not 0.5): anomaly-eval printed AUPRC
    without it (an audit). Now the table, metrics.json (auprc_chance) and the report give it."""
    noise = run / "noise13.npy"
    np.save(noise, np.random.default_rng(1).random((13, 1, 8, 8)).astype(np.float32))
    assert main(["anomaly-eval", str(run / "run"), "--outliers", str(noise), "--n-samples", "5", "--quiet"]) == 0
    printed = capsys.readouterr().out
    block = json.loads((run / "run" / "metrics.json").read_text())["anomaly"]
    chance = 13 / (13 + block["n_inliers"])
    assert block["auprc_chance"] == pytest.approx(chance)
    assert all(v["auprc_chance"] == pytest.approx(chance) for v in block["scores"].values())
    assert "AUPRC by chance" in printed and f"{chance:.3f}" in printed
    assert main(["report", str(run / "run")]) == 0
    html = (run / "run" / "report.html").read_text()
    assert "AUPRC by chance" in html and f"{chance:.3f}" in html
    capsys.readouterr()


def test_anomaly_eval_takes_the_labels_a_conditional_model_scores_files_with(tmp_path, digits, capsys):
    """A conditional run's anomaly-eval on a file asked for '--labels', an option anomaly-eval did not have: a
    conditional model could not be evaluated against outliers at all (an audit). Each file takes its own labels."""
    X, y = digits
    np.save(tmp_path / "digits.npy", X)
    np.save(tmp_path / "labels.npy", y)
    train_run(tmp_path / "digits.npy", tmp_path / "run", {**FAST, "epochs": 1, "conditional": True},
              labels=str(tmp_path / "labels.npy"))  # fmt: skip
    np.save(tmp_path / "noise.npy", np.random.default_rng(0).random((20, 64)).astype(np.float32))
    np.save(tmp_path / "noise_labels.npy", y[:20])
    base = ["anomaly-eval", str(tmp_path / "run"), "--outliers", str(tmp_path / "noise.npy"), "--n-samples", "5", "--quiet"]
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "--outlier-labels or --outlier-label-column" in err and err.count("\n") == 1
    assert main([*base, "--outlier-labels", str(tmp_path / "noise_labels.npy")]) == 0
    assert "| log_px |" in capsys.readouterr().out
    code = main([*base, "--outlier-labels", str(tmp_path / "noise_labels.npy"), "--inliers", str(tmp_path / "digits.npy"),
                 "--inlier-labels", str(tmp_path / "labels.npy")])  # fmt: skip
    assert code == 0 and "inliers" in capsys.readouterr().out


def test_a_conditional_models_nll_says_it_is_given_the_labels(tmp_path, digits, capsys):
    """A conditional model scores log p(x|y), lower than an unconditional model's log p(x) by up to log C; score
    printed and stored it as "NLL" without a word (an audit, s12 g)."""
    X, y = digits
    np.save(tmp_path / "digits.npy", X)
    np.save(tmp_path / "labels.npy", y)
    train_run(tmp_path / "digits.npy", tmp_path / "run", {**FAST, "epochs": 1, "conditional": True},
              labels=str(tmp_path / "labels.npy"))  # fmt: skip
    assert main(["score", str(tmp_path / "run"), "--n-samples", "5", "--quiet"]) == 0
    assert "log p(x|y), each example scored given its label" in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["likelihood"]["conditional"] is True
    from vaelab.commands.report import write_report

    assert "given labels: −log p(x|y)" in write_report(tmp_path / "run").read_text(encoding="utf-8")


def test_trains_test_elbo_of_a_conditional_model_says_it_bounds_log_p_x_given_y(tmp_path, digits, capsys):
    """train printed a conditional model's "test ELBO" as if it bounded log p(x), where score says its NLL is
    log p(x|y) (an audit, s12 h): the summary, metrics.json's test block and the report say so now."""
    X, y = digits
    np.save(tmp_path / "digits.npy", X[:200])
    np.save(tmp_path / "labels.npy", y[:200])
    assert main(["train", str(tmp_path / "digits.npy"), "--labels", str(tmp_path / "labels.npy"), "--conditional",
                 "--epochs", "1", "--latent-dim", "2", "--hidden", "16", "--device", "cpu", "--out", str(tmp_path / "run"),
                 "--quiet"]) == 0  # fmt: skip
    printed = " ".join(capsys.readouterr().out.split())
    assert "a conditional model: the ELBO bounds log p(x|y)" in printed
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]["conditional"] is True
    from vaelab.commands.report import write_report

    assert "test ELBO, given labels: a bound on log p(x|y)" in write_report(tmp_path / "run").read_text(encoding="utf-8")
    assert main(["train", str(tmp_path / "digits.npy"), "--epochs", "1", "--latent-dim", "2", "--hidden", "16",
                 "--device", "cpu", "--out", str(tmp_path / "plain"), "--quiet"]) == 0  # fmt: skip
    assert "log p(x|y)" not in capsys.readouterr().out
    assert json.loads((tmp_path / "plain" / "metrics.json").read_text())["test"]["conditional"] is False


@pytest.mark.parametrize("likelihood", ["continuous-bernoulli", "gaussian"])
def test_bits_per_dim_of_a_continuous_image_model_say_they_are_of_pixels_in_0_1(tmp_path, digits, capsys, likelihood):
    """An image model with a continuous likelihood gives bits/dim of a density of pixel values in [0, 1], not the
    discrete 8-bit bits/dim of the literature; train, score and the report gave the number without saying which (an
    audit, s12 h). The number is unchanged; a key and a line say what it is of. A binarized Bernoulli's needs none."""
    X, _ = digits
    np.save(tmp_path / "digits.npy", X.reshape(-1, 1, 8, 8))
    assert main(["train", str(tmp_path / "digits.npy"), "--likelihood", likelihood, "--epochs", "1", "--latent-dim",
                 "2", "--hidden", "16", "--device", "cpu", "--out", str(tmp_path / "run"), "--quiet"]) == 0  # fmt: skip
    said = "not the discrete 8-bit bits/dim of the literature"
    assert said in " ".join(capsys.readouterr().out.split())
    assert main(["score", str(tmp_path / "run"), "--n-samples", "3", "--quiet"]) == 0
    assert said in " ".join(capsys.readouterr().out.split())
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert said in metrics["test"]["bits_per_dim_scale"] and said in metrics["likelihood"]["bits_per_dim_scale"]
    from vaelab.commands.report import write_report

    assert said in " ".join(write_report(tmp_path / "run").read_text(encoding="utf-8").split())


def test_bits_per_dim_scale_does_not_say_digits_were_divided_by_255(tmp_path, capsys):
    """An audit (s13 f): the text said every continuous image model read "8-bit images divided by 255", also of the
    built-in digits, which vaelab divides by 16 (README: x/16). It names each scaling now, not one for all."""
    assert main(["train", "digits", "--likelihood", "continuous-bernoulli", "--epochs", "1", "--latent-dim", "2",
                 "--hidden", "16", "--device", "cpu", "--out", str(tmp_path / "run"), "--quiet"]) == 0  # fmt: skip
    out = " ".join(capsys.readouterr().out.split())
    scale = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]["bits_per_dim_scale"]
    for text in (out, scale):
        assert "8-bit images divided by 255 into [0, 1]" not in text
        assert "digits by 16" in text


def test_bits_per_dim_of_a_binarized_bernoulli_need_no_scale(run, capsys):
    assert main(["score", str(run / "run"), "--n-samples", "3", "--quiet"]) == 0
    assert "8-bit" not in capsys.readouterr().out
    metrics = json.loads((run / "run" / "metrics.json").read_text())
    assert "bits_per_dim_scale" not in metrics["likelihood"] and "bits_per_dim_scale" not in metrics["test"]


def test_an_unconditional_models_likelihood_block_says_so(run, capsys):
    assert main(["score", str(run / "run"), "--n-samples", "5", "--quiet"]) == 0
    assert "log p(x|y)" not in capsys.readouterr().out
    assert json.loads((run / "run" / "metrics.json").read_text())["likelihood"]["conditional"] is False


def test_score_errors_are_one_line(run, tmp_path, capsys):
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((5, 10), dtype=np.float32))
    for argv, match in (
        (["score", str(tmp_path), "--quiet"], "not a vaelab run"),
        (["score", str(run / "run"), str(wrong), "--quiet"], "takes examples of shape (1, 8, 8)"),
        (["score", str(run / "run"), "--n-samples", "0", "--quiet"], "--n-samples must be a positive integer"),
        (["score", str(run / "run"), "--band", "70", "20", "--quiet"], "--band LOW HIGH needs LOW < HIGH"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0], err


def test_scoring_reads_a_memory_mapped_file_in_blocks(run, monkeypatch):
    """Constant memory: the examples are converted one block at a time, never the whole file."""
    import vaelab
    from vaelab.data import arrays

    model = vaelab.load(run / "run")
    X = np.load(run / "digits.npy", mmap_mode="r")
    seen = []
    real = arrays.as_examples
    monkeypatch.setattr(arrays, "as_examples", lambda raw, where: seen.append(raw.shape[0]) or real(raw, where))
    result = model.log_likelihood(X, n_samples=64, chunk_size=1024)
    assert len(result) == 300 and max(seen) <= 1024 // 64


@pytest.mark.slow
def test_peak_memory_stays_flat_as_the_file_grows(run, tmp_path):
    """Score memory-mapped files of 0.2 and 1 GB in fresh processes: peak RSS grows by the
    per-example results (5 float64 = 40 bytes per example), not by the data (256 bytes per example)."""
    # Peak *anonymous* memory, sampled: pages of the memory-mapped file count toward RSS as
    # they are read, but they are page cache the kernel can drop, not memory vaelab holds.
    script = textwrap.dedent(
        f"""
        import re, sys, threading, time, numpy as np, vaelab
        def anon():
            return int(re.search(r"RssAnon:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
        peak, done = [anon()], []
        def watch():
            while not done:
                peak.append(anon()); time.sleep(0.01)
        threading.Thread(target=watch, daemon=True).start()
        model = vaelab.load({str(run / 'run')!r})
        X = np.load(sys.argv[1], mmap_mode="r")
        model.log_likelihood(X, n_samples=4)
        done.append(1)
        print(max(peak))
        """
    )
    peaks = []
    for rows in (800_000, 4_000_000):  # 64 float32 features: 0.2 GB and 1 GB
        path = tmp_path / f"big{rows}.npy"
        X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, 1, 8, 8))
        for s in range(0, rows, 200_000):
            X[s : s + 200_000] = np.random.default_rng(s).random((min(200_000, rows - s), 1, 8, 8), dtype=np.float32)
        del X
        done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True)
        peaks.append(int(done.stdout.split()[-1]) / 1024)  # MB
        os.unlink(path)
    results_growth = (4_000_000 - 800_000) * 40 / 2**20  # MB
    data_growth = (4_000_000 - 800_000) * 256 / 2**20
    assert peaks[1] - peaks[0] < results_growth + 0.1 * data_growth, (peaks, results_growth, data_growth)


def test_inspect_writes_the_diagnostics_block_and_figures(run, capsys):
    assert main(["inspect", str(run / "run")]) == 0
    printed = capsys.readouterr().out
    assert "findings:" in printed and "I(x;z)" in printed
    block = json.loads((run / "run" / "metrics.json").read_text())["diagnostics"]
    for key in ("per_dimension", "active_units", "collapse", "surgery", "aggregate", "head_lint", "findings"):
        assert key in block
    assert block["data"] == "test" and block["n_examples"] == 30
    assert block["order_by"] == "kl"  # a VAE's order_by_kl is by KL (a plain autoencoder's is not: test_adopt)
    for name in ("kl_per_dimension", "posterior_sd", "latent_scatter", "aggregate_vs_prior"):
        assert (run / "run" / "figures" / f"{name}.png").is_file()
    assert main(["inspect", str(run / "nothing-here")]) == 2


def test_inspect_on_a_subset_keeps_the_models_block_and_stores_its_own(run, capsys, digits):
    """Issue 15 item 7: `inspect RUN ones.npy` overwrote the run's diagnostics block with claims about the model."""
    assert main(["inspect", str(run / "run")]) == 0
    model_block = json.loads((run / "run" / "metrics.json").read_text())["diagnostics"]
    X, y = digits
    np.save(run / "ones.npy", X[y == 1].reshape(-1, 1, 8, 8))
    capsys.readouterr()
    assert main(["inspect", str(run / "run"), str(run / "ones.npy")]) == 0
    printed = capsys.readouterr().out
    assert "findings speak about this data, not the model" in printed
    metrics = json.loads((run / "run" / "metrics.json").read_text())
    assert metrics["diagnostics"] == model_block  # the model's block is untouched
    ones = metrics["diagnostics_by_data"][str(run / "ones.npy")]
    assert ones["scope"] == "data" and ones["n_examples"] == int((y == 1).sum())
    assert metrics["diagnostics_by_data"]["test"]["scope"] == "model"
    assert len(list((run / "run" / "figures").glob("kl_per_dimension_file_ones_*.png"))) == 1  # named after the file
    # A file the user says is drawn like the training data speaks about the model.
    assert main(["inspect", str(run / "run"), str(run / "ones.npy"), "--representative"]) == 0
    assert json.loads((run / "run" / "metrics.json").read_text())["diagnostics"]["scope"] == "model"
    # A split always is: --representative there changed nothing and was taken without a word (an audit, s14); it is
    # refused in one line before any work
    before = (run / "run" / "metrics.json").read_bytes()
    capsys.readouterr()
    assert main(["inspect", str(run / "run"), "val", "--representative"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--representative" in err and "val split" in err and "Drop it" in err, err
    assert (run / "run" / "metrics.json").read_bytes() == before


def test_score_prints_the_rules_false_flag_share_and_draws_the_histogram(run, capsys):
    """Issue 15 item 9: --band 25 75 flags half of valid data by construction; say so next to the result."""
    assert main(["score", str(run / "run"), "--n-samples", "20", "--band", "25", "75", "--quiet"]) == 0
    out = capsys.readouterr().out
    # 30 validation scores: a new score falls below the k-th smallest with probability k/31 (an audit: "50.0%")
    expected = 2 * (1 + 29 * 0.25) / 31
    assert f"flagged about {100 * expected:.1f}% of the time" in out
    assert (run / "run" / "figures" / "score_test.png").is_file()
    block = json.loads((run / "run" / "metrics.json").read_text())["likelihood"]
    assert block["false_flag_share"] == pytest.approx(expected) and block["flag_rule"].startswith("log_px outside the 25-75")


def test_a_flag_and_its_percentile_agree_on_a_small_validation_split():
    """The flag cuts at numpy's interpolated percentile; the percentile was the empirical CDF (steps of 100/M),
    so on 60 validation examples a row read "at percentile 1.7 (below percentile 1)". Now a value is flagged
    below percentile p exactly when its percentile is below p, for the low tail and for a band."""
    from vaelab.analysis.anomaly import Calibration
    from vaelab.analysis.likelihood import SCORES

    rng = np.random.default_rng(0)
    ref = np.sort(rng.normal(size=60))
    cal = Calibration({k: ref for k in SCORES}, 10)
    values = np.concatenate([rng.normal(size=2000), ref, [ref[0] - 1, ref[-1] + 1]])
    pct = cal.percentile("log_px", values)
    assert pct.min() == 0 and pct.max() == 100 and np.all(np.diff(pct[np.argsort(values)]) >= 0)
    for threshold in (1, 5, 50):
        np.testing.assert_array_equal(cal.flags("log_px", values, threshold), pct < threshold)
    np.testing.assert_array_equal(cal.flags("log_px", values, band=(25, 75)), (pct < 25) | (pct > 75))
    between = (ref[0] + ref[1]) / 2  # below the 1st-percentile cut-off (0.59 of the way from ref[0] to ref[1])
    assert cal.flags("log_px", np.array([between]), 1)[0] and cal.percentile("log_px", np.array([between]))[0] < 1


def test_the_count_bar_starts_a_new_bar_for_each_pass():
    """An audit: 12 rows scored, then the 40 validation rows of the calibration in one batch, were counted on one
    bar of total 12 ("40ex"). Each pass has its own bar, whose count never passes its total."""
    import io

    from vaelab.progress import CountBar

    bar, seen = CountBar(file=io.StringIO()), []
    for done, total in [(6, 12), (12, 12), (40, 40), (10, 20), (20, 20)]:
        bar(done, total)
        seen.append((bar.bar.n, bar.bar.total))
    bar.close()
    assert seen == [(6, 12), (12, 12), (40, 40), (10, 20), (20, 20)]


def test_scores_second_bar_names_the_validation_reference(tmp_path, capsys):
    """An audit (issue 17): score showed two identical "scoring" bars, the second being the validation split it
    places every score among."""
    from vaelab.cli import main

    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(300, 6)).astype(np.float32))
    assert main(["train", str(tmp_path / "x.npy"), "--out", str(tmp_path / "run"), "--epochs", "2", "--hidden", "8",
                 "--latent-dim", "2", "--device", "cpu", "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["score", str(tmp_path / "run"), "test", "--n-samples", "5"]) == 0
    err = capsys.readouterr().err
    assert "scoring:" in err and "validation reference:" in err, err
    # anomaly-eval's two passes are named too (both read "scoring": an audit)
    np.save(tmp_path / "far.npy", (rng.normal(size=(40, 6)) + 5).astype(np.float32))
    assert main(["anomaly-eval", str(tmp_path / "run"), "--outliers", str(tmp_path / "far.npy"), "--n-samples", "5"]) == 0
    err = capsys.readouterr().err
    assert "scoring inliers:" in err and "scoring outliers:" in err, err


def test_a_file_named_like_a_split_or_another_file_gets_a_figure_of_its_own(run, tmp_path, capsys):
    """Audit s9a: scoring data/x/test.npy wrote figures/score_test.png, the test split's figure that the report
    shows beside the test NLL; two files of one name shared a figure."""
    figures = run / "run" / "figures"
    assert main(["score", str(run / "run"), "--n-samples", "5", "--quiet"]) == 0
    split_figure = (figures / "score_test.png").read_bytes()
    X = np.load(run / "digits.npy")
    for i, folder in enumerate(("x", "y")):
        (tmp_path / folder).mkdir()
        np.save(tmp_path / folder / "test.npy", X[i * 20 : i * 20 + 10])
    before = set(os.listdir(figures))
    for folder in ("x", "y", "x"):
        assert main(["score", str(run / "run"), str(tmp_path / folder / "test.npy"), "--n-samples", "5", "--quiet"]) == 0
    assert (figures / "score_test.png").read_bytes() == split_figure
    new = set(os.listdir(figures)) - before
    assert len(new) == 2 and all(n.startswith("score_file_test_") for n in new), new
    assert main(["report", str(run / "run")]) == 0
    assert "log_px of " + str(tmp_path) not in (run / "run" / "report.html").read_text()


def test_binarizations_is_refused_where_the_model_scores_its_inputs_as_they_are(run, tiny_runs, capsys):
    # --binarizations was ignored on table and series runs (Gaussian and mixed likelihoods): an audit
    for kind in ("table", "series"):
        assert main(["score", str(tiny_runs[kind]), "--binarizations", "2", "--n-samples", "5", "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--binarizations" in err[0] and "Drop it" in err[0], err
    # a model that scores binarized data takes it, and the default stays 4 binarizations per grey example
    assert main(["score", str(run / "run"), "--binarizations", "2", "--n-samples", "5", "--quiet"]) == 0
    assert "averaged over 2 binarizations" in capsys.readouterr().out
    assert main(["score", str(run / "run"), "--n-samples", "5", "--quiet"]) == 0
    assert "averaged over 4 binarizations" in capsys.readouterr().out


def test_anomaly_eval_prints_and_reports_the_auprcs_interval(run, capsys):
    """An audit (s13): the AUPRC came without the interval the AUROC beside it had; the table, metrics.json and the
    report now give one."""
    noise = run / "noise13.npy"
    np.save(noise, np.random.default_rng(1).random((13, 1, 8, 8)).astype(np.float32))
    assert main(["anomaly-eval", str(run / "run"), "--outliers", str(noise), "--n-samples", "5", "--quiet"]) == 0
    printed = capsys.readouterr().out
    m = json.loads((run / "run" / "metrics.json").read_text())["anomaly"]["scores"]["log_px"]
    lo, hi = m["auprc_interval"]
    assert lo <= m["auprc"] <= hi and m["auprc_stderr"] > 0
    assert "AUPRC [95% interval]" in printed and f"{m['auprc']:.3f} [{lo:.3f}, {hi:.3f}]" in printed
    assert main(["report", str(run / "run")]) == 0
    assert f"{m['auprc']:.3f} [{lo:.3f}, {hi:.3f}]" in (run / "run" / "report.html").read_text()
    capsys.readouterr()


def test_a_vae_is_scored_by_its_reconstruction_error_on_request(run, capsys):
    """--score reconstruction_mse was refused for a VAE (a plain autoencoder's score only: an audit, s14). Known answer:
    each example's mean over features of (x − E[x|z])², z the posterior mean, computed here with transform and
    inverse_transform on the input as the model scores it; flagged in the upper tail of the validation errors. Its
    block (reconstruction_error) and figure are its own: the likelihood block and score_test.png are left as they were."""
    import vaelab
    from vaelab.runs.run import Run

    assert main(["score", str(run / "run"), "--n-samples", "5", "--quiet"]) == 0  # log p(x) first: kept as it was
    metrics = json.loads((run / "run" / "metrics.json").read_text())
    likelihood, figure = metrics["likelihood"], (run / "run" / "figures" / "score_test.png").read_bytes()
    capsys.readouterr()
    out = run / "mse.csv"
    assert main(["score", str(run / "run"), "--score", "reconstruction_mse", "--threshold", "5", "--out", str(out),
                 "--quiet"]) == 0  # fmt: skip
    printed = " ".join(capsys.readouterr().out.split())  # its lines wrapped
    assert "posterior mean" in printed and "not a log-likelihood" in printed and "NLL" not in printed
    model, r = vaelab.load(run / "run"), Run(run / "run")

    def mse(X):  # as the model scores it (a fixed binarization where it asks for one), then encode-decode
        x = model.model_input(X, evaluation=True).numpy()
        return ((x - model.inverse_transform(model.transform(x))) ** 2).reshape(len(x), -1).mean(1)

    test, val = mse(r.split("test").X), np.sort(mse(r.split("val").X))
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["example", "reconstruction_mse", "percentile", "flag", "reason"]
    np.testing.assert_allclose(frame["reconstruction_mse"], test, rtol=1e-4)
    np.testing.assert_array_equal(frame["flag"], test > np.percentile(val, 95))
    metrics = json.loads((run / "run" / "metrics.json").read_text())
    block = metrics["reconstruction_error"]
    assert block["deterministic"] is False and "posterior mean" in block["what"] and "not a log-likelihood" in block["what"]
    assert block["test_reconstruction_mse"] == pytest.approx(test.mean(), rel=1e-4)
    assert block["flag_rule"].startswith("reconstruction_mse above percentile 95")
    assert block["figure"] == "figures/score_test_reconstruction_mse.png"
    assert metrics["likelihood"] == likelihood and (run / "run" / "figures" / "score_test.png").read_bytes() == figure
    # what only log p(x) takes is refused with it, in one line
    for extra in (["--n-samples", "5"], ["--chunk-size", "8"]):
        assert main(["score", str(run / "run"), "--score", "reconstruction_mse", *extra, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and extra[0] in err and "posterior mean" in err and "Drop it" in err, err
    assert main(["report", str(run / "run")]) == 0
    html = (run / "run" / "report.html").read_text()
    section = html.split('id="likelihood"')[1].split("</section>")[0]
    assert "test NLL" in section and "test reconstruction_mse at the posterior mean (not a log-likelihood)" in section
    capsys.readouterr()


def test_without_a_validation_reference_flags_are_empty_and_a_threshold_is_refused(tmp_path, digits, capsys):
    """An audit (s15): without a validation reference score's CSV said flag False for every row while the CLI said
    flags were not available, and --threshold (or --band) was taken though it could flag nothing."""
    np.save(tmp_path / "x.npy", digits[0][:10])
    train_run(tmp_path / "x.npy", tmp_path / "run", {**FAST, "epochs": 1})
    assert main(["score", str(tmp_path / "run"), "--n-samples", "3", "--quiet", "--out", str(tmp_path / "s.csv")]) == 0
    assert "flags are not available" in capsys.readouterr().out
    frame = pd.read_csv(tmp_path / "s.csv", keep_default_na=False)
    assert list(frame["flag"]) == [""] * len(frame)  # no threshold: no row is said to be unflagged by one
    for rule in (["--threshold", "5"], ["--band", "25", "75"]):
        assert main(["score", str(tmp_path / "run"), "--n-samples", "3", "--quiet", *rule,
                     "--out", str(tmp_path / "t.csv")]) == 2  # fmt: skip
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{rule[0]} places scores among the run's validation scores" in err, err
        assert "validation split holds 1 example" in err and "Drop it" in err, err
    assert not (tmp_path / "t.csv").exists()


def test_a_table_row_far_beyond_training_does_not_sink_the_others(tiny_runs, tmp_path, capsys):
    """An audit (s15): a cell of 1e39 was flagged "out of range" when read, but its row's log p(x) came out NaN (the
    encoder's and the likelihood's float32 squares overflow) and score and anomaly-eval refused the whole file. The
    cell is left out of the likelihood with its reason (TableTransformer), the others score as they do alone."""
    from tests.run_helpers import copy_tree

    run = copy_tree(tiny_runs["table"], tmp_path / "run")
    rows = pd.read_csv(tiny_runs["table"].parent / "t.csv").head(8)
    rows.loc[5, "income"] = 1e39
    rows.to_csv(tmp_path / "huge.csv", index=False)
    rows.drop(index=5).to_csv(tmp_path / "rest.csv", index=False)
    for name in ("huge", "rest"):
        assert main(["score", str(run), str(tmp_path / f"{name}.csv"), "--n-samples", "5", "--quiet",
                     "--out", str(tmp_path / f"{name}_scores.csv")]) == 0  # fmt: skip
    huge, rest = (pd.read_csv(tmp_path / f"{n}_scores.csv", keep_default_na=False) for n in ("huge", "rest"))
    far = huge.loc[5]
    assert np.isfinite(far["log_px"]) and "income: out of range" in far["reason"], far
    assert "too far out for the model's float32 likelihood" in far["reason"], far["reason"]
    kept = huge.drop(index=5).reset_index(drop=True)
    for column in ("log_px", "reason"):  # the others as they score alone
        assert list(kept[column].astype(str)) == list(rest[column].astype(str)), column
    assert main(["anomaly-eval", str(run), "--outliers", str(tmp_path / "huge.csv"), "--n-samples", "5", "--quiet"]) == 0
    block = json.loads((run / "metrics.json").read_text())["anomaly"]
    assert all(np.isfinite(v["auroc"]) for v in block["scores"].values())


def test_a_table_row_holding_something_new_is_flagged_without_a_validation_split(tiny_runs, tmp_path, capsys):
    """An audit (s15): on a run without a validation split, a file row holding what training never had made score's
    output fail with a TypeError (the flag rule's false-flag share was None); it is flagged, and the others left empty."""
    from tests.conftest import TINY

    data = tiny_runs["table"].parent / "t.csv"
    assert main(["train", str(data), "--out", str(tmp_path / "run"), "--val-fraction", "0", *TINY]) == 0
    rows = pd.read_csv(data).head(6)
    rows.loc[2, "city"] = "Tokyo"
    rows.to_csv(tmp_path / "new.csv", index=False)
    capsys.readouterr()
    assert main(["score", str(tmp_path / "run"), str(tmp_path / "new.csv"), "--n-samples", "3", "--quiet",
                 "--out", str(tmp_path / "s.csv")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "flags are not available" in out and "flagged 1, each for holding what training never had" in out, out
    frame = pd.read_csv(tmp_path / "s.csv", keep_default_na=False)
    assert list(frame["flag"].astype(str)) == ["", "", "True", "", "", ""]
    assert "city: category 'Tokyo' not seen in training" in frame.loc[2, "reason"]
