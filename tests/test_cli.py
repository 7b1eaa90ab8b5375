"""The command line: exit codes, one-line errors, --help everywhere."""
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vaelab.cli import SETTING_HELP, main

FAST_ARGS = ["--latent-dim", "2", "--hidden", "16", "--epochs", "2", "--batch-size", "50", "--device", "cpu", "--quiet"]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_python_m_vaelab_and_help_for_every_command(capsys):
    done = subprocess.run([sys.executable, "-m", "vaelab", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "usage: vaelab" in done.stdout
    for command in ("train", "score", "anomaly-eval", "inspect", "demo"):
        with pytest.raises(SystemExit) as e:
            main([command, "--help"])
        assert e.value.code == 0 and f"usage: vaelab {command}" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = capsys.readouterr().out
    for name in SETTING_HELP:  # every VAE setting has its --option
        assert "--" + name.replace("_", "-") in help_text


def test_unrecognized_arguments_are_said_by_the_command_that_refused_them(capsys):
    # `vaelab score RUN --seed 1` said "vaelab: error: unrecognized arguments" (argparse finds them in the top
    # parser), where every other error of score reads "vaelab score: error: ...".
    for argv, prog in ((["score", "RUN", "--seed", "1"], "vaelab score"),
                       (["train", "x.csv", "--out", "o", "--bogus"], "vaelab train"),
                       (["explore", "RUN", "traverse", "--bogus", "1"], "vaelab explore RUN traverse"),
                       (["explore", "RUN", "--bogus", "traverse"], "vaelab explore"),
                       (["--bogus", "score", "RUN"], "vaelab")):  # fmt: skip
        with pytest.raises(SystemExit) as e:
            main(argv)
        err = capsys.readouterr().err
        assert e.value.code == 2 and len(err.strip().splitlines()) == 1
        assert err.startswith(f"{prog}: error: unrecognized arguments: "), err


def test_train_writes_a_run_and_prints_the_headline(tmp_path, capsys, digits_npy):
    code, out, err = run_cli(capsys, "train", digits_npy, "--out", tmp_path / "run", *FAST_ARGS)
    assert code == 0, err
    assert "test ELBO:" in out and "model.safetensors" in out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["training"]["epochs_run"] == 2
    assert (tmp_path / "run" / "figures" / "training_curves.png").is_file()
    assert (tmp_path / "run" / "figures" / "reconstructions.png").is_file()
    # Continue for one more epoch.
    code, out, err = run_cli(capsys, "train", "--out", tmp_path / "run", "--resume", "--epochs", "3", "--quiet")
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["training"]["epochs_run"] == 3


def test_counts_of_one_are_singular(tmp_path, capsys, digits_npy):
    # "training:   1 epochs", "1 samples from prior", "K = 1 importance samples" (an audit)
    args = [a if a != "2" else "1" for a in FAST_ARGS]  # --latent-dim 1, --epochs 1
    code, out, err = run_cli(capsys, "train", digits_npy, "--out", tmp_path / "run", *args)
    assert code == 0, err
    assert "training:   1 epoch, best epoch 1" in out
    code, out, err = run_cli(capsys, "sample", tmp_path / "run", "--n", "1", "--out", tmp_path / "s.npy")
    assert code == 0 and "1 sample from prior" in out, err
    code, out, err = run_cli(capsys, "score", tmp_path / "run", "--n-samples", "1", "--quiet")
    assert code == 0 and "K = 1 importance sample," in out, err
    code, out, err = run_cli(capsys, "inspect", tmp_path / "run")
    assert code == 0 and " of 1 latent dimension active" in out, err


def test_sample_given_says_one_real_row_in_the_singular(tmp_path, capsys, monkeypatch):
    # "(1 real training rows hold these values: too few ...)" (an audit, s12)
    import vaelab.commands.generate as generate

    for other in (["y"], []):
        generation = {"text": "5 rows with x = 1", "given": {"x": "1"},
                      "columns": {"n_real": 1, "scores": {}, "other_columns": other}}  # fmt: skip
        monkeypatch.setattr(generate, "sample_given", lambda *a, **k: (tmp_path / "g.csv", generation,
                                                                       {"sampler": "prior", "temperature": None, "what": ""}))
        code, out, err = run_cli(capsys, "sample", tmp_path / "run", "--n", "5", "--given", "x=1", "--out", tmp_path / "g.csv")
        assert code == 0, err
        assert "1 real training row" in out and "1 real training rows" not in out and " hold these" not in out


def _one_line_error(capsys, *argv, match):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert match in lines[0], lines[0]


def test_bad_inputs_end_in_one_line_and_exit_2(tmp_path, capsys, digits_npy):
    out = tmp_path / "run"
    nan = tmp_path / "nan.npy"
    np.save(nan, np.array([[0.1, np.nan]] * 20))
    _one_line_error(capsys, "train", nan, "--out", out, match="20 NaN and 0 infinite")
    text = tmp_path / "text.csv"
    text.write_text("a,b\n1,2\n3,oops\n")
    _one_line_error(capsys, "train", text, "--out", out, "--label-column", "a", match="'b'")
    one = tmp_path / "one.csv"
    one.write_text("a,b\n1,2\n")
    _one_line_error(capsys, "train", one, "--out", out, match="Need at least 2 training examples")
    # the split's advice as the flags typed (an audit, s15: Python callers were told --val-fraction, the CLI too)
    _one_line_error(capsys, "train", one, "--out", out, "--test-fraction", "0.2",
                    match="lower --val-fraction (validation_fraction) or --test-fraction (test_fraction).")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _one_line_error(capsys, "train", empty, "--out", out, match="empty")
    labels = tmp_path / "short.npy"
    np.save(labels, np.zeros(5, dtype=int))
    _one_line_error(capsys, "train", digits_npy, "--out", out, "--labels", labels, match="expected 300 labels")
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("L", (8, 8)).save(folder / "a.png")
    Image.new("L", (9, 8)).save(folder / "b.png")
    _one_line_error(capsys, "train", folder, "--out", out, match="a.png")
    # one colour file made a grey folder 3-channel without a word (an audit, s12): refused, naming files of each kind
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i in range(5):
        Image.new("L", (8, 8), i * 40).save(mixed / f"g{i}.png")
    Image.new("RGB", (8, 8), (200, 10, 10)).save(mixed / "c.png")
    _one_line_error(capsys, "train", mixed, "--out", out, match="mixes greyscale and colour images: 5 greyscale images "
                    "(g0.png, g1.png, g2.png, ...) and 1 colour image (c.png)")  # fmt: skip
    assert not out.exists()
    _one_line_error(capsys, "train", tmp_path / "missing.npy", "--out", out, match="missing.npy")
    _one_line_error(capsys, "train", "--out", tmp_path / "none", "--resume", match="does not exist")
    _one_line_error(capsys, "train", digits_npy, "--out", out, "--arch", "conv", "--latent-dim", "2", *FAST_ARGS[2:],
                    "--lr", "-1", match="--lr (lr) must be a finite number > 0")  # fmt: skip


def test_setting_errors_name_the_flag_typed_and_the_setting(tmp_path, capsys, digits_npy):
    # "val_fraction must be ..." where the user typed --val-fraction (an audit, s12): each check names its setting
    # (ConfigError.setting), and the CLI puts the command's flag beside it; a negative --seed was a traceback
    out = tmp_path / "run"
    for option, value, said in (("--val-fraction", "1.5", "--val-fraction (val_fraction) must be in [0, 1)"),
                                ("--test-fraction", "-0.1", "--test-fraction (test_fraction) must be in [0, 1)"),
                                ("--latent-dim", "0", "--latent-dim (latent_dim) must be an integer >= 1"),
                                ("--hidden", "0", "--hidden (hidden) must be a list of positive layer sizes"),
                                ("--lr", "0", "--lr (lr) must be a finite number > 0"),
                                ("--batch-size", "0", "--batch-size (batch_size) must be an integer >= 1"),
                                ("--epochs", "0", "--epochs (epochs) must be an integer >= 1"),
                                ("--patience", "-1", "--patience (patience) must be an integer >= 0"),
                                ("--warmup-epochs", "-1", "--warmup-epochs (warmup_epochs) must be"),
                                ("--seed", "-1", "--seed (seed) must be an integer from 0 to 2**32 - 1"),
                                ("--save-every", "-1", "--save-every (save_every) must be a number of seconds"),
                                ("--device", "tpu", "--device (device) must be 'auto'")):  # fmt: skip
        code, _, err = run_cli(capsys, "train", digits_npy, "--out", out, "--quiet", option, value)
        assert code == 2 and err.count("\n") == 1 and f"vaelab train: error: {said}" in err, (option, err)
        assert not out.exists()
    # the Python API keeps naming its settings
    from vaelab import VAE
    from vaelab.errors import ConfigError

    with pytest.raises(ConfigError, match="^lr must be a finite number"):
        VAE(lr=0).check_settings((4,))


def test_errors_naming_several_settings_or_a_value_name_the_flags_typed(tmp_path, capsys, tiny_runs):
    # An audit (s13): "val_fraction + test_fraction must be below 1" (a series run) named two settings the user never
    # typed, and three styles lived side by side ("--lr (lr) must", "sigma=0.5 (--sigma) is", "(--probabilities,
    # probabilities=True)"). The checks word their text in Python terms; the CLI names each setting as its flag.
    series = tiny_runs["series"].parent / "s.csv"
    code, _, err = run_cli(capsys, "train", series, "--window", "6", "--horizon", "2", "--id", "id", "--time", "time",
                           "--val-fraction", "0.5", "--test-fraction", "0.5", "--out", tmp_path / "run", *FAST_ARGS)  # fmt: skip
    assert code == 2 and err.count("\n") == 1, err
    assert "--val-fraction (val_fraction) + --test-fraction (test_fraction) must be below 1" in err, err
    x = tiny_runs["image"].parent / "x.npy"
    code, _, err = run_cli(capsys, "train", x, "--out", tmp_path / "run", "--sigma", "0.5", *FAST_ARGS)
    assert code == 2 and "error: --sigma 0.5 is the fixed SD" in err and "set --likelihood gaussian-fixed." in err, err
    assert "sigma=" not in err and "likelihood=" not in err
    code, _, err = run_cli(capsys, "explore", tiny_runs["image"], "grid", "--dims", "0", "9")
    assert code == 2 and "error: --dims (dims) must name latent dimensions in 0..1; got [0, 9]" in err, err
    assert not (tmp_path / "run").exists()
    # the Python API keeps its own terms
    from vaelab import VAE
    from vaelab.data.timeseries import split_windows
    from vaelab.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^sigma=0.5 is the fixed SD .* set likelihood='gaussian-fixed'\.$"):
        VAE(sigma=0.5).check_settings((4,))
    with pytest.raises(ConfigError, match=r"^val_fraction \+ test_fraction must be below 1"):
        split_windows(None, 0.5, 0.5)


def test_a_series_runs_column_errors_name_the_flags_typed(tmp_path, capsys, tiny_runs):
    # "id_column and time_column must differ" and "features names a column more than once" (an audit, s13)
    series = tiny_runs["series"].parent / "s.csv"
    for option, said in ((["--id", "id", "--time", "id"], "--id (id_column) and --time (time_column) must differ"),
                         (["--id", "id", "--features", "f0", "f0"], "--features (features) names a column more than")):
        code, _, err = run_cli(capsys, "train", series, "--window", "6", "--horizon", "2", *option, "--out",
                               tmp_path / "run", *FAST_ARGS)  # fmt: skip
        assert code == 2 and err.count("\n") == 1 and said in err, err
    assert not (tmp_path / "run").exists()


def test_a_network_or_a_step_too_large_for_memory_is_refused_before_the_run_is_started(tmp_path, capsys, digits_npy):
    # --hidden 99999999999 or --iw-samples 99999999999 was torch's allocation traceback (exit 1), after split.npy and
    # config.json were written into --out (an audit, s13)
    for option, said in ((["--hidden", "99999999999"], "--hidden 99999999999, --latent-dim 2 make a network of"),
                         (["--latent-dim", "9999999999"], "--latent-dim 9999999999 make a network of"),
                         (["--prior", "mog", "--n-components", "99999999999"], "--n-components 99999999999 make"),
                         (["--iw-samples", "99999999999"], "--iw-samples 99999999999 importance samples of one example")):
        code, _, err = run_cli(capsys, "train", digits_npy, "--out", tmp_path / "run", *FAST_ARGS, *option)
        assert code == 2 and err.count("\n") == 1 and said in err and "GiB" in err, err
        assert not (tmp_path / "run").exists()
    from vaelab import VAE
    from vaelab.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^iw_samples=99999999999 importance samples"):
        VAE(iw_samples=99999999999, epochs=1).fit(np.zeros((20, 4), np.float32))


def test_model_spec_errors_name_the_option_typed(tiny_runs, capsys):
    # `score RUN --model missing` said "--encoder 'missing': expected FILE.onnx, ..." (the SPEC of --model is taken as
    # the encoder's): an option never typed (an audit, s13)
    for command in (["score", tiny_runs["image"], "--quiet"], ["inspect", tiny_runs["image"]]):
        code, _, err = run_cli(capsys, *command, "--model", "missing")
        assert code == 2 and "error: --model missing: expected FILE.onnx" in err, err
    # and the Python API's words are its own (an audit, s14: "--encoder 'x.py:E': no such file" said to a caller of
    # vaelab.load(run, encoder='x.py:E')); the CLI says the flag typed, quoted where the shell needs it
    from vaelab.errors import ConfigError
    from vaelab.specs import resolve

    with pytest.raises(ConfigError, match=r"^encoder='nope\.py:E': no such file"):
        resolve("nope.py:E", "encoder")
    code, _, err = run_cli(capsys, "score", tiny_runs["image"], "--quiet", "--encoder", "my dir/nope.py:E")
    assert code == 2 and "error: --encoder 'my dir/nope.py:E': no such file" in err, err


def test_forecasts_refuse_the_options_of_a_model_that_is_code(tiny_runs, tmp_path, capsys):
    # with --past, --encoder/--decoder/--model/--trust-run were ignored without a word (every other option that does
    # not apply to forecasts is refused)
    run, past = tiny_runs["series"], tiny_runs["series"].parent / "past.csv"
    for option in (["--encoder", "x.py:E"], ["--model", "x.py:M"], ["--trust-run"]):
        code, _, err = run_cli(capsys, "sample", run, "--past", past, *option, "--out", tmp_path / "f.csv")
        assert code == 2 and f"{option[0]} does not apply to forecasts" in err, err
    assert not (tmp_path / "f.csv").exists()


def test_an_empty_data_path_is_refused_not_read_as_the_current_folder(tiny_runs, capsys, tmp_path, monkeypatch):
    # "" is the current folder to os.path: `anomaly-eval RUN --outliers "$UNSET"` read the images lying there (here,
    # a run's figures) as the outliers (an audit, s13)
    monkeypatch.chdir(tiny_runs["image"])
    code, _, err = run_cli(capsys, "anomaly-eval", tiny_runs["image"], "--outliers", "", "--n-samples", "2", "--quiet")
    assert code == 2 and "The data path is empty" in err, err
    code, _, err = run_cli(capsys, "evaluate-synthetic", tiny_runs["table"], "--target", "", "--n", "20")
    assert code == 2 and "--target '' is not a column" in err, err  # was the default target, without a word


def test_argparse_errors_are_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "x", "--out", "y", "--prior", "flat"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "invalid choice: 'flat'" in err[0]


def test_table_columns_refused_or_read_as_the_audit_expects(tmp_path, capsys):
    """A column too large for float64 is refused in one line before anything is written (it once trained to a NaN
    loss and left a run folder neither train nor --resume accepted). A run trained on a Parquet file with a tz-aware
    column and integer codes scores a CSV of the same rows: dates with "+01:00"/"+02:00" read in UTC (once refused
    whole), and codes read as floats because of another row's missing cell still match (1.0 is 1), so each row's
    score is the same as in a file without that cell."""
    import pandas as pd

    rng = np.random.default_rng(1)
    n = 200
    big = pd.DataFrame({"a": rng.normal(size=n), "b": rng.choice(["x", "y"], n), "huge": rng.uniform(-1, 1, n) * 1.7e308})
    big.to_csv(tmp_path / "big.csv", index=False)
    _one_line_error(capsys, "train", tmp_path / "big.csv", "--out", tmp_path / "big", *FAST_ARGS,
                    match="column 'huge' holds values up to")  # fmt: skip
    assert not (tmp_path / "big").exists()
    code = rng.choice([1, 2, 3, 7], n)
    df = pd.DataFrame({"x": rng.normal(size=n) + code, "code": code, "ts": pd.Timestamp("2021-01-01", tz="Europe/Berlin")
                       + pd.to_timedelta(rng.integers(0, 10000, n), unit="h")})  # fmt: skip
    df.to_parquet(tmp_path / "t.parquet")
    run = tmp_path / "run"
    status, _, err = run_cli(capsys, "train", tmp_path / "t.parquet", "--categorical", "code", "--out", run, *FAST_ARGS)
    assert status == 0, err
    df.head(12).to_csv(tmp_path / "new.csv", index=False)
    gap = df.head(12).astype({"code": float})
    gap.loc[0, "code"] = np.nan
    gap.to_csv(tmp_path / "gap.csv", index=False)
    scores = {}
    for name in ("new", "gap"):
        status, _, err = run_cli(capsys, "score", run, tmp_path / f"{name}.csv", "--n-samples", "10",
                                 "--out", tmp_path / f"{name}_scores.csv")  # fmt: skip
        assert status == 0, err
        scores[name] = pd.read_csv(tmp_path / f"{name}_scores.csv", keep_default_na=False)
    assert not scores["new"]["reason"].str.contains("ts:|code:").any()  # a low percentile may be said, nothing more
    assert scores["gap"]["reason"][0].startswith("code: missing, and it had no missing values in training")
    assert scores["gap"]["reason"][1:].tolist() == scores["new"]["reason"][1:].tolist()
    np.testing.assert_allclose(scores["gap"]["log_px"][1:], scores["new"]["log_px"][1:], rtol=1e-6)


def test_a_test_split_of_one_row_prints_no_standard_error_not_nan(tmp_path, capsys):
    """Ten rows leave one test row: its ELBO has no standard error (metrics.json: null); stdout said "± nan"."""
    (tmp_path / "tiny.csv").write_text("a,x\n" + "".join(f"{'pq'[i % 2]},{i / 10}\n" for i in range(10)))
    code, out, err = run_cli(capsys, "train", tmp_path / "tiny.csv", "--out", tmp_path / "run", *FAST_ARGS)
    assert code == 0, err
    assert "nan" not in out and "(no standard error from 1 test example(s)) nats per example" in out
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]["elbo_stderr"] is None


def test_a_resumed_training_says_its_epoch_seconds_cover_every_session(tmp_path, capsys, digits_npy):
    # "3.6 s of epochs, 2.2 s in all": the epochs' seconds of every session beside this command's time (an audit)
    assert run_cli(capsys, "train", digits_npy, "--out", tmp_path / "run", *FAST_ARGS)[0] == 0
    code, out, err = run_cli(capsys, "train", "--out", tmp_path / "run", "--resume", "--epochs", "3", "--quiet")
    assert code == 0, err
    line = next(s for s in out.splitlines() if s.startswith("training:"))
    assert " s of epochs over every session, this one " in line and line.endswith(" s in all"), line


def test_options_that_do_not_apply_to_forecasts_are_named_in_one_line(tiny_runs, tmp_path, capsys):
    # "--n does not apply to forecasts ... Drop them." (an audit: one option is "it")
    run, past = tiny_runs["series"], tiny_runs["series"].parent / "past.csv"
    code, _, err = run_cli(capsys, "sample", run, "--past", past, "--n", "5", "--out", tmp_path / "f.csv")
    assert code == 2 and err.count("\n") == 1 and "--n does not apply to forecasts" in err and "Drop it." in err
    code, _, err = run_cli(capsys, "sample", run, "--past", past, "--n", "5", "--draw", "--out", tmp_path / "f.csv")
    assert code == 2 and "--n, --draw do not apply to forecasts" in err and "Drop them." in err
    assert not (tmp_path / "f.csv").exists()


def test_sigma_refused_before_reading_the_data_names_no_likelihood_it_never_chose(tmp_path, capsys):
    # `train X.npy --sigma 0.5` (likelihood auto) is refused before the data's values are read; the error
    # claimed "this model's is 'bernoulli' (the values lie in [0, 1] on 256 grey levels ...)" for data with
    # values outside [0, 1], whose likelihood is a Gaussian: a stand-in for the unread values, stated as fact.
    X = np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32)
    np.save(tmp_path / "real.npy", X)
    code, _, err = run_cli(capsys, "train", tmp_path / "real.npy", "--out", tmp_path / "run", "--sigma", "0.5", *FAST_ARGS)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--sigma" in err and "gaussian-fixed" in err
    assert "bernoulli" not in err.split("likelihood 'auto'")[0] and "grey levels (at most" not in err
    assert not (tmp_path / "run").exists()


