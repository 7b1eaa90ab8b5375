"""The HTML report's structure: every section, embedded images only, no script, honest gaps."""
import json
from html import unescape
from html.parser import HTMLParser

from vaelab.cli import main
from vaelab.commands.report import write_report
from vaelab.report.html import SECTIONS


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections, self.images, self.scripts, self.links = {}, [], 0, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections[a["id"]] = a.get("data-status")
        elif tag == "img":
            self.images.append(a)
        elif tag == "script":
            self.scripts += 1
        for key in ("href", "src"):
            if key in a:
                self.links.append(a[key])


def _parse(path):
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_full_report_has_every_section_filled_and_is_self_contained(full_run):
    page = _parse(full_run / "report.html")
    assert list(page.sections) == [key for key, _ in SECTIONS]
    # Every section is filled, except those for other kinds of runs (tables, series).
    assert {k for k, v in page.sections.items() if v != "ok"} == {"tabular", "series"}, page.sections
    assert page.sections["tabular"] == page.sections["series"] == "na"
    assert page.scripts == 0
    # Nothing to fetch: images are data URIs, links are in-page anchors.
    assert page.links and all(u.startswith(("data:image/png;base64,", "#")) for u in page.links)
    figures = {"training_curves", "reconstructions", "kl_per_dimension", "samples_prior", "samples_aggregate-gmm",
               "traversals", "manifold_grid", "interpolation", "arithmetic"}  # fmt: skip
    assert len(page.images) >= len(figures) and all(img.get("alt") for img in page.images)
    html = (full_run / "report.html").read_text(encoding="utf-8")
    metrics = json.loads((full_run / "metrics.json").read_text())
    # The numbers shown are the run's own.
    assert f"{metrics['likelihood']['test_nll']:.2f}" in html
    assert metrics["samplers"]["_summary"]["verdict"].split(",")[0] in html
    for r in metrics["explore"]["arithmetic"]["results"]:
        assert r["verdict"].replace("'", "&#39;") in html
    assert "Not run yet" not in html
    assert ">binarization<" in html  # a Bernoulli run's setting (table and series runs leave it out)


def test_sections_whose_analysis_has_not_run_say_so(bare_run):
    page = _parse(bare_run / "report.html")
    assert list(page.sections) == [key for key, _ in SECTIONS]
    missing = {k for k, v in page.sections.items() if v == "missing"}
    assert {k for k, v in page.sections.items() if v == "na"} == {"tabular", "series"}
    assert missing == {"likelihood", "diagnostics", "samplers", "traversals", "grid", "interpolation", "arithmetic"}
    html = (bare_run / "report.html").read_text(encoding="utf-8")
    for command in ("vaelab score", "vaelab inspect", "vaelab compare-samplers", "explore", "traverse", "grid",
                    "interpolate A B", "arithmetic A B"):  # fmt: skip
        assert command in html
    assert html.count("Not run yet") == len(missing)


