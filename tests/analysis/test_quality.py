"""Sample-quality metrics and feature spaces on cases with known answers."""
import numpy as np
import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from sklearn.datasets import load_digits

import vaelab.analysis.quality as quality
from vaelab.analysis.quality import (
    DomainClassifier,
    FeatureSpace,
    class_distribution,
    classifier_state,
    density_coverage,
    fit_feature_space,
    frechet_distance,
    load_classifier,
    memorization,
    pca_features,
    precision_recall,
    quality_report,
    train_classifier,
)
from vaelab.errors import ConfigError, DataError, RunError


def gaussian(seed, n=2000, d=8, shift=0.0):
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # The test machine has 2 busy cores: torch's two OpenMP threads then spin against each
    # other and other jobs, and the digits classifier took 6-44 s instead of 2 s with one.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def same():
    """Two independent 2000-sample sets from N(0, I_8)."""
    return gaussian(0), gaussian(1)


@pytest.fixture(scope="module")
def digits_images():
    """All 1797 of sklearn's digits as (N, 1, 8, 8) in [0, 1]: 1400 train, 397 test."""
    d = load_digits()
    X = (d.data / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)
    return X[:1400], d.target[:1400], X[1400:], d.target[1400:]


@pytest.fixture(scope="module")
def digits_classifier(digits_images):
    # 10 epochs of 11 batches: 5 epochs (the default) reach 0.82-0.85 over seeds 0-2 on this
    # split, too close to the 0.8 bar; 10 reach 0.88-0.90 and still train in about a second.
    X_tr, y_tr, X_te, y_te = digits_images
    return train_classifier(X_tr, y_tr, X_te, y_te, 10, epochs=10, seed=0)


# ---------------------------------------------------------------- Fréchet distance
def test_frechet_is_zero_for_the_same_array_and_near_zero_for_the_same_distribution(same):
    a, b = same
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    # Finite samples leave a small positive bias: 0.025 on average, at most 0.036, over 20 seeds.
    assert 0.0 < frechet_distance(a, b) < 0.1


def test_frechet_matches_the_closed_forms(same):
    a, b = same
    # The very same points moved by delta: equal covariances, so d² = ||delta||² exactly.
    delta = np.linspace(-1.0, 2.0, 8)
    assert frechet_distance(a, a + delta) == pytest.approx((delta**2).sum(), rel=1e-9)
    # Scaled by 2: C2 = 4 C1, (C1 C2)^{1/2} = 2 C1, so d² = ||m||² + Tr(C1).
    expected = (a.mean(0) ** 2).sum() + np.trace(np.cov(a, rowvar=False))
    assert frechet_distance(a, 2 * a) == pytest.approx(expected, rel=1e-9)
    # Independent samples shifted by 1 in each of 8 dimensions: d² ≈ 8, up to sampling noise
    # of the means (SD of ||Δm̂||² ≈ 2 sqrt(8 · 2/2000) ≈ 0.18) and the bias above.
    assert frechet_distance(a, b + 1.0) == pytest.approx(8.0, abs=0.6)


def test_frechet_handles_singular_covariances(monkeypatch):
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5, 20)), rng.normal(size=(7, 20))  # fewer samples than features
    a[:, 3] = 0.0  # a dead feature, as a ReLU layer gives
    assert np.isfinite(frechet_distance(a, b)) and frechet_distance(a, b) >= 0
    # When the square root fails, the diagonal offset is added and the distance barely moves.
    x, y = gaussian(3, n=500, d=4), gaussian(4, n=500, d=4, shift=1.0)
    exact = frechet_distance(x, y)
    real_eigvalsh, calls = quality.eigvalsh, []

    def failing_once(m, **options):
        calls.append(1)
        return np.full(m.shape[0], np.nan) if len(calls) == 1 else real_eigvalsh(m, **options)

    monkeypatch.setattr(quality, "eigvalsh", failing_once)
    assert frechet_distance(x, y) == pytest.approx(exact, rel=1e-5)
    assert len(calls) == 2
    monkeypatch.setattr(quality, "eigvalsh", lambda m, **options: np.full(m.shape[0], np.inf))
    with pytest.raises(DataError, match="square root of the feature covariances failed"):
        frechet_distance(x, y)


def test_frechet_trace_term_matches_scipy_sqrtm():
    """Tr((C1 C2)^{1/2}) from the eigenvalues of C1^{1/2} C2 C1^{1/2} equals scipy's sqrtm of C1 C2 (FID's usual
    route), on well-conditioned and on singular covariances (fewer samples than features)."""
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(5)
    for n, d in ((400, 16), (50, 128), (10, 32)):
        a, b = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)), rng.normal(size=(n, d))
        c1, c2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        expected = float(np.trace(sqrtm(c1 @ c2)).real)
        assert quality._sqrtm_trace(c1, c2) == pytest.approx(expected, rel=1e-7, abs=1e-6)


