"""A hostile corpus (issue 14) over every command but `train`: damaged and truncated run files, mutated
metrics.json blocks, absurd numbers, hostile --out targets, symlinked subfolders, split names shadowed
by folders, and commands run at once. Each case runs on a fresh copy of a small run and is classified:

  ok           exit 0
  clean error  exit 2 with one line "vaelab CMD: error: ..." and no traceback
  traceback    any other exception, exit status, or a traceback on stderr
  hang         no answer within --hang seconds
  data lost    a file the command does not own changed or vanished (in the run or outside it), or a
               block of metrics.json the command does not write changed or vanished

Usage:  python bench/hostile_corpus.py [--quick] [--hang 60] [--mutations 60]
It prints the counts per group and in all, and every case that was not ok or a clean error.
Commands run in this process (fast, and a hang is interrupted by SIGALRM); commands at once run
as processes of their own. The runs are tiny (1 epoch on 120 digits, a 150-row table, 2 short
series), so the corpus measures robustness, never quality.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line  # noqa: E402

from vaelab.cli import main  # noqa: E402

FAST = ["--epochs", "1", "--hidden", "8", "--latent-dim", "2", "--batch-size", "64", "--device", "cpu", "--quiet"]
# Files a command may change: its metrics block (checked block by block), caches, figures, the report.
OWNED_BY_COMMANDS = {"metrics.json", ".metrics.lock", "report.html", "calibration.safetensors", "classifier.safetensors"}
BLOCK_OF = {"score": "likelihood", "anomaly-eval": "anomaly", "inspect": "diagnostics", "compare-samplers": "samplers",
            "explore": "explore", "evaluate-synthetic": "synthetic"}  # fmt: skip
ALSO_WRITES = {"inspect": ("diagnostics_by_data",)}  # blocks a command writes beside its own (one entry per data spec)


# ------------------------------------------------------------------ the runs
def build_runs(root: Path, data: Path) -> dict[str, Path]:
    """One run of each kind with every block of metrics.json filled (so every cache and figure exists);
    their data in ``data``."""
    from sklearn.datasets import load_digits

    from vaelab.data.table_demo import make_mixed_table
    from vaelab.data.timeseries import make_sine_panel

    d = load_digits()
    root, runs_root = data, root
    root.mkdir()
    np.save(root / "x.npy", (d.data[:120] / 16).astype(np.float32).reshape(-1, 1, 8, 8))
    np.save(root / "y.npy", d.target[:120])
    np.save(root / "outliers.npy", np.random.default_rng(0).random((20, 1, 8, 8), dtype=np.float32))
    make_mixed_table(150, seed=1).to_csv(root / "t.csv", index=False)
    df = make_sine_panel(n_series=2, length=40, n_features=2, seed=0)
    df.to_csv(root / "s.csv", index=False)
    df[df["id"] == 0].head(10).to_csv(root / "past.csv", index=False)
    runs = {k: runs_root / k for k in ("image", "table", "series")}
    scratch = runs_root / "build-out"  # what the commands filling the runs write (not beside the data)
    scratch.mkdir()
    quiet = contextlib.redirect_stdout(io.StringIO())
    with quiet, contextlib.redirect_stderr(io.StringIO()):
        for argv in (["train", root / "x.npy", "--labels", root / "y.npy", "--out", runs["image"]],
                     ["train", root / "t.csv", "--out", runs["table"], "--normalization", "standard"],
                     ["train", root / "s.csv", "--window", "6", "--horizon", "2", "--id", "id", "--time", "time",
                      "--out", runs["series"]]):  # fmt: skip
            assert main([str(a) for a in argv] + FAST) == 0, argv
        for kind, argvs in {"image": [c for c in COMMANDS["image"].values()], "table": [["evaluate-synthetic", "{run}"]],
                            "series": [["evaluate-synthetic", "{run}"]]}.items():  # fmt: skip
            for argv in argvs:
                assert main(fill(argv, runs[kind], root, scratch)) == 0, argv
    return runs


def fill(argv, run, data, out) -> list[str]:
    return [str(a).format(run=run, data=data, out=out) for a in argv]


# The commands of the corpus, cheap settings, per kind of run.
COMMANDS = {
    "image": {
        "score": ["score", "{run}", "--n-samples", "5", "--quiet"],
        "score file": ["score", "{run}", "{data}/x.npy", "--n-samples", "5", "--quiet", "--out", "{out}/s.csv"],
        "anomaly-eval": ["anomaly-eval", "{run}", "--outliers", "{data}/outliers.npy", "--n-samples", "5", "--quiet"],
        "inspect": ["inspect", "{run}"],
        "compare-samplers": ["compare-samplers", "{run}", "--samplers", "prior", "posterior", "--n", "12"],
        "sample": ["sample", "{run}", "--n", "4", "--out", "{out}/s.npy"],
        "traverse": ["explore", "{run}", "traverse", "--steps", "3"],
        "grid": ["explore", "{run}", "grid", "--n", "3"],
        "interpolate": ["explore", "{run}", "interpolate", "0", "1", "--steps", "3"],
        "arithmetic": ["explore", "{run}", "arithmetic", "0", "1", "--n-samples", "5"],
        "report": ["report", "{run}"],
    },
    "table": {
        "score": ["score", "{run}", "--n-samples", "5", "--quiet"],
        "sample": ["sample", "{run}", "--n", "4", "--out", "{out}/s.csv"],
        "evaluate-synthetic": ["evaluate-synthetic", "{run}"],
        "inspect": ["inspect", "{run}"],
        "report": ["report", "{run}"],
    },
    "series": {
        "score": ["score", "{run}", "--n-samples", "5", "--quiet"],
        "forecast": ["sample", "{run}", "--past", "{data}/past.csv", "--draws", "5", "--out", "{out}/f.csv"],
        "sample": ["sample", "{run}", "--n", "4", "--out", "{out}/s.csv"],
        "evaluate-synthetic": ["evaluate-synthetic", "{run}"],
        "report": ["report", "{run}"],
    },
}
FILES = {
    "image": ["config.json", "model.safetensors", "history.csv", "metrics.json", "split.npy", "train_state.safetensors",
              "calibration.safetensors", "classifier.safetensors"],
    "table": ["config.json", "model.safetensors", "metrics.json", "split.npy", "table.json", "table.safetensors"],
    "series": ["config.json", "model.safetensors", "metrics.json", "split.npy", "series.json", "series.safetensors",
               "forecast.safetensors"],
}  # fmt: skip


# ------------------------------------------------------------------ damage
def damage(path: Path, how: str, rng: random.Random, outside: Path) -> None:
    raw = path.read_bytes() if path.is_file() else b""
    if how == "missing":
        path.unlink()
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(raw[: max(1, len(raw) // 2)])
    elif how == "garbage":
        path.write_bytes(bytes(rng.getrandbits(8) for _ in range(max(16, min(len(raw), 4096)))))
    elif how == "bitflip":
        i = rng.randrange(len(raw))
        path.write_bytes(raw[:i] + bytes([raw[i] ^ (1 << rng.randrange(8))]) + raw[i + 1 :])
    elif how == "folder":
        path.unlink()
        path.mkdir()
    elif how == "fifo":
        path.unlink()
        os.mkfifo(path)
    elif how == "link-out":  # a link to a file outside the run (the victim must survive)
        victim = outside / f"victim-{path.name}"
        victim.write_bytes(raw)
        path.unlink()
        path.symlink_to(victim)
    else:
        raise ValueError(how)


DAMAGES = ["missing", "empty", "truncated", "garbage", "bitflip", "folder", "fifo", "link-out"]


# ------------------------------------------------------------------ one case
class Hang(Exception):
    pass


def _alarm(*_):
    raise Hang()


def snapshot(folder: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for root, dirs, names in os.walk(folder):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            p = os.path.join(root, name)
            rel = os.path.relpath(p, folder)
            if os.path.islink(p):
                out[rel] = "link:" + os.readlink(p)
            elif os.path.isfile(p):
                try:
                    out[rel] = open(p, "rb").read()
                except OSError as e:
                    out[rel] = f"unreadable:{e.errno}"
            else:
                out[rel] = "special"
    return out


def _finite(value):
    """NaN and infinities as null: JSON cannot spell them, and every writer stores them so."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _blocks(raw) -> dict | None:
    try:
        value = json.loads(raw) if isinstance(raw, bytes) else None
    except (ValueError, RecursionError):
        return None
    return _finite(value) if isinstance(value, dict) else None