def test_sigma_refused_in_the_words_of_each_likelihood(tmp_path, capsys, tiny_runs):
    # An explicit Bernoulli was said to "learn its own" SD (it has none), and a table run was told to "set
    # likelihood='gaussian-fixed'", which a table run cannot take.
    X = (np.random.default_rng(0).random((60, 5)) < 0.5).astype(np.float32)
    np.save(tmp_path / "b.npy", X)
    code, _, err = run_cli(capsys, "train", tmp_path / "b.npy", "--out", tmp_path / "run", "--likelihood", "bernoulli",
                           "--sigma", "0.5", *FAST_ARGS)  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "learns its own" not in err and "has no SD" in err
    code, _, err = run_cli(capsys, "train", tiny_runs["table"].parent / "t.csv", "--out", tmp_path / "run",
                           "--sigma", "0.5", *FAST_ARGS)  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "'mixed'" in err and "set likelihood='gaussian-fixed'" not in err and "Drop it." in err
    code, _, err = run_cli(capsys, "train", tmp_path / "b.npy", "--out", tmp_path / "run", "--likelihood", "gaussian",
                           "--sigma", "0.5", *FAST_ARGS)  # fmt: skip
    assert code == 2 and "learns its own SD" in err and "set --likelihood gaussian-fixed" in err
    # --likelihood on a table run said "blocks= describes a mixed likelihood", an option the CLI never had
    code, _, err = run_cli(capsys, "train", tiny_runs["table"].parent / "t.csv", "--out", tmp_path / "run",
                           "--likelihood", "gaussian", *FAST_ARGS)  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert not err.split(": error: ")[1].startswith("blocks=") and "Leave --likelihood" in err and "'mixed'" in err
    assert not (tmp_path / "run").exists()


