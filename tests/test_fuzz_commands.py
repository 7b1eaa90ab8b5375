"""Property-based fuzzing (issue 14) of every command's numeric options and of metrics.json's blocks:
whatever the numbers or the blocks, a command exits 0 or 2 with one line, never a traceback, and
refuses what it refuses within seconds (before any work). Derandomized by default; VAELAB_FUZZ_SCALE=N
runs N times as many examples, drawn at random (as tests/test_fuzz.py)."""
import contextlib
import io
import json
import time

import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from vaelab.checkpoint import RunDir
from vaelab.cli import main
from vaelab.metrics_schema import validate_blocks

from run_helpers import copy_tree, within
from test_fuzz import JSON, fuzz, mutated

REFUSE_S = 10  # a refusal comes before any work: well within this, even on a loaded machine
HANG_S = 120  # what counts as a hang for an accepted command on these tiny runs

# Numbers as a user may type them: small valid ones, and every kind of absurd one.
INTS = st.one_of(st.integers(1, 6), st.sampled_from([0, -1, -(2**31), 2**31, 2**32 - 1, 2**32, 2**63, 2**64, 10**12,
                                                     10**30, 10**7]))  # fmt: skip
FLOATS = st.one_of(st.floats(0.01, 5), st.sampled_from([0.0, -0.0, -1.0, 100.0, 1e-300, 1e300, 1e308, 50.0, 99.99]),
                   st.sampled_from(["nan", "inf", "-inf", "NaN", "1e999"]))  # fmt: skip
TEXT = st.sampled_from(["", "1e12", "0x10", "1_000", "--", "1.5", "-0", " 3", "３"])  # not numbers to argparse
NUMBER = st.one_of(INTS, FLOATS, TEXT).map(str)
# `sample --n` is bounded by memory only: 10**7 samples is a real job (a minute or more here), linear in N,
# not a hang; the fuzz keeps the counts it must refuse and the small ones it must accept quickly.
SAMPLE_N = st.one_of(INTS.filter(lambda n: n != 10**7), FLOATS, TEXT).map(str)
SEED = st.one_of(st.integers(0, 3), INTS).map(str)
EXAMPLE = st.one_of(st.sampled_from(["0", "1", "test:2", "val:0", "train:5"]),
                    INTS.map(str), INTS.map(lambda n: f"test:{n}"), st.sampled_from(["test:-1", "val:", ":3", "-1"]))  # fmt: skip