def lost(before: dict, after: dict, command: str) -> list[str]:
    """What changed that the command does not own: files, or other commands' metrics blocks."""
    problems = []
    for rel, old in before.items():
        name = os.path.basename(rel)
        if rel.startswith(("figures/", "cache/")) or name in OWNED_BY_COMMANDS - {"metrics.json"}:
            continue
        if isinstance(old, str) and old.startswith("link:"):  # a link may be replaced; its target is watched as outside
            continue
        new = after.get(rel)
        if name == "metrics.json" and rel == "metrics.json":
            old_b, new_b = _blocks(old), _blocks(new) if new is not None else None
            if old_b is None:  # damaged: the command must leave it as it is (or refuse)
                if new != old:
                    problems.append("a damaged metrics.json was rewritten")
                continue
            if new_b is None:
                problems.append("metrics.json vanished or stopped being a JSON object")
                continue
            mine = {BLOCK_OF.get(command), *ALSO_WRITES.get(command, ())}
            gone = [k for k, v in old_b.items() if k not in mine and new_b.get(k) != v]
            if gone:
                problems.append(f"metrics.json blocks {gone} changed or vanished")
            continue
        if new != old:
            problems.append(f"{rel} {'vanished' if new is None else 'changed'}")
    return problems


def run_case(argv: list[str], watch: list[Path], command: str, hang_s: int) -> tuple[str, str]:
    """(outcome, detail) of one command, in this process."""
    before = {str(w): snapshot(w) for w in watch}
    err = io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(hang_s)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as e:  # argparse
                code = e.code
    except Hang:
        return "hang", f"no answer after {hang_s} s"
    except BaseException as e:  # noqa: BLE001 - anything escaping main is a traceback the user would see
        return "traceback", f"{type(e).__name__}: {str(e)[:300]}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    problems = [p for w in watch for p in lost(before[str(w)], snapshot(w), command)]
    text = err.getvalue()
    errors = [line for line in text.splitlines() if ": error:" in line]
    if problems:
        return "data lost", "; ".join(problems)
    if "Traceback" in text or code not in (0, 2) or (code == 2 and len(errors) != 1):
        return "traceback", f"exit {code}: {text.strip()[-300:]}"
    return ("ok", "") if code == 0 else ("clean error", errors[0][:200])