# ---------------------------------------------------------------- k-NN metrics
def test_precision_recall_same_distribution_and_disjoint(same):
    a, b = same
    # k-NN balls (k=3) do not fill the whole support: in 8-D a fresh sample lands in one
    # with probability ≈ 0.90 (measured 0.88-0.91 over 20 seeds), so "≈ 1" means > 0.85.
    precision, recall = precision_recall(a, b)
    assert precision > 0.85 and recall > 0.85
    # Larger balls cover more: k=20 brings both closer to 1.
    assert min(precision_recall(a, b, k=20)) > max(precision, recall)
    assert precision_recall(a, gaussian(5, shift=20.0)) == (0.0, 0.0)


def test_precision_and_recall_tell_quality_from_variety(same):
    a, _ = same
    # Samples from the central part only: realistic (precision high), not varied (recall low).
    narrow = 0.3 * gaussian(6)
    precision, recall = precision_recall(a, narrow)
    assert precision > 0.95 and recall < 0.3


def test_density_and_coverage_of_the_same_distribution(same):
    a, b = same
    k = 5
    density, coverage = density_coverage(a, b, k=k)
    # E[density] = 1 exactly; its SD is 0.023 at these sizes (20 seeds), so 0.1 is > 4 SD.
    assert density == pytest.approx(1.0, abs=0.1)
    # E[coverage] = 1 - Π_{i=1..k} (N-i)/(N+M-i) = 0.9689 for N = M = 2000 (→ 1 - 2^-5 = 0.96875);
    # its SD is 0.0035 (20 seeds), so 0.015 is > 4 SD.
    n = a.shape[0]
    expected = 1 - np.prod([(n - i) / (2 * n - i) for i in range(1, k + 1)])
    assert coverage == pytest.approx(expected, abs=0.015)
    assert coverage == pytest.approx(1 - 2.0**-k, abs=0.015)


def test_density_rewards_crowding_and_coverage_punishes_it(same):
    a, _ = same
    # Samples packed near the mode: each sits in more real balls than a fair sample (density
    # 1.66-1.68 over 3 seeds) while most of the data's balls stay empty (coverage 0.28-0.29).
    density, coverage = density_coverage(a, 0.3 * gaussian(7))
    assert density > 1.4 and coverage < 0.4
    assert density_coverage(a, gaussian(8, shift=20.0)) == (0.0, 0.0)


def _inside(centres, points, k):
    """prdc's definition computed directly: (N centres, M points) True where the point lies in the
    centre's open k-NN ball (distance < radius), every distance by differences."""
    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    radii = np.sort(dist(centres, centres), axis=1)[:, k]  # column 0 is the centre itself
    return dist(centres, points) < radii[:, None]


def _direct(real, fake, k):
    """(precision, recall, density, coverage) by :func:`_inside`."""
    real_balls, fake_balls = _inside(real, fake, k), _inside(fake, real, k)
    return (real_balls.any(0).mean(), fake_balls.any(0).mean(), real_balls.sum() / (k * fake.shape[0]),
            real_balls.any(1).mean())  # fmt: skip