@pytest.fixture(scope="module")
def runs(tiny_runs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    return {k: copy_tree(v, folder / k) for k, v in tiny_runs.items()}


def run_cli(argv):
    """exit code 0, or 2 with one line on stderr; refusals within REFUSE_S. Returns the code."""
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with within(HANG_S), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse: an option that is not a number at all
            code = e.code
    seconds = time.perf_counter() - start
    lines = err.getvalue().strip().splitlines()
    assert code in (0, 2), (argv, code, err.getvalue()[-2000:])
    if code == 2:
        errors = [line for line in lines if ": error:" in line]
        assert len(errors) == 1 and "Traceback" not in err.getvalue(), (argv, err.getvalue()[-2000:])
        assert seconds < REFUSE_S, f"{argv} was refused only after {seconds:.1f} s"
        event("refused: " + errors[0].split(": error:")[1].split()[0])
    else:
        event("accepted")
    return code


COMMANDS = {  # name -> strategy of argv given the runs and a scratch folder
    "score": lambda r, t: st.tuples(st.just(["score", r["image"], "--quiet"]), st.just("--n-samples"), NUMBER,
                                    st.sampled_from([[], ["--threshold"], ["--band", "10"], ["--chunk-size"]]), NUMBER),
    "anomaly-eval": lambda r, t: st.tuples(st.just(["anomaly-eval", r["image"], "--outliers", "val", "--quiet"]),
                                           st.just("--n-samples"), NUMBER),
    "inspect": lambda r, t: st.tuples(st.just(["inspect", r["image"]]), st.just("--active-threshold"), NUMBER,
                                      st.just("--seed"), SEED),
    "compare-samplers": lambda r, t: st.tuples(st.just(["compare-samplers", r["image"], "--samplers", "prior"]),
                                               st.just("--n"), NUMBER, st.just("--seed"), SEED),
    "sample": lambda r, t: st.tuples(st.sampled_from([["sample", r["image"], "--out", t / "s.npy"],
                                                      ["sample", r["table"], "--out", t / "s.csv"]]),
                                     st.just("--n"), SAMPLE_N, st.just("--seed"), SEED),
    "sample --past": lambda r, t: st.tuples(st.just(["sample", r["series"], "--past", r["series"].parent / "past.csv",
                                                     "--out", t / "f.csv"]), st.just("--draws"), NUMBER,
                                            st.just("--seed"), SEED),
    "explore traverse": lambda r, t: st.tuples(st.just(["explore", r["image"], "traverse"]), st.just("--span"), NUMBER,
                                               st.just("--steps"), NUMBER, st.sampled_from([[], ["--dims"]]),
                                               st.lists(NUMBER, min_size=1, max_size=3)),
    "explore grid": lambda r, t: st.tuples(st.just(["explore", r["image"], "grid"]), st.just("--n"), NUMBER,
                                           st.sampled_from([[], ["--dims"]]), st.lists(NUMBER, min_size=2, max_size=2)),
    "explore interpolate": lambda r, t: st.tuples(st.just(["explore", r["image"], "interpolate"]), EXAMPLE, EXAMPLE,
                                                  st.just("--steps"), NUMBER, st.just("--seed"), SEED),
    "explore arithmetic": lambda r, t: st.tuples(st.just(["explore", r["image"], "arithmetic"]), EXAMPLE, EXAMPLE,
                                                 st.just("--n-samples"), NUMBER, st.just("--seed"), SEED),
    "evaluate-synthetic": lambda r, t: st.tuples(st.sampled_from([["evaluate-synthetic", r["table"]],
                                                                  ["evaluate-synthetic", r["series"]]]),
                                                 st.just("--n"), NUMBER, st.just("--seed"), SEED),
    # demo trains for minutes when everything is valid: its --out is a folder it must refuse, so each example
    # ends before any training, on a bad setting or on that folder, which must be left as it was.
    "demo": lambda r, t: st.tuples(st.just(["demo", "--quiet", "--out", t / "foreign"]),
                                   st.lists(st.tuples(st.sampled_from(
                                       ["--latent-dim", "--epochs", "--batch-size", "--lr", "--beta", "--warmup-epochs",
                                        "--iw-samples", "--patience", "--grad-clip", "--sigma", "--n-components", "--seed",
                                        "--hidden"]), NUMBER), min_size=1, max_size=3)),
}  # fmt: skip


def _flatten(parts):
    out = []
    for p in parts:
        if isinstance(p, list):
            out += [str(y) for x in p for y in (x if isinstance(x, tuple) else (x,))]
        else:
            out.append(str(p))
    return out


@pytest.mark.parametrize("command", list(COMMANDS))
def test_numeric_options_of_every_command(runs, tmp_path_factory, command):
    scratch = tmp_path_factory.mktemp("out")
    (scratch / "foreign").mkdir()
    (scratch / "foreign" / "notes.txt").write_text("not vaelab's")

    @fuzz(5)
    @given(parts=COMMANDS[command](runs, scratch))
    def check(parts):
        code = run_cli(_flatten(parts))
        if command == "demo":
            assert code == 2 and (scratch / "foreign" / "notes.txt").read_text() == "not vaelab's"

    check()


# --------------------------------------------------------------- metrics.json blocks


@pytest.fixture(scope="module")
def full_metrics(runs):
    """A metrics.json with every block (as the commands write them), for mutation."""
    run = runs["image"]
    for argv in (["score", run, "--n-samples", "3", "--quiet"], ["inspect", run],
                 ["compare-samplers", run, "--samplers", "prior", "--n", "12"], ["explore", run, "traverse", "--steps", "3"],
                 ["explore", run, "grid", "--n", "3"], ["explore", run, "interpolate", "0", "1", "--steps", "3"],
                 ["explore", run, "arithmetic", "0", "1", "--n-samples", "5"],
                 ["anomaly-eval", run, "--outliers", "val", "--n-samples", "3", "--quiet"]):  # fmt: skip
        assert main([str(a) for a in argv]) == 0
    assert main(["evaluate-synthetic", str(runs["table"])]) == 0
    metrics = RunDir(run).read_metrics()
    metrics["synthetic"] = RunDir(runs["table"]).read_metrics()["synthetic"]
    return json.loads(json.dumps(metrics))


def test_every_block_of_a_full_run_passes_its_schema(full_metrics):
    good, notes = validate_blocks(full_metrics)
    assert notes == {} and good == full_metrics


BLOCKS = st.sampled_from(["training", "test", "likelihood", "anomaly", "diagnostics", "samplers", "synthetic", "explore"])


@fuzz(300)
@given(data=st.data())
def test_validate_blocks_on_mutated_metrics(full_metrics, data):
    """Pure checks, many examples: the blocks that pass keep their values; a block that fails is named."""
    metrics = data.draw(st.one_of(mutated(full_metrics), mutated(mutated(full_metrics)),
                                  st.dictionaries(BLOCKS, JSON, max_size=3)))  # fmt: skip
    assume(isinstance(metrics, dict))  # RunDir.read_metrics refuses anything else before the blocks are read
    good, notes = validate_blocks(metrics)
    assert set(good) | {k.split(".")[0] for k in notes} == set(metrics)
    assert all(isinstance(v, str) and "\n" not in v for v in notes.values())
    event("damaged" if notes else "clean")


@fuzz(15)
@given(data=st.data())
def test_report_and_readers_of_mutated_metrics(runs, full_metrics, data):
    """Whatever metrics.json holds, the report is written (exit 0) or refused in one line; compare-samplers
    reads the diagnostics block and explore merges its own, through any damage."""
    run = runs["image"]
    metrics = data.draw(st.one_of(mutated(full_metrics), mutated(mutated(full_metrics)), JSON,
                                  st.dictionaries(BLOCKS, JSON, max_size=3)))  # fmt: skip
    (run / "metrics.json").write_text(json.dumps(metrics, allow_nan=True))
    code = run_cli(["report", run])
    assert code == 0 or not isinstance(metrics, dict)
    if data.draw(st.booleans()):
        run_cli(["explore", run, "grid", "--n", "2"])
    elif data.draw(st.booleans()):
        run_cli(["compare-samplers", run, "--samplers", "prior", "--n", "10"])


def test_nan_and_huge_numbers_in_blocks_render():
    """Values JSON cannot spell (stored as null) and numbers beyond float range are not a traceback."""
    for value, number in ((None, False), (float("nan"), False), (10**400, False), (-(10**400), False), (1e308, True),
                          ("1", False), (True, False), (float("inf"), False), (-3, True)):  # fmt: skip
        good, notes = validate_blocks({"test": {"elbo": value, "reconstruction": 1, "kl": 1, "bits_per_dim_bound": 1}})
        assert ("test" in good) == number, (value, notes)