def test_report_writes_where_asked_and_errors_are_one_line(bare_run, tmp_path, capsys):
    out = tmp_path / "elsewhere.html"
    assert write_report(bare_run, out) == out and out.read_text().startswith("<!DOCTYPE html>")
    # an HTML page under another suffix was written as asked: report.pdf held HTML a PDF reader could not open
    assert main(["report", str(bare_run), "--out", str(tmp_path / "report.pdf")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must end in .html or .htm; got 'report.pdf'" in err
    assert not (tmp_path / "report.pdf").exists()
    assert main(["report", str(bare_run), "--out", str(tmp_path / "page.HTM")]) == 0
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err
    # a folder: the example it gave was "e.g. FOLDER/out.csv", refused next as no HTML page (an audit, s12)
    assert main(["report", str(bare_run), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"is a folder; name the report's page to write (e.g. {tmp_path / 'report.html'})" in err


def test_explore_errors_are_one_line(bare_run, capsys):
    for argv, message in ((["explore", str(bare_run), "grid", "--dims", "0", "5"], "--dims (dims) must name latent dimensions in 0..1"),
                          (["explore", str(bare_run), "interpolate", "0", "test:9999"], "out of range"),
                          (["explore", str(bare_run), "arithmetic", "0", "nothing"], "names neither"),
                          (["explore", str(bare_run), "traverse", "--span", "-1"], "--span must be a finite number in (0, 100]")):  # fmt: skip
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


def test_explore_entries_in_metrics(full_run):
    explore = json.loads((full_run / "metrics.json").read_text())["explore"]
    assert set(explore) == {"traverse", "grid", "interpolate", "arithmetic"}
    for entry in explore.values():
        assert (full_run / entry["figure"]).is_file()
    assert explore["grid"]["n"] == 5 and len(explore["interpolate"]["t"]) == 5
    assert [r["name"] for r in explore["arithmetic"]["results"]] == [
        "a", "b", "z_a + z_b", "z_a − z_b", "a + b (data space)", "a − b (data space)"]
    assert (explore["interpolate"]["a"], explore["interpolate"]["b"]) == ("0", "1")


def test_the_anomaly_table_says_its_own_k_and_the_notes_the_cli_prints(tiny_runs, tmp_path, capsys):
    # The report showed anomaly-eval's AUROCs under score's "importance samples K" and left out its notes (a
    # column of the outliers' file the run does not model): an audit
    import pandas as pd

    from tests.run_helpers import copy_tree

    run = copy_tree(tiny_runs["table"], tmp_path / "run")
    frame = pd.read_csv(tiny_runs["table"].parent / "t.csv").head(30)
    frame["extra"] = 1.0
    frame.to_csv(tmp_path / "outliers.csv", index=False)
    assert main(["score", str(run), "--n-samples", "11", "--quiet"]) == 0
    assert main(["anomaly-eval", str(run), "--outliers", str(tmp_path / "outliers.csv"), "--n-samples", "7",
                 "--quiet"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "K = 7" in printed and "'extra'" in printed
    html = write_report(run).read_text(encoding="utf-8")
    assert "K = 7 importance samples" in html
    note = "Note: outliers: 1 column of the file is not in the run&#39;s table and not scored: &#39;extra&#39;"
    assert note in html
    # under the table it qualifies, as the CLI prints it (it stood above the table: an audit, s12)
    table = html.index("AUROC [95% interval]")
    assert html.index("</table>", table) < html.index(note)


def test_a_sampler_metric_without_an_interval_says_so_as_the_cli_does(tiny_runs, tmp_path, capsys):
    # Too few samples for half-samples that hold a k-NN ball: the CLI writes "6.39 (no interval)", the report's
    # table showed the bare number (an audit, s12)
    from tests.run_helpers import copy_tree

    run = copy_tree(tiny_runs["image"], tmp_path / "run")
    assert main(["compare-samplers", str(run), "--samplers", "prior", "--n", "8", "--replicates", "2", "--quiet"]) == 0
    assert "(no interval)" in capsys.readouterr().out
    entry = json.loads((run / "metrics.json").read_text())["samplers"]["prior"]
    assert not (entry.get("intervals") or {}).get("frechet")
    html = write_report(run).read_text(encoding="utf-8")
    assert f"<td class=\"num\">{entry['frechet']:.2f} (no interval)</td>" in html
    assert f"<td class=\"num\">{entry['recall']:.3f} (no interval)</td>" in html


def test_results_of_weights_a_resumed_training_changed_are_marked_stale_until_measured_again(tiny_runs, tmp_path,
                                                                                             capsys):  # fmt: skip
    # After train --resume changed the weights the report showed the old NLL beside the new test ELBO (its bound gap
    # mixed two models) and every other analysis as the model's: an audit
    from tests.run_helpers import copy_tree

    run = copy_tree(tiny_runs["table"], tmp_path / "run")
    assert main(["score", str(run), "--n-samples", "5", "--quiet"]) == 0
    assert main(["explore", str(run), "grid", "--n", "3"]) == 0
    assert main(["train", "--out", str(run), "--resume", "--epochs", "3", "--quiet"]) == 0
    capsys.readouterr()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["stale"] == ["explore.grid", "likelihood"]
    html = write_report(run).read_text(encoding="utf-8")
    assert html.count("Stale:") == 2 and f"run vaelab score {run} again" in html
    assert f"run vaelab explore {run} grid again" in html
    # the warning comes before the old numbers it qualifies, not after them (an audit, s12: facts came first)
    likelihood = html[html.index('<section id="likelihood"'):html.index('<section id="diagnostics"')]
    assert likelihood.index("Stale:") < likelihood.index("test NLL")
    assert main(["score", str(run), "--n-samples", "5", "--quiet"]) == 0  # measured again: no longer stale
    assert json.loads((run / "metrics.json").read_text())["stale"] == ["explore.grid"]
    assert main(["explore", str(run), "grid", "--n", "3"]) == 0
    assert "stale" not in json.loads((run / "metrics.json").read_text())
    assert "Stale:" not in write_report(run).read_text(encoding="utf-8")
    # a resume that trains no further keeps the weights, and nothing is called stale
    assert main(["train", "--out", str(run), "--resume", "--epochs", "3", "--quiet"]) == 0
    assert "stale" not in json.loads((run / "metrics.json").read_text())


def test_a_stale_interpolation_or_arithmetic_names_a_command_that_runs(tiny_runs, tmp_path, capsys):
    # The stale note said "run vaelab explore RUN interpolate again", which fails: A and B are required (an audit)
    from tests.run_helpers import copy_tree

    run = copy_tree(tiny_runs["image"], tmp_path / "run")
    assert main(["explore", str(run), "interpolate", "0", "3", "--steps", "3"]) == 0
    assert main(["explore", str(run), "arithmetic", "1", "2", "--n-samples", "5"]) == 0
    assert main(["train", "--out", str(run), "--resume", "--epochs", "3", "--quiet"]) == 0
    capsys.readouterr()
    html = write_report(run).read_text(encoding="utf-8")
    assert f"run vaelab explore {run} interpolate 0 3 again" in html
    assert f"run vaelab explore {run} arithmetic 1 2 again" in html
    assert main(["explore", str(run), "interpolate", "0", "3", "--steps", "3"]) == 0  # the command it names runs


def test_a_cross_entropy_is_not_called_an_nll_in_the_bound_gap(tmp_path, digits, capsys):
    # "test cross-entropy (not an NLL)" sat above "−ELBO − NLL (bound gap)" for a Bernoulli on grey values (an audit)
    import numpy as np

    X, _ = digits
    np.save(tmp_path / "x.npy", X.reshape(-1, 1, 8, 8)[:200])
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "x.npy"), "--out", str(run), "--likelihood", "bernoulli", "--binarize", "none",
                 "--epochs", "1", "--hidden", "16", "--latent-dim", "2", "--quiet"]) == 0  # fmt: skip
    assert main(["score", str(run), "--n-samples", "5", "--quiet"]) == 0
    capsys.readouterr()
    html = write_report(run).read_text(encoding="utf-8")
    assert "test cross-entropy (not an NLL)" in html
    assert "−ELBO − cross-entropy (bound gap)" in html and "NLL (bound gap)" not in html
    # the gap is taken with score's ELBO, not the Training section's test ELBO (another estimate): it says which
    # (an audit, s12: the two ELBOs differ by Monte Carlo noise, and the gap did not match the page's figures)
    lik = json.loads((run / "metrics.json").read_text())["likelihood"]
    assert (f"{-lik['elbo'] - lik['test_nll']:.2f} nats (ELBO {lik['elbo']:.2f}, from the same K draws per example as "
            "the log p(x); the Training section&#39;s test ELBO is another Monte Carlo estimate)") in html


def test_the_reconstructions_section_names_what_a_table_or_series_run_models(tiny_runs, tmp_path):
    # It said "this run models vectors" of table and series runs too: an audit
    from tests.run_helpers import copy_tree

    for kind, what in (("table", "table rows"), ("series", "windows of a series")):
        html = write_report(copy_tree(tiny_runs[kind], tmp_path / kind)).read_text(encoding="utf-8")
        assert f"reconstructions are drawn for image data; this run models {what}" in html


def test_the_sampler_table_names_its_feature_space_in_words(tiny_runs, tmp_path, capsys):
    # "in the features of a standardized columns (pca)": an audit
    from tests.run_helpers import copy_tree

    run = copy_tree(tiny_runs["table"], tmp_path / "run")
    assert main(["compare-samplers", str(run), "--samplers", "prior", "--n", "20", "--replicates", "2", "--quiet"]) == 0
    html = write_report(run).read_text(encoding="utf-8")
    assert "test examples, in the standardized columns (PCA);" in html and "features of a standardized" not in html
    # what the samples are, as the CLI says: a table run's are draws from p(x|z), not decoder means (an audit)
    assert "20 samples per sampler (draws from p(x|z)) against" in html


def test_the_likelihood_sections_say_how_a_series_runs_standard_errors_are_taken(tiny_runs, tmp_path, capsys):
    # A series run's NLL and test ELBO take their SE over overlapping windows (autocovariances added), as the CLI
    # says; the report still said "the first ± is the standard error over test examples": an audit
    from tests.run_helpers import copy_tree

    for kind in ("series", "table"):
        run = copy_tree(tiny_runs[kind], tmp_path / kind)
        assert main(["score", str(run), "--n-samples", "5", "--quiet"]) == 0
        capsys.readouterr()
        metrics = json.loads((run / "metrics.json").read_text())
        html = write_report(run).read_text(encoding="utf-8")
        if kind == "series":
            method = metrics["likelihood"]["test_nll_stderr_method"]
            assert "windows" in method and metrics["test"]["elbo_stderr_method"] == method
            # few test windows: the interval is approximate, as the key says (an audit, s14)
            caveat = metrics["likelihood"].get("test_nll_stderr_approximate")
            said = method + (f" (± 1.96 of it: {caveat})" if caveat else "")
            text = unescape(html)  # the method names Kiefer & Vogelsang's interval
            assert f"the first ± is the standard error {said}." in text and "over test examples" not in html
            assert f"nats per example (standard error {method})" in text
            if metrics["test"].get("elbo_stderr_approximate"):
                assert f"(standard error {method}); {metrics['test']['elbo_stderr_approximate']}" in text
        else:  # rows are independent: unchanged
            assert "the first ± is the standard error over test examples." in html
            assert "nats per example (standard error" not in html


def test_fidelity_is_shown_with_its_standard_error_and_a_block_written_before_it_still_reads(tiny_runs, tmp_path,
                                                                                             capsys):  # fmt: skip
    # Fidelity, column shapes and column pair trends had no SE (a gap found in review, s11): evaluate-synthetic prints
    # them "0.942 ± 0.004" and the report shows them so; a synthetic block written before those keys reads as before.
    from tests.run_helpers import copy_tree

    run = copy_tree(tiny_runs["table"], tmp_path / "run")
    assert main(["evaluate-synthetic", str(run)]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((run / "metrics.json").read_text())
    b = metrics["synthetic"]
    shown = (f"{b['fidelity']:.3f} ± {b['fidelity_stderr']:.3f}", f"column shapes {b['column_shapes']:.3f} ± "
             f"{b['column_shapes_stderr']:.3f}", f"{b['column_pair_trends']:.3f} ± {b['column_pair_trends_stderr']:.3f}",
             f"± 1 SE over the {b['n_real_train']} real and {b['n_synthetic']} synthetic rows, each table resampled on "
             "its own (100 bootstrap resamples)")  # fmt: skip
    html = write_report(run).read_text(encoding="utf-8")
    for text in shown:
        assert text in out and text in html, text
    for key in ("fidelity_stderr", "column_shapes_stderr", "column_pair_trends_stderr", "fidelity_stderr_over"):
        del metrics["synthetic"][key]
    (run / "metrics.json").write_text(json.dumps(metrics))
    page = write_report(run)
    html = page.read_text(encoding="utf-8")
    assert _parse(page).sections["tabular"] == "ok"
    assert (f"{b['fidelity']:.3f} = mean of column shapes {b['column_shapes']:.3f} and column-pair trends "
            f"{b['column_pair_trends']:.3f} (SDMetrics; 1 is best)") in html
    assert f"± 1 SE over the {b['n_real_train']} real" not in html


def test_the_settings_table_gives_a_fixed_gaussians_sigma(tmp_path, digits, capsys):
    # The NLL of --likelihood gaussian-fixed depends on its σ (log σ per value); the report's settings did not say it
    # (an audit, s12)
    import numpy as np

    X, _ = digits
    np.save(tmp_path / "x.npy", X.reshape(-1, 1, 8, 8)[:200])
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "x.npy"), "--out", str(run), "--likelihood", "gaussian-fixed", "--sigma",
                 "0.3", "--epochs", "1", "--hidden", "16", "--latent-dim", "2", "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    html = write_report(run).read_text(encoding="utf-8")
    assert '<td>likelihood p(x|z)</td><td>gaussian-fixed (σ = 0.3, fixed)</td>' in html


# Keys today's vaelab adds that blocks written by earlier versions lack: the report reads such a block as it did then
NEWER_KEYS = (("test", "elbo_stderr_method"), ("likelihood", "reference_size"), ("likelihood", "reference_independent"),
              ("likelihood", "reference_note"), ("diagnostics", "collapse", "verdict"), ("diagnostics", "clustering"),
              ("diagnostics", "clustering", "kmeans", "ami"), ("diagnostics", "clustering", "gmm", "ami"),
              ("synthetic", "temperature"), ("synthetic", "constant_columns"), ("synthetic", "condition_columns"),
              ("synthetic", "ml_efficacy", "difference_se"), ("synthetic", "ml_efficacy", "outcome"),
              ("synthetic", "ml_efficacy", "se_over"), ("synthetic", "trend", "why"), ("synthetic", "predictive", "repeats"),
              ("synthetic", "predictive", "outcome"), ("synthetic", "predictive", "se_over"),
              ("synthetic", "discriminative", "repeats"))  # fmt: skip
# Keys of a block the report reads that a damaged metrics.json may lack: the block is left out with a note, or the
# line it fills is left out; each one was a KeyError, the page not written (an audit, s12)
DAMAGED_KEYS = (("training", "likelihood_choice", "reason"), ("training", "likelihood_choice", "binarized"),
                ("diagnostics", "classes", "*", "kl_to_prior"), ("diagnostics", "classes", "*", "n"),
                ("synthetic", "ml_efficacy", "difference"), ("synthetic", "trend", "found"),
                ("synthetic", "trend", "handling"))  # fmt: skip


def _strip(metrics, path):
    """metrics without the key at ``path`` ("*": every entry of a mapping); False where it holds none."""
    head, *rest = path
    keys = list(metrics) if head == "*" else [head]
    if not rest:
        found = [k for k in keys if k in metrics]
        for k in found:
            del metrics[k]
        return bool(found)
    return any([_strip(metrics[k], rest) for k in keys if isinstance(metrics.get(k), dict)])


def test_a_report_of_blocks_written_before_todays_keys_renders_and_a_damaged_key_costs_no_page(tiny_runs, tmp_path,
                                                                                                capsys):  # fmt: skip
    # A metrics.json written by an earlier vaelab lacks the keys added since: each section renders as before (not as
    # damaged). A key the report reads missing from a damaged file was a KeyError and no page (an audit, s12).
    import copy

    from tests.run_helpers import copy_tree

    runs = {}
    for kind in ("table", "series", "image"):
        run = copy_tree(tiny_runs[kind], tmp_path / kind)
        assert main(["score", str(run), "--n-samples", "3", "--quiet"]) == 0
        assert main(["inspect", str(run)]) == 0
        if kind != "image":
            assert main(["evaluate-synthetic", str(run)]) == 0
        runs[kind] = run
    capsys.readouterr()
    stripped = set()
    for kind, run in runs.items():
        full = json.loads((run / "metrics.json").read_text())
        fresh = _parse(write_report(run)).sections
        for path in (*NEWER_KEYS, None):  # one at a time, then all of them
            metrics = copy.deepcopy(full)
            if path is None:
                for p in NEWER_KEYS:
                    _strip(metrics, p)
            elif not _strip(metrics, path):
                continue
            stripped.add(path)
            (run / "metrics.json").write_text(json.dumps(metrics))
            page = write_report(run)
            assert _parse(page).sections == fresh, (kind, path)
            assert "metrics.json is damaged" not in page.read_text(encoding="utf-8"), (kind, path)
        for path in DAMAGED_KEYS:
            metrics = copy.deepcopy(full)
            if not _strip(metrics, path):
                continue
            stripped.add(path)
            (run / "metrics.json").write_text(json.dumps(metrics))
            write_report(run)  # no KeyError
        (run / "metrics.json").write_text(json.dumps(full))
    assert stripped - {None} == {*NEWER_KEYS, *DAMAGED_KEYS}, {*NEWER_KEYS, *DAMAGED_KEYS} - stripped