def test_a_missing_data_file_with_table_options_is_not_found_not_read_as_arrays(tmp_path, capsys):
    # `train missing.csv --categorical x` said "--categorical is for a table run, but missing.csv is read as an
    # image/vector run. Add --table ...", and with --table: "Table file not found": no kind claims a missing file.
    for option in (["--categorical", "x"], ["--condition", "x"], ["--missing-values", "?"]):
        code, _, err = run_cli(capsys, "train", tmp_path / "missing.csv", "--out", tmp_path / "run", *option)
        assert code == 2 and len(err.strip().splitlines()) == 1
        assert "file not found" in err and "is read as" not in err
    assert not (tmp_path / "run").exists()


def test_table_options_with_labels_say_the_labels_made_it_an_array_run(tmp_path, capsys, tiny_runs):
    # `train t.csv --condition city --labels y.npy` said "Add --table", which was then refused for the labels
    table = tiny_runs["table"].parent / "t.csv"
    np.save(tmp_path / "y.npy", np.zeros(150))
    code, _, err = run_cli(capsys, "train", table, "--out", tmp_path / "run", "--condition", "city", "--labels",
                           tmp_path / "y.npy", *FAST_ARGS)  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "Add --table" not in err and "--labels/--label-column make it read so" in err
    assert not (tmp_path / "run").exists()