# ------------------------------------------------------------------ the corpus
def mutate(value, rng: random.Random, depth: int = 0):
    """One node of a JSON value replaced, a key dropped or added, or a type changed."""
    odd = [None, True, -1, 0, 2**63, 1e308, "x", "", [], {}, [1, "a"], {"a": None}, "../../etc/passwd", float("nan")]
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(sorted(value))
        out = dict(value)
        action = rng.choice(["descend", "descend", "descend", "drop", "add"])
        if action == "drop":
            del out[key]
        elif action == "add":
            out[rng.choice(["surprise", "/../x", "_summary", "figure"])] = rng.choice(odd)
        else:
            out[key] = mutate(value[key], rng, depth + 1)
        return out
    if isinstance(value, list) and value and rng.random() < 0.7:
        i = rng.randrange(len(value))
        return value[:i] + [mutate(value[i], rng, depth + 1)] + value[i + 1 :]
    return rng.choice(odd)


def cases(runs: dict[str, Path], data: Path, quick: bool, n_mutations: int, seed: int = 0):
    """(group, name, kind, setup(run, outside, out) -> argv or None, command key)."""
    rng = random.Random(seed)
    kinds = ["image"] if quick else ["image", "table", "series"]
    # 1. damaged run files x commands
    for kind in kinds:
        for file in FILES[kind]:
            for how in (DAMAGES[:4] if quick else DAMAGES):
                for key, argv in COMMANDS[kind].items():
                    def setup(run, outside, out, file=file, how=how, argv=argv, r=random.Random(rng.random())):
                        damage(run / file, how, r, outside)
                        return fill(argv, run, data, out)

                    yield "damaged files", f"{kind} {file} {how} | {key}", kind, setup, argv[0]
    # 2. metrics.json mutated (valid JSON) x the commands that read or merge blocks
    base = json.loads((runs["image"] / "metrics.json").read_text())
    readers = ["report", "compare-samplers", "traverse", "inspect", "score"]
    for i in range(n_mutations // (4 if quick else 1)):
        mutated = mutate(mutate(base, rng) if rng.random() < 0.5 else base, rng)
        for key in readers:
            def setup(run, outside, out, mutated=mutated, key=key):
                (run / "metrics.json").write_text(json.dumps(mutated, allow_nan=True))
                return fill(COMMANDS["image"][key], run, data, out)

            yield "metrics.json blocks", f"mutation {i} | {key}", "image", setup, COMMANDS["image"][key][0]
    # 3. absurd numbers
    absurd = ["0", "-1", "-9", "2147483648", "4294967296", str(2**63), str(2**64), str(10**12), "100000000", "1e12",
              "nan", "inf", "-inf", "1e308", "1e-320", "0.5", "1_000", " 7", "0x10", ""]  # fmt: skip
    options = [("score", ["score", "{run}", "--quiet", "--n-samples"]), ("score", ["score", "{run}", "--quiet", "--threshold"]),
               ("score", ["score", "{run}", "--quiet", "--n-samples", "3", "--chunk-size"]),
               ("score", ["score", "{run}", "--quiet", "--n-samples", "3", "--band", "5"]),
               ("anomaly-eval", ["anomaly-eval", "{run}", "--outliers", "val", "--quiet", "--n-samples"]),
               ("inspect", ["inspect", "{run}", "--seed"]), ("inspect", ["inspect", "{run}", "--active-threshold"]),
               ("compare-samplers", ["compare-samplers", "{run}", "--samplers", "prior", "--n"]),
               ("compare-samplers", ["compare-samplers", "{run}", "--samplers", "prior", "--n", "12", "--seed"]),
               ("sample", ["sample", "{run}", "--out", "{out}/s.npy", "--n"]),
               ("sample", ["sample", "{run}", "--out", "{out}/s.npy", "--n", "3", "--seed"]),
               ("explore", ["explore", "{run}", "traverse", "--steps"]), ("explore", ["explore", "{run}", "traverse", "--span"]),
               ("explore", ["explore", "{run}", "traverse", "--dims"]), ("explore", ["explore", "{run}", "grid", "--n"]),
               ("explore", ["explore", "{run}", "grid", "--dims", "0"]),
               ("explore", ["explore", "{run}", "interpolate", "0", "1", "--steps"]),
               ("explore", ["explore", "{run}", "interpolate", "0"]),
               ("explore", ["explore", "{run}", "arithmetic", "0", "1", "--n-samples"]),
               ("explore", ["explore", "{run}", "arithmetic", "0", "1", "--n-samples", "3", "--seed"])]  # fmt: skip
    for command, argv in options:
        for value in absurd[: 8 if quick else None]:
            def setup(run, outside, out, argv=argv, value=value):
                return fill(argv, run, data, out) + [value]

            yield "absurd numbers", f"{' '.join(argv[2:])} {value!r}", "image", setup, command
    if not quick:
        for kind, argv in (("table", ["evaluate-synthetic", "{run}", "--n"]), ("series", ["evaluate-synthetic", "{run}", "--n"]),
                           ("series", ["sample", "{run}", "--past", "{data}/past.csv", "--out", "{out}/f.csv", "--draws"]),
                           ("table", ["evaluate-synthetic", "{run}", "--seed"])):  # fmt: skip
            for value in absurd:
                def setup(run, outside, out, argv=argv, value=value):
                    return fill(argv, run, data, out) + [value]

                yield "absurd numbers", f"{kind} {' '.join(argv[2:])} {value!r}", kind, setup, argv[0]
    # 4. hostile --out
    targets = {"the run's split.npy": lambda run, outside, out: run / "split.npy",
               "the run's config.json": lambda run, outside, out: run / "config.json",
               "the run's metrics.json": lambda run, outside, out: run / "metrics.json",
               "a figure of the run": lambda run, outside, out: run / "figures" / "reconstructions.png",
               "a FIFO": lambda run, outside, out: _fifo(outside / "pipe"),
               "a folder": lambda run, outside, out: outside,
               "under a file": lambda run, outside, out: _file(outside / "afile") / "x.npy",
               "a link to the run's model": lambda run, outside, out: _link(outside / "model-link.npy", run / "model.safetensors"),
               "/dev/null": lambda run, outside, out: Path(os.devnull)}  # fmt: skip
    for what, target in targets.items():
        for key, argv in (("sample", ["sample", "{run}", "--n", "3", "--out"]),
                          ("score", ["score", "{run}", "--n-samples", "3", "--quiet", "--out"]),
                          ("report", ["report", "{run}", "--out"])):  # fmt: skip
            def setup(run, outside, out, argv=argv, target=target):
                return fill(argv, run, data, out) + [str(target(run, outside, out))]

            yield "hostile --out", f"{key} --out {what}", "image", setup, key
    # 5. subfolders that are links leading outside (figures/, cache/): nothing written or deleted through them
    for folder in ("figures", "cache"):
        for key, argv in COMMANDS["image"].items():
            def setup(run, outside, out, folder=folder, argv=argv):
                target = outside / f"linked-{folder}"
                target.mkdir()
                (target / "traversals.png").write_bytes(b"precious")
                (target / ".x.abcd1234.tmp").write_bytes(b"named like a temporary file")
                shutil.rmtree(run / folder, ignore_errors=True)
                (run / folder).symlink_to(target, target_is_directory=True)
                return fill(argv, run, data, out)

            yield "linked subfolders", f"{folder} -> outside | {key}", "image", setup, argv[0]
    # 6. split names shadowed by files or folders in the working directory; odd example specs
    for spec in ("test", "val", "train"):
        for key, argv in (("score", ["score", "{run}", spec, "--n-samples", "3", "--quiet"]),
                          ("inspect", ["inspect", "{run}", spec])):  # fmt: skip
            def setup(run, outside, out, spec=spec, argv=argv):
                (Path.cwd() / spec).mkdir(exist_ok=True)
                return fill(argv, run, data, out)

            yield "data specs", f"./{spec} exists | {key} {spec}", "image", setup, key
    for a in ("test:999999", "-1", "test:-1", "val:", ":0", "nosuchfile:3", "{data}/x.npy:500", "{data}/y.npy",
              "{data}", "9" * 40, "train:" + "9" * 40, "{data}/t.csv"):  # fmt: skip
        def setup(run, outside, out, a=a):
            return fill(["explore", "{run}", "interpolate", a, "0", "--steps", "3"], run, data, out)

        yield "data specs", f"example {a!r}", "image", setup, "explore"


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _file(path: Path) -> Path:
    path.write_bytes(b"a file")
    return path


def _link(path: Path, target: Path) -> Path:
    path.symlink_to(target)
    return path


# ------------------------------------------------------------------ commands at once
def concurrent_cases(runs: dict[str, Path], data: Path, scratch: Path, rounds: int) -> list[tuple[str, str]]:
    """Pairs and quadruples of commands on one run at once (processes): every block each wrote is there."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
    sets = [["traverse", "grid"], ["traverse", "grid", "interpolate", "inspect"], ["score", "anomaly-eval"],
            ["compare-samplers", "grid"]]  # fmt: skip
    results = []
    for r in range(rounds):
        for keys in sets:
            run = scratch / f"c{r}-{'-'.join(keys)}"
            shutil.copytree(runs["image"], run)
            metrics = json.loads((run / "metrics.json").read_text())
            for key in keys:  # each command's block (or explore entry) is removed first: each must come back
                block = BLOCK_OF[COMMANDS["image"][key][0]]
                if block == "explore":
                    metrics["explore"].pop({"traverse": "traverse", "grid": "grid", "interpolate": "interpolate"}[key])
                else:
                    metrics.pop(block, None)
            (run / "metrics.json").write_text(json.dumps(metrics))
            procs = [subprocess.Popen([sys.executable, "-m", "vaelab", *fill(COMMANDS["image"][k], run, data, scratch)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for k in keys]  # fmt: skip
            errs = [p.communicate(timeout=600)[1] for p in procs]
            after = json.loads((run / "metrics.json").read_text())
            missing = [k for k in keys if (k in ("traverse", "grid", "interpolate") and k not in after.get("explore", {}))
                       or (k not in ("traverse", "grid", "interpolate") and BLOCK_OF[COMMANDS["image"][k][0]] not in after)]  # fmt: skip
            name = f"round {r}: {' + '.join(keys)}"
            if any("Traceback" in e for e in errs) or any(p.returncode not in (0, 2) for p in procs):
                results.append((name, "traceback"))
            elif missing:
                results.append((name, "data lost"))
            else:
                results.append((name, "ok" if all(p.returncode == 0 for p in procs) else "clean error"))
    return results


def main_(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a small corpus (image run only, fewer damages)")
    p.add_argument("--hang", type=int, default=180,
                   help="seconds after which a command counts as hung (a shared, loaded machine needs many)")
    p.add_argument("--mutations", type=int, default=60, help="mutated metrics.json per reading command")
    p.add_argument("--rounds", type=int, default=3, help="rounds of commands at once")
    args = p.parse_args(argv)
    print(machine_line())
    start = time.perf_counter()
    counts: dict[str, Counter] = defaultdict(Counter)
    bad: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="vaelab-hostile-") as tmp:
        root = Path(tmp)
        data = root / "data"
        runs = build_runs(root, data)
        home = os.getcwd()
        for i, (group, name, kind, setup, command) in enumerate(cases(runs, data, args.quick, args.mutations)):
            case = root / f"case{i}"
            case.mkdir()
            work, outside, out = case / "cwd", case / "outside", case / "out"
            for f in (work, outside, out):
                f.mkdir()
            run = case / "run"
            shutil.copytree(runs[kind], run, symlinks=True)
            os.chdir(work)
            try:
                argv_ = setup(run, outside, out)
                outcome, detail = run_case(argv_, [run, outside, data], command, args.hang)
            finally:
                os.chdir(home)
            counts[group][outcome] += 1
            if outcome not in ("ok", "clean error"):
                bad.append((group, name, outcome, detail))
            shutil.rmtree(case, ignore_errors=True)
        for name, outcome in concurrent_cases(runs, data, root, args.rounds) if not args.quick else []:
            counts["commands at once"][outcome] += 1
            if outcome not in ("ok", "clean error"):
                bad.append(("commands at once", name, outcome, ""))
    total = Counter()
    print(f"\n{'group':<22} {'cases':>6} {'ok':>6} {'clean error':>12} {'traceback':>10} {'hang':>5} {'data lost':>10}")
    for group, c in counts.items():
        total.update(c)
        print(f"{group:<22} {sum(c.values()):>6} {c['ok']:>6} {c['clean error']:>12} {c['traceback']:>10} {c['hang']:>5} "
              f"{c['data lost']:>10}")  # fmt: skip
    print(f"{'all':<22} {sum(total.values()):>6} {total['ok']:>6} {total['clean error']:>12} {total['traceback']:>10} "
          f"{total['hang']:>5} {total['data lost']:>10}   ({time.perf_counter() - start:.0f} s)")  # fmt: skip
    for group, name, outcome, detail in bad:
        print(f"  {outcome}: [{group}] {name}: {detail}")


if __name__ == "__main__":
    main_()
