"""Generation from a run folder: ``vaelab compare-samplers`` and ``vaelab sample``.

Every sampler draws codes z (the prior, posteriors of given inputs, or a density
fitted to the training codes); the decoder turns them into data. The comparison
measures each sampler's samples against the run's held-out test split in one
feature space — a domain classifier trained on the run's labelled training split
(cached in ``RUN/classifier.safetensors``), or PCA when there are no labels (of the
standardized columns for vectors) — each metric with a half-sampling interval, and says
which sampler to use for this model, or that there is no clear winner. ``sample`` writes
generated data in the user's units, as the run's kind writes it (arrays, table rows,
series windows).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np
from threadpoolctl import threadpool_limits

from vaelab.analysis.comparison import (
    REPLICATES,
    best_of,
    fmt_interval,
    interval_settings,
    quality_with_intervals,
)
from vaelab.analysis.aggregate import subsample
from vaelab.analysis.quality import (
    FeatureSpace,
    class_distribution,
    classifier_state,
    knn_convention,
    load_classifier,
    memorization,
    nearest_distances,
    new_classifier,
    pca_features,
    train_classifier,
)
from vaelab.analysis.samplers import SAMPLERS, generate
from vaelab.analysis.table_generation import check_table_temperature
from vaelab.checkpoint import CLASSIFIER, WEIGHTS_DIGEST, stale_names
from vaelab.config import AUTO, check_count, check_measured_count, check_seed
from vaelab.data.rows import is_lazy
from vaelab.errors import ConfigError, DataError, RunError
from vaelab.metrics_schema import FRECHET_NOTE
from vaelab.report.figures import sampler_grids
from vaelab.runs.run import Run, Specs
from vaelab.runtime import most_in_memory, one_thread

METRICS = ("frechet", "precision", "recall", "density", "coverage")  # the contract of the samplers block
MAX_REPLICATES = 1000  # half-samples per interval
MIN_TEST = 10  # test examples a sampler comparison needs
# What keeps a comparison's cost from growing with the data (each a seeded subsample beyond it):
MAX_REAL = 5000  # test examples the samples are compared with, and the default samples per sampler
MAX_CLASSIFIER_TRAIN = 5000  # training examples the domain classifier learns from (its accuracy: on the test ones)
ASSESS_WORKERS = 2  # samplers whose samples are measured side by side (one OpenMP thread each)
MAX_MEMORIZATION = 1000  # generated and test examples whose nearest training example is searched (in all of them)


def feature_space(run: Run, parts: dict, seed: int = 0) -> FeatureSpace:
    """The run's domain classifier (trained once on the labelled training split, then read
    from the run); without labels, PCA of the training split: of the pixels for images, of the
    standardized columns for vectors (a table's encoded columns, series windows, readings), so
    that no column dominates the distances by its units."""
    space = known_feature_space(run, parts, seed)
    return space if isinstance(space, FeatureSpace) else space()


def known_feature_space(run: Run, parts: dict, seed: int = 0) -> FeatureSpace | Callable[[], FeatureSpace]:
    """:func:`feature_space` when it is at hand (PCA, or the classifier cached in the run); else the
    classifier's training, to call (its network and the generator of its batch order drawn here,
    so the call touches no global RNG and may run on a thread beside other seeded work)."""
    rng = np.random.default_rng(seed)
    train, test = parts["train"], parts["test"]
    train = train.subset(subsample(train.n_examples, MAX_CLASSIFIER_TRAIN, rng))
    test = test.subset(subsample(test.n_examples, MAX_REAL, rng))
    if train.y is None:
        vectors = len(run.model.input_shape_) == 1
        return FeatureSpace(pca_features(train.X, seed=seed, standardize=vectors))
    # The classifier depends on the run's data (not on the VAE's weights): keyed on its fingerprint.
    fingerprint = run.config.data.fingerprint
    # Its test accuracy on the test examples of classes it learns: one no training example it is given holds (a
    # conditional table run's condition value only held-out rows hold) can never be predicted, and was counted as
    # wrong (an audit, s12 f: 0.63 for 0.95 on the classes it learned, a third of the test rows of such a class).
    # Cached classifiers of such a run from before it are stale ("accuracy").
    learnt = np.flatnonzero(np.isin(test.y, train.y))
    key = {"accuracy": "learnt classes"} if learnt.size < test.n_examples else {}
    if run.dir.file(CLASSIFIER).is_file():
        try:
            arrays, metadata = run.dir.read_arrays(CLASSIFIER)
            if metadata.get("data_fingerprint", fingerprint) == fingerprint and all(metadata.get(k) == v
                                                                                    for k, v in key.items()):
                return FeatureSpace(load_classifier(arrays, metadata))
        except RunError:
            pass  # a damaged cache (a failed checksum too) is trained again and overwritten
    start = new_classifier(tuple(train.X.shape[1:]), train.n_classes, seed=seed)
    judged = test.subset(learnt) if learnt.size else test

    def trained() -> FeatureSpace:
        clf, _ = train_classifier(train.X, train.y, judged.X, judged.y, train.n_classes, seed=seed, start=start)
        if not learnt.size:
            clf.test_accuracy = None  # no test example of a class it learned: not measured
        tensors, metadata = classifier_state(clf)
        run.dir.write_arrays(CLASSIFIER, {k: v.detach().cpu().numpy() for k, v in tensors.items()},
                             {**metadata, "data_fingerprint": fingerprint, **key})
        return FeatureSpace(clf)

    return trained


def features_and_samplers(run: Run, parts: dict, names: tuple[str, ...], seed: int,
                          progress=None) -> tuple[FeatureSpace, dict[str, Any]]:  # fmt: skip
    """:func:`feature_space` and :func:`fit_samplers`. A classifier to train trains on one OpenMP
    thread of its own while the density fits run one after the other on the other core (fitted
    side by side as well, their Python steps would hold the interpreter by turns): the same
    classifier and fits as made alone, bit for bit, with the classifier on one thread (its weights
    and batch order from its own generator, drawn before the fits start; the fits seed their own)."""
    space = known_feature_space(run, parts, seed)
    if isinstance(space, FeatureSpace):
        return space, fit_samplers(run, names, seed, progress)

    def train() -> FeatureSpace:
        with one_thread("openmp"):  # this thread's torch products (BLAS: the fits' limit below holds for both)
            return space()

    with ThreadPoolExecutor(max_workers=1) as pool:
        training = pool.submit(train)
        with threadpool_limits(limits=1):
            fitted = fit_samplers(run, names, seed, progress, side_by_side=False)
        return training.result(), fitted


def fit_samplers(run: Run, names: tuple[str, ...], seed: int, progress=None,
                 side_by_side: bool = True) -> dict[str, Any]:  # fmt: skip
    """Each sampler fitted to the run (:meth:`Run.sampler`). The two density fits (a Gaussian
    mixture by EM, a flow by Adam) are each made on one thread, so they run side by side: the
    same fits as one after the other (each seeded on its own generator: NumPy's for the mixture,
    torch's for the flow, which nothing else draws from meanwhile), in about the time of the longer;
    ``side_by_side`` False: one after the other (the caller keeps the other core busy)."""
    dense = [k for k in names if k in ("aggregate-gmm", "aggregate-flow")]
    fitted: dict[str, Any] = {}
    if len(dense) == 2 and side_by_side:
        if progress:
            progress(" and ".join(dense))
        # One BLAS/OpenMP thread around both, so neither fit's exit hands the other more threads.
        with threadpool_limits(limits=1), ThreadPoolExecutor(max_workers=2) as pool:
            futures = {k: pool.submit(run.sampler, k, seed) for k in dense}
            fitted.update({k: f.result() for k, f in futures.items()})
    for name in names:
        if name not in fitted:
            if progress:
                progress(name)
            fitted[name] = run.sampler(name, seed)
    return {name: fitted[name] for name in names}


def comparison_splits(run: Run) -> dict:
    """The run's splits, refused when the test split is too small to compare samplers on."""
    parts = run.splits(lazy=True)  # a large file stays where it is: what is used is read
    if parts["test"].n_examples < MIN_TEST:
        raise DataError(f"Comparing samplers needs a test split of at least {MIN_TEST} examples; this run has "
                        f"{parts['test'].n_examples}.")  # fmt: skip
    return parts


def compare_samplers(run_path: str | os.PathLike, *, samplers: tuple[str, ...] = SAMPLERS, n: int | None = None,
                     seed: int = 0, replicates: int = REPLICATES, progress=None,
                     specs: Specs | None = None) -> dict[str, Any]:  # fmt: skip
    """Every sampler x every metric (each with a half-sampling interval) against the run's test split;
    sets these samplers' entries of the ``samplers`` block (others compared earlier stay, each with the
    n and seed it was measured with)."""
    for name in samplers:
        if name not in SAMPLERS:
            raise ConfigError(f"Unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}.")
    if not samplers:
        raise ConfigError(f"Name at least one sampler; choose from {', '.join(SAMPLERS)}.")
    samplers = tuple(dict.fromkeys(samplers))
    check_seed(seed)
    check_count("--replicates", replicates, MAX_REPLICATES, "each replicate recomputes every metric on two "
                "halves, and an interval's ends are settled long before this")  # fmt: skip
    if replicates < 2:
        raise ConfigError(f"--replicates must be at least 2 (half-samples per interval); got {replicates}.")
    run = Run(run_path, specs)
    run.check_folders()
    if n is not None:  # 0 is refused, not read as "the default"
        check_count("--n", n, most_in_memory(32 * run.n_features), "that many samples per sampler (and their "
                    "features) would not fit in memory")  # fmt: skip
    model = run.model
    parts = comparison_splits(run)
    rng = np.random.default_rng(seed)
    test_all = parts["test"]
    test = test_all.subset(subsample(test_all.n_examples, MAX_REAL, rng))  # all of it up to MAX_REAL
    n = test.n_examples if n is None else check_measured_count("--n", n, test.n_examples)
    features, fitted = features_and_samplers(run, parts, samplers, seed, progress)
    real = features.transform(test.X)
    real_classes = features.classify(real) if features.kind == "classifier" else None
    train_x = parts["train"].X  # a memory map or Rows is searched block by block (flattened per block)
    flat_train = train_x if is_lazy(train_x) else train_x.reshape(parts["train"].n_examples, -1)
    memo = subsample(test.n_examples, MAX_MEMORIZATION, rng)
    flat_test = test.X[memo].reshape(memo.size, -1)
    # Conditional models generate class by class in the test split's proportions; a class no training example holds
    # (a conditional table run's condition only held-out rows hold) is never generated with, as sample refuses it:
    # its test rows count as the class they are scored given (an audit, s11 c).
    y_gen, given = None, run.kind.given_trained(test)
    if model.classes_ is not None:
        y_gen = rng.choice(run.model_labels(given), size=n, replace=True)
    # Samples as the run's kind gives them (`vaelab sample`): decoder means for images and series,
    # draws for table rows (a mean row has category probabilities, not categories).
    mean = run.kind_class.decodes_mean

    # The posterior sampler decodes each training input's draws with that input's own label (y None): decoded with
    # y_gen, most of a conditional model's "reconstructions" came out of another class (an audit, s12 f).
    generated = {name: generate(model, fitted[name], n, y=None if name == "posterior" else y_gen, mean=mean, seed=seed)
                 for name in samplers}  # fmt: skip
    # Draws are independent: each sampler's first ones are searched for their nearest training
    # example, with the test examples, in one pass over the training split (the largest array here).
    fakes = {name: X[:MAX_MEMORIZATION].reshape(min(n, MAX_MEMORIZATION), -1) for name, X in generated.items()}
    cache: dict = {}  # the test split's k-NN radii (and its halves'), shared by the samplers

    def alone(fn: Callable, *args: Any) -> Any:
        # Each task on one OpenMP thread of its own, two side by side: the Python steps of one
        # overlap the products of the other. No number depends on it: every distance that decides
        # a k-NN ball or a nearest neighbour is exact, and the BLAS here runs on one thread anyway.
        with one_thread("openmp"):
            return fn(*args)

    def assess(X_gen: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
        fake_features = features.transform(X_gen)
        return quality_with_intervals(real, fake_features, replicates=replicates, seed=seed, cache=cache), fake_features

    # BLAS limited here, around both threads: a limit is process-wide, and one set and undone in each
    # thread would undo the other's.
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(max_workers=ASSESS_WORKERS) as pool:
        search = pool.submit(alone, nearest_distances, np.concatenate([flat_test, *fakes.values()]), flat_train)
        assessed = {name: pool.submit(alone, assess, X_gen) for name, X_gen in generated.items()}
        to_train = search.result()
        test_to_train, *fake_to_train = np.split(to_train, np.cumsum([memo.size, *map(len, fakes.values())])[:-1])
        block: dict[str, Any] = {}
        for (name, task), fake, fake_d in zip(assessed.items(), fakes.values(), fake_to_train):
            entry, fake_features = task.result()
            entry["memorization"] = memorization(flat_train, flat_test, fake, test_to_train=test_to_train,
                                                 fake_to_train=fake_d)  # fmt: skip
            if features.kind == "classifier":
                # against the classes the samples were drawn for (a conditional model's): a class no training row holds
                # is never drawn for, and was called a dropped class (an audit, s12 f)
                # against the classifier's predicted classes of the test examples, not their labels: its errors
                # counted as the generator's, and the test data themselves fed as a sampler got a TV of 0.067 (30 digits; an audit, s13)
                entry["classes"] = class_distribution(features.classify(fake_features), given.y, test.n_classes,
                                                      pred_real=real_classes)  # fmt: skip
            entry["sampler"] = fitted[name].to_dict()
            entry["n_samples"], entry["seed"] = n, seed
            block[name] = entry
    grids = {name: X_gen[:64] for name, X_gen in generated.items()}
    blocks = run.dir.read_blocks()[0]
    diagnostics = blocks.get("diagnostics")  # a damaged block counts as not measured
    # measured on the weights before train --resume changed them: not this model's (an audit, s12: its hole mass was
    # quoted beside the samplers of the new weights, in the table's note and the verdict)
    # (or on weights other than those compared here, whenever its command ended: an audit, s14)
    own = run.measured_with({}).get(WEIGHTS_DIGEST)
    stale = diagnostics is not None and ("diagnostics" in stale_names(blocks)
                                         or diagnostics.get(WEIGHTS_DIGEST, own) != own)  # fmt: skip
    aggregate = diagnostics["aggregate"] if diagnostics and not stale else {}
    hole, hole_se = aggregate.get("prior_hole_mass"), aggregate.get("prior_hole_mass_stderr")
    summary = {
        "features": features.description, "classifier_test_accuracy": features.test_accuracy, "n_samples": n,
        "n_real": test.n_examples, "n_test": test_all.n_examples, "knn": knn_convention(),
        "n_memorization": {"test": int(memo.size), "fake": min(n, MAX_MEMORIZATION)},
        "prior_hole_mass": hole, "samples": "decoder means" if mean else "draws from p(x|z)",
        "intervals": interval_settings(replicates), "verdict": verdict(block, hole, hole_se),
        "compared": list(block), **({"prior_hole_mass_stale": True} if stale else {}),
    }  # fmt: skip
    # each sampler's grid of samples written with its entry, under the run's lock: written by the CLI after this
    # returned, two comparisons at once could leave one's grids beside the other's entries (an audit, s14)
    figures = {run.figure(name): png for name, png in sampler_grids(grids).items()}
    run.merge_metrics("samplers", {**block, "_summary": summary}, files=figures)
    return {"samplers": block, "summary": summary, "grids": grids, "figures": list(figures), "model": model}


# Why the posterior sampler is shown but never chosen.
POSTERIOR_NOTE = ("posterior sampler is not a candidate: it decodes draws from q(z|x) of training inputs, so its "
                  "samples are reconstructions of the training data, not new data; it shows the best the decoder can "
                  "do and how close a generator could come")  # fmt: skip


# Precision and recall both below this: a sampler's samples lie outside the held-out data and cover almost none of it
UNUSABLE = 0.05


def verdict(block: dict[str, dict], hole: float | None, hole_stderr: float | None = None) -> str:
    """One line: which sampler to use for this model and why, or that the data cannot tell ("no clear
    winner") when the best sampler's Fréchet interval overlaps another's; with the numbers it rests on."""
    generators = [k for k in block if k != "posterior"]
    note = ""
    if "posterior" in block:
        note = f" The {POSTERIOR_NOTE} (Fréchet {fmt_interval(block['posterior'], 'frechet')})."
    if not generators:
        return (f"No generator was compared: the {POSTERIOR_NOTE} (Fréchet {fmt_interval(block['posterior'], 'frechet')})."
                " Compare prior, aggregate-gmm or aggregate-flow.")  # fmt: skip
    best, tied = best_of(block, generators)
    b = block[best]
    quality = (f"precision {fmt_interval(b, 'precision')}, recall {fmt_interval(b, 'recall')}")
    failed = [k for k in generators if all(block[k][m] < UNUSABLE for m in ("precision", "recall"))]
    if failed == generators:
        # The lowest Fréchet distance among samplers none of whose samples lies among the held-out data (precision)
        # and which cover none of it (recall) is the least bad, not a good one: "sample from prior" was recommended
        # with precision and recall 0.00 [0.00, 0.07] for every sampler (an audit, s12)
        each = "; ".join(f"{k} {fmt_interval(block[k], 'precision')} and {fmt_interval(block[k], 'recall')}"
                         for k in generators)  # fmt: skip
        return (f"No sampler is usable: every generator's precision and recall are below {UNUSABLE:g} ({each}), so "
                "almost none of its samples lies among the held-out data and they cover almost none of it; the "
                f"lowest Fréchet distance ({best}, {fmt_interval(b, 'frechet')}) marks the least bad, not a good one. "
                "The model does not generate data like its test data from any of them: train it further (more "
                f"epochs, a larger network) before choosing a sampler.{note}")  # fmt: skip
    if all(block[k]["recall"] < UNUSABLE and block[k]["coverage"] < UNUSABLE for k in generators):
        # samples among the held-out data (precision) near almost none of its examples (coverage) and covering almost
        # none of it (recall): they sit in a small part of it, as a collapsed model's do; "sample from prior, because
        # its samples are closest" was said of a model whose samples were all one digit, precision 1.00, recall 0.00
        # [0.00, 0.02], coverage 0.044 (an audit, s14). Recall alone is low for decoder means of a sound model too.
        each = "; ".join(f"{k} {fmt_interval(block[k], 'recall')} and {fmt_interval(block[k], 'coverage')}"
                         for k in generators)  # fmt: skip
        return (f"No sampler gives samples as varied as the data: every generator's recall and coverage are below "
                f"{UNUSABLE:g} ({each}), so its samples cover almost none of the held-out data and lie near fewer than "
                f"{UNUSABLE:.0%} of its examples, however close to it some lie ({best}: {quality}); they sit in a "
                "small part of it, as a collapsed model's do (vaelab inspect: how many latent units are active). The "
                "lowest Fréchet distance "
                f"({best}, {fmt_interval(b, 'frechet')}) marks the least bad, not a good one; train the model further "
                f"(a smaller --beta, more epochs) before choosing a sampler.{note}")  # fmt: skip
    if best in failed:  # the lowest Fréchet distance, but samples off the data where another's are not: no winner
        usable = [k for k in generators if k not in failed]
        return (f"No clear winner: {best} has the lowest Fréchet distance to held-out data, {fmt_interval(b, 'frechet')}, "
                f"but its precision and recall are below {UNUSABLE:g} ({quality}): almost none of its samples lies "
                f"among the held-out data, where those of {' and '.join(usable)} do ("
                + "; ".join(f"{k} precision {fmt_interval(block[k], 'precision')}, recall "
                            f"{fmt_interval(block[k], 'recall')}" for k in usable)
                + f"); the measures disagree, so look at the samples.{note}")  # fmt: skip
    varied = [k for k in generators if not (block[k]["recall"] < UNUSABLE and block[k]["coverage"] < UNUSABLE)]
    if best not in varied:  # the lowest Fréchet distance, but collapsed samples where another's are varied: no winner
        # "sample from prior" was said of a prior whose recall and coverage were below 0.05 beside an aggregate-gmm
        # whose were not (an audit, s14)
        return (f"No clear winner: {best} has the lowest Fréchet distance to held-out data, {fmt_interval(b, 'frechet')}, "
                f"but its recall and coverage are below {UNUSABLE:g} (recall {fmt_interval(b, 'recall')}, coverage "
                f"{fmt_interval(b, 'coverage')}): its samples cover almost none of the held-out data and lie near fewer "
                f"than {UNUSABLE:.0%} of its examples, as a collapsed model's do, where those of {' and '.join(varied)} "
                "do not ("
                + "; ".join(f"{k} recall {fmt_interval(block[k], 'recall')}, coverage "
                            f"{fmt_interval(block[k], 'coverage')}" for k in varied)
                + f"); the measures disagree, so look at the samples.{note}")  # fmt: skip
    if len(generators) == 1:
        return (f"Only {best} was compared as a generator: Fréchet {fmt_interval(b, 'frechet')} to held-out data, "
                f"{quality}; compare it with other samplers to choose.{note}")  # fmt: skip
    others = "; ".join(f"{k} {fmt_interval(block[k], 'frechet')}" for k in generators if k != best)
    frechet = lambda k: (block[k].get("intervals") or {}).get("frechet")  # noqa: E731
    if tied and (frechet(best) is None or any(frechet(k) is None for k in tied)):
        # too few samples for half-samples that hold a k-NN ball: no interval, so none "overlaps" (an audit)
        return (f"No clear winner: {best} has the lowest Fréchet distance to held-out data, "
                f"{fmt_interval(b, 'frechet')}, but there are too few samples for intervals, so these samples cannot "
                f"tell it from {' and '.join(tied)} ({others}); compare on more samples (--n) or more test "
                f"data.{note}")  # fmt: skip
    if tied:
        return (f"No clear winner: {best} has the lowest Fréchet distance to held-out data, "
                f"{fmt_interval(b, 'frechet')}, but the 95% interval{'s' if len(tied) > 1 else ''} of "
                f"{' and '.join(tied)} overlap{'' if len(tied) > 1 else 's'} it ({others}), so these samples cannot "
                f"tell them apart; compare on more samples (--n) or more test data.{note}")  # fmt: skip
    why = (f"its samples are closest to held-out data (Fréchet {fmt_interval(b, 'frechet')} against {others}; "
           f"the 95% intervals do not overlap; {quality})")
    holes = "" if hole is None else f"{100 * hole:.1f}%" + ("" if hole_stderr is None else f" ± {100 * hole_stderr:.1f}%")
    if hole is not None and best != "prior" and hole > 0.05:
        why += f", and {holes} of prior draws fall into holes of the aggregate posterior (vaelab inspect)"
    elif hole is not None and best != "prior":
        why += f"; the prior is mostly covered (hole mass {holes}), the gain is in matching the codes' shape"
    return f"For this model, sample from {best}, because {why}.{note}"


def markdown_table(block: dict[str, dict], summary: dict) -> str:
    """Every sampler x every metric with its interval, for stdout."""
    hole = summary.get("prior_hole_mass")
    head = "| sampler | Fréchet ↓ | precision ↑ | recall ↑ | density ↑ | coverage ↑ | class TV ↓ | nearest-train ratio |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m in block.items():
        tv = m.get("classes", {}).get("total_variation")
        ratio = m["memorization"].get("ratio")
        cells = " | ".join(fmt_interval(m, k, 2 if k == "frechet" else 3) for k in METRICS)
        lines.append(f"| {name} | {cells} | {'-' if tv is None else f'{tv:.3f}'} | {'-' if ratio is None else f'{ratio:.2f}'} |")
    note = [f"features: {summary['features']}"]
    if summary.get("classifier_test_accuracy") is not None:
        note.append(f"classifier test accuracy {summary['classifier_test_accuracy']:.3f}")
    if any((m.get("classes") or {}).get("compared_with") == "predicted classes of real data" for m in block.values()):
        note.append("class TV: the classifier's predicted classes of the samples against those of the test examples")
    n_test = summary.get("n_test", summary["n_real"])
    note.append(f"{summary['n_samples']} samples per sampler ({summary.get('samples', 'decoder means')}) vs "
                f"{summary['n_real']} test examples" + (f" (a seeded subsample of {n_test})" if n_test > summary["n_real"] else ""))
    iv = summary.get("intervals")
    if iv and all((m.get("intervals") or {}).get("frechet") is None for m in block.values()):
        note.append("[intervals]: none, too few samples for half-samples that hold a k-NN ball")
    elif iv:
        note.append(f"[intervals]: {100 * iv['level']:.0f}%, {iv['method']}, {iv['replicates']} half-samples")
    note.append(FRECHET_NOTE)
    knn = summary.get("knn")
    if knn:
        note.append(f"k-NN balls: k = {knn['k_precision_recall']} (precision/recall), {knn['k_density_coverage']} "
                    f"(density/coverage), {knn['balls']} (an edge point is outside, as in prdc)")
    note.append("prior-hole mass " + ("not measured on these weights (vaelab inspect measured it before train --resume "
                                      "changed them: run it again)" if summary.get("prior_hole_mass_stale") else
                                      "not measured (run vaelab inspect)" if hole is None else f"{hole:.3f}"))  # fmt: skip
    return "\n".join(lines) + "\n" + "; ".join(note)


def sample_to_file(run_path: str | os.PathLike, n: int, out: str | os.PathLike, *, sampler: str | None = None,
                   label: str | None = None, draw: bool = False, seed: int = 0, specs: Specs | None = None,
                   given: Any = None) -> Path:  # fmt: skip
    """Write n generated examples in the user's units, as the run's kind writes them: .npy, a .png
    grid or .csv for arrays; .csv or .parquet for table rows; a long table or .npy for series windows.
    ``given`` fixes columns of a table run's rows (``["region=north"]``); see :func:`sample_given`."""
    return sample_given(run_path, n, out, sampler=sampler, label=label, draw=draw, seed=seed, specs=specs,
                        given=given)[0]  # fmt: skip


def sample_given(run_path: str | os.PathLike, n: int, out: str | os.PathLike, *, sampler: str | None = None,
                 label: str | None = None, draw: bool = False, seed: int = 0, specs: Specs | None = None,
                 given: Any = None, temperature: float | str = AUTO,
                 ) -> tuple[Path, dict[str, Any] | None, dict[str, Any]]:  # fmt: skip
    """:func:`sample_to_file`, and for rows with fixed values how they were made (the generator, its draws)
    and how each other column matches the real training rows that hold the same values: the KS complement
    (numeric, dates) or TV complement (categories, booleans) per column, as SDMetrics computes them; and how
    the rows were drawn: ``{"sampler": ..., "temperature": {...} (table runs: the temperature and why) or None,
    "what": " (decoder means E[x|z])", " (draws from p(x|z))" or "" (a table's rows, always draws)}``.
    ``sampler`` None is the run kind's default (aggregate-gmm for tables, else prior)."""
    check_count("--n", n)
    check_seed(seed)
    check_table_temperature(temperature)
    run = Run(run_path, specs)
    sampler = sampler or run.kind.default_sampler
    check_count("--n", n, most_in_memory(16 * run.n_features), "that many examples would not fit in memory")
    out = run.check_output(out)  # a file the kind cannot write, or one of a run's own, is refused before any work
    run.kind.check_output(out)
    model = run.model
    if run.kind.name != "table":  # a table run maps --class to its condition, or refuses it, itself
        if given is not None:
            raise ConfigError(f"--given fixes columns of a table run's rows; this is {run.kind.description}. Drop it.")
        if model.classes_ is not None and label is None and sampler != "posterior":
            raise ConfigError(f"This model is conditional: choose a class with --class (one of {model.classes_.tolist()}), "
                              "or draw with --sampler posterior, whose draws are decoded with their inputs' own "
                              "classes.")  # fmt: skip
        if model.classes_ is None and label is not None:
            raise ConfigError("--class needs a conditional model (trained or adopted with --conditional).")
    data = run.synthesize(n, sampler=sampler, seed=seed, draw=draw, label=label, given=given, temperature=temperature)
    generation = getattr(data, "attrs", {}).get("generation")  # set by a table run's kind for fixed values
    if generation is not None:
        generation = {**generation, "columns": run.kind.given_fidelity(run, data, generation["given"])}
    # what each sample is, where the kind decodes means unless a draw is asked for (a table's rows are always draws)
    what = "" if not run.kind.decodes_mean else " (draws from p(x|z))" if draw else " (decoder means E[x|z])"
    # the posterior sampler's codes are training inputs': decoded with their own classes, or all as --class (an audit)
    if model.classes_ is not None and sampler == "posterior":
        what += (f" (codes of training inputs of any class, each decoded as class {label})" if label is not None
                 else " (each training input's code decoded with that input's own class)")
    title = f"{n} samples from {sampler}" + (f", class {label}" if label else "") + what
    drawn = {"sampler": sampler, "temperature": getattr(data, "attrs", {}).get("temperature"), "what": what}
    return run.kind.write(data, out, title=title), generation, drawn


def forecast_to_file(run_path: str | os.PathLike, past: str | os.PathLike, draws: int, out: str | os.PathLike, *,
                     seed: int = 0) -> tuple[Path, Path | None, str]:  # fmt: skip
    """``draws`` futures given the last rows of ``past`` (series runs; see the series kind's ``forecast``): the file,
    its figure (or None) and a note when the past lies outside the training windows' range ("" otherwise)."""
    check_count("--draws", draws)
    check_seed(seed)
    run = Run(run_path)
    check_count("--draws", draws, most_in_memory(16 * run.n_features), "that many futures would not fit in memory")
    out = run.check_output(out, inputs=(past,))
    run.check_output(out.with_suffix(".png"), inputs=(past,))  # the bands are drawn beside a table
    return run.kind.forecast(run, past, draws, out, seed=seed)