def test_score_with_one_importance_sample_says_its_monte_carlo_error_is_not_measurable(tmp_path, capsys):
    # K = 1 gives each example no spread of importance weights: the line printed "Monte Carlo part ± nan"
    # (metrics.json stores null, the CSV a blank).
    X = (np.random.default_rng(0).random((100, 8)) < 0.3).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    assert run_cli(capsys, "train", tmp_path / "x.npy", "--out", tmp_path / "run", *FAST_ARGS)[0] == 0
    code, out, err = run_cli(capsys, "score", tmp_path / "run", "--n-samples", "1", "--quiet")
    assert code == 0, err
    assert "nan" not in out and "Monte Carlo part not measurable from K = 1" in out
    code, out, err = run_cli(capsys, "score", tmp_path / "run", "--n-samples", "5", "--quiet")
    assert code == 0 and "Monte Carlo part ± " in out


def test_explore_arithmetic_refuses_one_importance_sample(tmp_path, capsys):
    X = (np.random.default_rng(0).random((100, 8)) < 0.3).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    assert run_cli(capsys, "train", tmp_path / "x.npy", "--out", tmp_path / "run", *FAST_ARGS)[0] == 0
    before = (tmp_path / "run" / "metrics.json").read_bytes()
    code, out, err = run_cli(capsys, "explore", tmp_path / "run", "arithmetic", "0", "1", "--n-samples", "1")
    assert code == 2 and "at least 2" in err and "nan" not in out
    assert (tmp_path / "run" / "metrics.json").read_bytes() == before