def test_identical_sets_give_density_and_coverage_exactly_one(same):
    # Each open ball holds its centre and its k - 1 nearest neighbours; the k-th lies on the edge
    # and is outside (prdc's convention): exactly k fake points per ball. Before, edges were decided
    # by rounding: density 1.128 here, neither the open balls' 1.0 nor the closed balls' 1.2.
    a, _ = same
    x = a[:500] * 7.3 + 100.0  # far from the origin, where the fast distances lose the most digits
    assert density_coverage(x, x) == (1.0, 1.0)
    assert precision_recall(x, x) == (1.0, 1.0)
    assert density_coverage(x, x, k=3) == (1.0, 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ties_on_a_lattice_match_a_direct_exact_computation(seed):
    # Integer points: many distances are equal, so many points sit exactly on a ball's edge.
    rng = np.random.default_rng(seed)
    real, fake = rng.integers(0, 4, (300, 3)).astype(float), rng.integers(0, 4, (200, 3)).astype(float)
    for k in (1, 3, 5):
        expected = _direct(real, fake, k)
        assert precision_recall(real, fake, k) == pytest.approx(expected[:2], abs=1e-12)
        assert density_coverage(real, fake, k) == pytest.approx(expected[2:], abs=1e-12)


def test_continuous_features_match_the_direct_computation_and_the_convention_is_stated(same):
    a, b = same
    real, fake = a[:400], b[:300] + 0.2
    expected = _direct(real, fake, 5)
    assert precision_recall(real, fake, 5) == pytest.approx(expected[:2], abs=1e-12)
    assert density_coverage(real, fake, 5) == pytest.approx(expected[2:], abs=1e-12)
    assert quality.knn_convention(3, 5) == {
        "k_precision_recall": 3, "k_density_coverage": 5, "balls": "open",
        "edge": "a point on a ball's edge (distance = radius) is outside, as in the prdc package",
    }


def test_features_far_from_0_with_a_small_spread_match_the_direct_computation():
    # Offset 1e4, SD 1e-3 (float32's step there): the k-NN radii came from rows cast to float32
    # before centring, density 2.22 against the exact 0.968.
    rng = np.random.default_rng(0)
    real, fake = 1e4 + 1e-3 * rng.normal(size=(300, 4)), 1e4 + 1e-3 * rng.normal(size=(300, 4))
    expected = _direct(real - 1e4, fake - 1e4, 5)  # the same differences, exactly, near 0
    assert density_coverage(real, fake, 5) == pytest.approx(expected[2:], abs=1e-12)
    assert precision_recall(real, fake, 5) == pytest.approx(expected[:2], abs=1e-12)

def test_quality_report_has_exactly_the_contract_keys(same):
    a, b = same
    report = quality_report(a[:500], b[:500], k_pr=3, k_dc=5)
    assert list(report) == ["frechet", "precision", "recall", "density", "coverage"]
    assert all(isinstance(v, float) for v in report.values())
    assert report["frechet"] == frechet_distance(a[:500], b[:500])
    assert (report["precision"], report["recall"]) == precision_recall(a[:500], b[:500], 3)
    assert (report["density"], report["coverage"]) == density_coverage(a[:500], b[:500], 5)


def test_bad_feature_sets_are_clear_errors(same):
    a, b = same
    with pytest.raises(DataError, match="same number of features; got 8 and 6"):
        quality_report(a, b[:, :6])
    with pytest.raises(DataError, match=r"k=3 need more than 3 samples in each set; got 3 fake samples"):
        precision_recall(a, b[:3])
    with pytest.raises(DataError, match=r"k=5 need more than 5 samples in each set; got 4 real samples"):
        density_coverage(a[:4], b)
    with pytest.raises(ConfigError, match="k must be an integer >= 1"):
        precision_recall(a, b, k=0)
    with pytest.raises(DataError, match=r"2-D array of features .* got shape \(2000,\)"):
        frechet_distance(a[:, 0], b)
    with pytest.raises(DataError, match="NaN or infinite"):
        frechet_distance(a, np.full((10, 8), np.nan))
    with pytest.raises(DataError, match="at least 2 samples in each; got 2000 real and 1 fake"):
        frechet_distance(a, b[:1])


# ---------------------------------------------------------------- memorization
def test_memorization_flags_copies_and_passes_new_samples():
    train, test = gaussian(10), gaussian(11, n=1000)
    copies = train[np.random.default_rng(12).choice(2000, 1000)]
    m = memorization(train, test, copies)
    assert m["median_fake_to_train"] == 0.0 and m["ratio"] == 0.0
    assert m["share_fake_closer"] == 1.0 and m["flagged"]
    # The test set's own share is the quantile by construction.
    assert m["share_test_closer"] == pytest.approx(0.01, abs=0.002)

    new = memorization(train, test, gaussian(13, n=1000))
    assert new["ratio"] == pytest.approx(1.0, abs=0.1)
    assert new["share_fake_closer"] < 0.03 and not new["flagged"]

    # Half copies: still flagged, and the share says how many.
    half = memorization(train, test, np.r_[copies[:500], gaussian(14, n=500)])
    assert half["flagged"] and half["share_fake_closer"] == pytest.approx(0.5, abs=0.02)
    with pytest.raises(DataError, match="train and fake must have the same number of features"):
        memorization(train, test, copies[:, :3])


def test_nearest_distances_match_a_direct_search_in_many_dimensions():
    rng = np.random.default_rng(3)
    reference = rng.integers(0, 256, (3000, 784)).astype(np.float32) / 255  # many blocks' worth of pixels
    query = np.r_[reference[:50], rng.random((200, 784), dtype=np.float32)]  # exact copies and new points
    ref64 = reference.astype(np.float64)
    direct = np.sqrt(np.concatenate([((q[:, None, :].astype(np.float64) - ref64[None]) ** 2).sum(-1).min(1)
                                     for q in np.array_split(query, 25)]))  # in chunks: 4.7 GB at once  # fmt: skip
    got = quality.nearest_distances(query, reference)
    assert np.array_equal(got[:50], np.zeros(50)) and got == pytest.approx(direct, rel=1e-12)


def test_classify_gives_predict_from_the_features_alone(digits_classifier, digits_images):
    space = FeatureSpace(digits_classifier[0])
    X = digits_images[2]
    assert np.array_equal(space.classify(space.transform(X)), space.predict(X))


def test_memorization_reuses_given_test_distances(same):
    train, test = gaussian(10), gaussian(11, n=500)
    fake = gaussian(12, n=300)
    d_test = quality.nearest_distances(test, train)
    assert memorization(train, test, fake, test_to_train=d_test) == memorization(train, test, fake)
    with pytest.raises(DataError, match="one distance per test example"):
        memorization(train, test, fake, test_to_train=d_test[:10])


# ---------------------------------------------------------------- class distribution
def test_class_distribution_known_cases():
    C = 10
    labels = np.repeat(np.arange(C), 30)  # balanced data
    one = class_distribution(np.full(200, 4), labels, C)
    assert one["total_variation"] == pytest.approx(1 - 1 / C, abs=1e-12)
    assert one["n_dropped"] == C - 1 and one["dropped_classes"] == [c for c in range(C) if c != 4]
    assert one["fake_shares"][4] == 1.0

    even = class_distribution(np.arange(C).repeat(7), labels, C)
    assert even["total_variation"] == pytest.approx(0.0, abs=1e-12) and even["n_dropped"] == 0

    # Data 1/2, 1/4, 1/4; samples 0.6, 0.38, 0.02: TV = ½ (0.1 + 0.13 + 0.23) = 0.23, and
    # class 2 (0.02 < 0.1 · 0.25) is dropped.
    d = class_distribution(np.repeat([0, 1, 2], [30, 19, 1]), np.array([0, 0, 1, 2]), 3)
    assert d["fake_shares"] == pytest.approx([0.6, 0.38, 0.02])
    assert d["total_variation"] == pytest.approx(0.23)
    assert d["dropped_classes"] == [2]


def test_class_distribution_bad_inputs():
    with pytest.raises(DataError, match=r"pred_fake holds class 10, outside 0..9 \(n_classes=10\)"):
        class_distribution(np.array([1, 10]), np.arange(10), 10)
    with pytest.raises(DataError, match="integer class indices"):
        class_distribution(np.array([0.2, 0.8]), np.arange(10), 10)
    with pytest.raises(ConfigError, match="n_classes must be an integer >= 1"):
        class_distribution(np.array([0]), np.array([0]), 0)


# ---------------------------------------------------------------- feature spaces
def test_domain_classifier_learns_digits(digits_classifier, digits_images):
    clf, accuracy = digits_classifier
    assert accuracy > 0.8 and clf.test_accuracy == accuracy
    assert clf.kind == "conv" and not clf.training
    X_te = digits_images[2]
    space = FeatureSpace(clf)
    features = space.transform(X_te)
    assert features.shape == (397, 128) and space.kind == "classifier" and space.test_accuracy == accuracy
    # Its predicted classes of real test data match the test labels' distribution closely.
    shares = class_distribution(space.predict(X_te), digits_images[3], 10)
    assert shares["total_variation"] < 0.2 and shares["n_dropped"] == 0


def test_classifier_state_round_trip_gives_identical_features(digits_classifier, digits_images):
    clf, accuracy = digits_classifier
    tensors, metadata = classifier_state(clf)
    assert all(isinstance(v, str) for v in metadata.values())
    assert metadata["kind"] == "conv" and metadata["input_shape"] == "[1, 8, 8]" and metadata["n_classes"] == "10"
    # Through safetensors bytes, as a run folder would store it.
    raw = st_save(tensors, metadata=metadata)
    loaded = load_classifier(st_load(raw), metadata)
    X = torch.from_numpy(digits_images[2])
    with torch.no_grad():
        assert torch.equal(loaded.features(X), clf.features(X))
    assert loaded.test_accuracy == accuracy
    assert FeatureSpace(loaded).to_dict()["test_accuracy"] == accuracy
    # NumPy arrays work too (RunDir.read_arrays gives those).
    again = load_classifier({k: v.numpy() for k, v in tensors.items()}, metadata)
    assert np.array_equal(FeatureSpace(again).transform(digits_images[2]), FeatureSpace(clf).transform(digits_images[2]))


def test_damaged_classifier_state_is_a_run_error(digits_classifier):
    tensors, metadata = classifier_state(digits_classifier[0])
    with pytest.raises(RunError, match=r"cannot be rebuilt \(.*size mismatch for head.weight.*Delete it"):
        load_classifier(tensors, {**metadata, "n_classes": "7"})
    with pytest.raises(RunError, match="format is None"):
        load_classifier(tensors, {})
    with pytest.raises(RunError, match="does not fit input shape"):
        load_classifier(tensors, {**metadata, "kind": "mlp"})


def test_mlp_classifier_and_other_image_sizes(digits_images):
    X_tr, y_tr, X_te, y_te = digits_images
    clf, accuracy = train_classifier(X_tr[:300].reshape(300, -1), y_tr[:300], X_te.reshape(397, -1), y_te, 10, epochs=2)
    assert clf.kind == "mlp" and 0.0 <= accuracy <= 1.0
    assert clf.features(torch.zeros(3, 64)).shape == (3, 128) and clf(torch.zeros(3, 64)).shape == (3, 10)
    for shape in [(1, 28, 28), (3, 5, 7), (1, 1, 1)]:  # padded convs, ceil-mode pooling: any size
        net = DomainClassifier(shape, 4)
        assert net.features(torch.zeros(2, *shape)).shape == (2, 128) and net(torch.zeros(2, *shape)).shape == (2, 4)


def test_classifier_is_seeded_and_checks_its_inputs(digits_images):
    X_tr, y_tr, X_te, y_te = (a[:200] for a in digits_images)
    first, acc1 = train_classifier(X_tr, y_tr, X_te, y_te, 10, epochs=1, seed=3)
    second, acc2 = train_classifier(X_tr, y_tr, X_te, y_te, 10, epochs=1, seed=3)
    assert acc1 == acc2 and all(torch.equal(p, q) for p, q in zip(first.parameters(), second.parameters()))
    with pytest.raises(DataError, match=r"X_test has examples of shape \(64,\), but .* built for \(1, 8, 8\)"):
        train_classifier(X_tr, y_tr, X_te.reshape(-1, 64), y_te, 10)
    with pytest.raises(DataError, match="X_train has 200 examples but y_train has 199 labels"):
        train_classifier(X_tr, y_tr[:199], X_te, y_te, 10)
    with pytest.raises(DataError, match=r"y_train holds class 9, outside 0..4"):
        train_classifier(X_tr, y_tr, X_te, y_te, 5)
    with pytest.raises(ConfigError, match="n_classes must be an integer >= 2"):
        train_classifier(X_tr, y_tr, X_te, y_te, 1)
    with pytest.raises(DataError, match=r"examples of shape \(1, 8\), but the feature space was built for \(1, 8, 8\)"):
        FeatureSpace(first).transform(np.zeros((2, 1, 8)))


def test_pca_feature_space(digits_images):
    X_tr, _, X_te, _ = digits_images
    pca = pca_features(X_tr, n_components=32, seed=0)
    space = FeatureSpace(pca)
    assert space.kind == "pca" and space.test_accuracy is None and space.n_features == 32
    assert space.transform(X_te).shape == (397, 32) and pca(X_te).shape == (397, 32)
    assert pca_features(X_tr[:10]).n_components_ == 10  # capped at min(n_samples, n_features)
    assert pca_features(np.random.default_rng(0).normal(size=(50, 6))).n_components_ == 6
    assert space.to_dict() == {"kind": "pca", "n_features": 32, "input_shape": [1, 8, 8], "test_accuracy": None}
    with pytest.raises(ConfigError, match="PCA and predicts no classes"):
        space.predict(X_te)
    with pytest.raises(DataError, match=r"examples of shape \(64,\), but the feature space was built for \(1, 8, 8\)"):
        space.transform(X_te.reshape(-1, 64))
    with pytest.raises(DataError, match="at least 2 training examples; got 1"):
        pca_features(X_tr[:1])


def test_fit_feature_space_picks_classifier_with_labels_and_pca_without(digits_images):
    X_tr, y_tr, X_te, y_te = (a[:300] for a in digits_images)
    assert fit_feature_space(X_tr).kind == "pca"
    space = fit_feature_space(X_tr, y_tr, X_te, y_te, epochs=1)
    assert space.kind == "classifier" and space.mapping.n_classes == 10 and space.test_accuracy is not None
    with pytest.raises(DataError, match="needs labeled test data"):
        fit_feature_space(X_tr, y_tr)
    with pytest.raises(ConfigError, match="wraps a DomainClassifier or PCAFeatures; got str"):
        FeatureSpace("pca")