def test_every_seed_has_one_limit_and_one_message(tmp_path, capsys, tiny_runs):
    """An audit (s14): train --seed and adopt --seed took up to 2**63 - 1, the analyses' --seed up to 2**32 - 1, in
    other words; a table run trained at --seed 2**40 ended, after its epochs, in scikit-learn's traceback (the
    aggregate-gmm's random_state stops at 2**32 - 1). Every --seed now takes 0 .. 2**32 - 1, said one way."""
    said = "error: --seed (seed) must be an integer from 0 to 2**32 - 1 (4294967295); got 4294967296."
    table, image = tiny_runs["table"], tiny_runs["image"]
    for argv in (["train", table.parent / "t.csv", "--out", tmp_path / "t", *FAST_ARGS],
                 ["train", image.parent / "x.npy", "--out", tmp_path / "i", *FAST_ARGS],
                 ["adopt", "--encoder", "e.py:E", "--decoder", "d.py:D", "--likelihood", "gaussian",
                  "--data", image.parent / "x.npy", "--out", tmp_path / "a"],
                 ["sample", table, "--n", "2", "--out", tmp_path / "s.csv"], ["inspect", image],
                 ["compare-samplers", image], ["evaluate-synthetic", table],
                 ["explore", image, "interpolate", "0", "1"]):  # fmt: skip
        code, _, err = run_cli(capsys, *argv, "--seed", 2**32)
        assert code == 2 and err.count("\n") == 1 and said in err, (argv, err)
    assert not any((tmp_path / name).exists() for name in ("t", "i", "a", "s.csv"))
    from vaelab import VAE
    from vaelab.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^seed must be an integer from 0 to 2\*\*32 - 1"):
        VAE(seed=2**32).fit(np.zeros((20, 3), np.float32))


def test_anomaly_eval_says_which_option_named_the_data_it_refuses(tmp_path, capsys, tiny_runs):
    """An audit (s14): anomaly-eval's data errors named the file, not which of --inliers/--outliers it came from, and an
    outliers file of another shape was refused only after the inliers were scored."""
    np.save(tmp_path / "narrow.npy", np.zeros((5, 3), np.float32))
    code, _, err = run_cli(capsys, "anomaly-eval", tiny_runs["image"], "--outliers", tmp_path / "narrow.npy",
                           "--n-samples", "2")  # fmt: skip
    assert code == 2 and "vaelab anomaly-eval: error: --outliers: narrow.npy holds examples of shape (3,)" in err, err
    assert "scoring" not in err, err  # refused before the inliers were scored
    short = tmp_path / "short.csv"
    import pandas as pd

    pd.read_csv(tiny_runs["series"].parent / "past.csv").head(4).to_csv(short, index=False)
    code, _, err = run_cli(capsys, "anomaly-eval", tiny_runs["series"], "--inliers", short, "--outliers", short,
                           "--quiet")  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "error: --inliers: " in err and "short.csv holds no series" in err, err


def test_a_folder_saved_from_python_says_what_opens_it(tmp_path, capsys):
    """An audit (s14): compare-samplers and explore on a VAE.save folder said "pass the data explicitly", which neither
    can take; the error says which commands take a file and which need a run of vaelab train (as the README does)."""
    from vaelab import VAE

    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    VAE(latent_dim=2, hidden=(4,), epochs=1, verbose=False).fit(X).save(tmp_path / "saved")
    for argv in (["compare-samplers", tmp_path / "saved"], ["explore", tmp_path / "saved", "traverse"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and err.count("\n") == 1 and "pass the data explicitly" not in err, err
        assert "compare-samplers and explore need a run written by vaelab train" in err, err


def test_data_errors_name_the_flags_on_the_command_line(tmp_path, capsys):
    """An audit (s14): data errors carried both syntaxes inline ("pass ignore=('x',) (--ignore x)", "Pass
    fill='interpolate' (--fill interpolate)"): DataError had no ``setting``. The text is in Python terms and the CLI
    says the flags typed, as for settings."""
    import pandas as pd

    rng = np.random.default_rng(0)
    pd.DataFrame({"a": rng.normal(size=60), "b": rng.choice(["x", "y"], 60), "my col": np.nan}).to_csv(tmp_path / "t.csv",
                                                                                                    index=False)  # fmt: skip
    code, _, err = run_cli(capsys, "train", tmp_path / "t.csv", "--out", tmp_path / "r", *FAST_ARGS)
    assert code == 2 and "is entirely missing (60 rows); drop it or pass --ignore 'my col'." in err, err
    assert "ignore=" not in err, err
    values = np.sin(np.arange(60) / 3)
    values[20] = np.nan
    pd.DataFrame({"t": np.arange(60), "v": values}).to_csv(tmp_path / "s.csv", index=False)
    code, _, err = run_cli(capsys, "train", tmp_path / "s.csv", "--window", "6", "--horizon", "2", "--time", "t",
                           "--out", tmp_path / "r", *FAST_ARGS)  # fmt: skip
    assert code == 2 and "Pass --fill interpolate to fill gaps" in err and "fill=" not in err, err


def test_a_short_past_names_the_window_as_its_flag(tmp_path, capsys, tiny_runs):
    """An audit (s14): sample --past of too few rows said "window=6 at training", a Python name the CLI never takes
    (score's like error says "--window 6 --horizon 2")."""
    import pandas as pd

    pd.read_csv(tiny_runs["series"].parent / "past.csv").head(3).to_csv(tmp_path / "short.csv", index=False)
    code, _, err = run_cli(capsys, "sample", tiny_runs["series"], "--past", tmp_path / "short.csv", "--out",
                           tmp_path / "f.csv")  # fmt: skip
    assert code == 2 and "(--window 6 at training); short.csv has 3." in err and "window=" not in err, err


def test_the_python_api_takes_seeds_in_the_same_range(tmp_path):
    """An audit (s14): vaelab.diagnose(model, X, seed=-1) ended in NumPy's "expected non-negative integer" after the
    encoding pass, and VAE.sample(seed=) took any integer; both take the one range of every seed, said one way."""
    import vaelab
    from vaelab.errors import ConfigError

    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    model = vaelab.VAE(latent_dim=2, hidden=(4,), epochs=1, verbose=False).fit(X)
    for call in (lambda: vaelab.diagnose(model, X, seed=-1), lambda: model.sample(2, seed=2**32)):
        with pytest.raises(ConfigError, match=r"^seed must be an integer from 0 to 2\*\*32 - 1"):
            call()


def test_junk_cells_advice_names_what_each_caller_passes(tmp_path, capsys):
    """An audit (s14): numbers with a few text cells ('?') were advised only "vaelab train --missing-values '?'",
    which a Python caller cannot pass: TableVAE takes missing_values=[...] (s15), which the CLI says as the flags
    typed (--missing-values '?' unknown, --ignore a; not ignore=['a'])."""
    import pandas as pd

    rng = np.random.default_rng(2)
    a = rng.normal(size=120).astype(object)
    a[5], a[6] = "?", "unknown"
    pd.DataFrame({"a": a, "b": rng.choice(["x", "y"], 120)}).to_csv(tmp_path / "t.csv", index=False)
    code, _, err = run_cli(capsys, "train", tmp_path / "t.csv", "--out", tmp_path / "r", *FAST_ARGS)
    assert code == 2 and err.count("\n") == 1, err
    assert "read those cells as missing (--missing-values '?' unknown)" in err, err
    assert "--ignore a to leave it out" in err and "ignore=" not in err and "missing_values" not in err, err
    a[7:12] = ["n.a.", "-", "x", "y", "z"]  # more markers than are named: the first few, then "..."
    pd.DataFrame({"a": a, "b": rng.choice(["x", "y"], 120)}).to_csv(tmp_path / "t.csv", index=False)
    code, _, err = run_cli(capsys, "train", tmp_path / "t.csv", "--out", tmp_path / "r", *FAST_ARGS)
    assert code == 2 and "(--missing-values '?' unknown n.a. ...)" in err and "Ellipsis" not in err, err


def test_reconstruction_mse_is_refused_where_the_models_inputs_are_encoded(capsys, tiny_runs):
    """A VAE is scored by reconstruction_mse on request, in the data's units squared; a table or series run's inputs
    are encoded (one-hot, scaled), so there it is refused in one line, naming the scores it has."""
    for kind, said in (("table", "one-hot categories"), ("series", "scaled windows")):
        code, _, err = run_cli(capsys, "score", tiny_runs[kind], "--score", "reconstruction_mse", "--quiet")
        assert code == 2 and err.count("\n") == 1 and said in err and "--score log_px, elbo or reconstruction" in err, err
