"""Every statistic of `harness compare` against a well-kept reference on the same inputs."""
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import brier_score_loss, cohen_kappa_score, matthews_corrcoef, roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from harness.analysis.stats.accuracy import mcnemar, paired_bootstrap
from harness.analysis.stats.agreement import overlap
from harness.analysis.stats.calibration import (auroc, brier_score, expected_calibration_error,
                                                        reliability_bins)
from harness.analysis.stats.cka import layer_cka, linear_cka


def pair(seed, n=200, rate_a=0.6, rate_b=0.55, coupling=0.3):
    rng = np.random.default_rng(seed)
    a = rng.random(n) < rate_a
    b = np.where(rng.random(n) < coupling, a, rng.random(n) < rate_b)
    return a.astype(int), b.astype(int)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("exact", [True, False])
def test_mcnemar_matches_statsmodels(seed, exact):
    a, b = pair(seed, n=60 if exact else 300)
    table = [[np.sum(a & b), np.sum(a & (1 - b))], [np.sum((1 - a) & b), np.sum((1 - a) & (1 - b))]]
    ref = sm_mcnemar(table, exact=exact, correction=True)
    ours = mcnemar(a, b, exact=exact)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert (ours.only_a, ours.only_b) == (table[0][1], table[1][0])


def test_mcnemar_without_discordant_items_is_not_significant():
    result = mcnemar(np.array([1, 0, 1]), np.array([1, 0, 1]))
    assert result.p_value == 1.0 and result.only_a == result.only_b == 0


@pytest.mark.parametrize("seed", range(6))
def test_phi_and_kappa_match_scikit_learn(seed):
    a, b = pair(seed, coupling=0.1 * seed)
    result = overlap(a, b)
    assert result.phi == pytest.approx(matthews_corrcoef(a, b), abs=1e-12)
    assert result.kappa == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert result.n == len(a) and result.both == int(np.sum(a & b))


def test_phi_is_undefined_when_a_system_solves_everything():
    assert math.isnan(overlap(np.ones(5), np.array([1, 0, 1, 0, 1])).phi)


def test_ece_by_hand_with_equal_width_bins():
    # 5 bins of width 0.2. Bin (0.2, 0.4]: conf 0.3, 0.3 -> acc 0.5, mean conf 0.3, gap 0.2.
    # Bin (0.6, 0.8]: conf 0.7, 0.8, 0.8 -> acc 1/3, mean conf 0.7667, gap 0.4333.
    # Bin (0.8, 1.0]: conf 0.9 -> acc 1, gap 0.1. ECE = (2*0.2 + 3*0.43333 + 1*0.1) / 6 = 0.3
    conf = np.array([0.3, 0.3, 0.7, 0.8, 0.8, 0.9])
    correct = np.array([1, 0, 1, 0, 0, 1])
    assert expected_calibration_error(conf, correct, n_bins=5, strategy="width") == pytest.approx(0.3)
    assert [b.count for b in reliability_bins(conf, correct, 5, "width")] == [2, 3, 1]


def test_ece_by_hand_with_equal_mass_bins():
    # 3 bins of 2 items in confidence order: {0.3, 0.3} acc 0.5 gap 0.2; {0.7, 0.8} acc 0.5 gap 0.25;
    # {0.8, 0.9} acc 0.5 gap 0.35. ECE = (0.2 + 0.25 + 0.35) / 3 = 0.26667
    conf = np.array([0.3, 0.3, 0.7, 0.8, 0.8, 0.9])
    correct = np.array([1, 0, 1, 0, 0, 1])
    assert expected_calibration_error(conf, correct, n_bins=3, strategy="mass") == pytest.approx(0.8 / 3)


def test_ece_is_zero_for_a_perfectly_calibrated_model():
    conf = np.array([0.25] * 4 + [0.75] * 4)
    correct = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert expected_calibration_error(conf, correct, n_bins=4) == pytest.approx(0.0)


def test_ece_rejects_confidences_outside_the_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        expected_calibration_error(np.array([1.2]), np.array([1]))


@pytest.mark.parametrize("seed", range(4))
def test_brier_and_auroc_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    conf = np.round(rng.random(150), 1)  # rounding makes ties, which AUROC must count as one half
    correct = (rng.random(150) < conf).astype(int)
    assert brier_score(conf, correct) == pytest.approx(brier_score_loss(correct, conf))
    assert auroc(conf, correct) == pytest.approx(roc_auc_score(correct, conf))


def test_auroc_is_undefined_when_every_item_is_correct():
    assert math.isnan(auroc(np.array([0.2, 0.9]), np.array([1, 1])))


def test_paired_bootstrap_matches_scipy_percentile_bootstrap():
    a, b = pair(3, n=300)
    ours = paired_bootstrap(np.stack([a, b]), n_resamples=20000, seed=1)
    for i, x in enumerate((a, b)):
        ref = scipy_stats.bootstrap((x,), np.mean, n_resamples=20000, method="percentile",
                                    random_state=np.random.default_rng(2)).confidence_interval
        assert ours.accuracy[i].low == pytest.approx(ref.low, abs=0.006)
        assert ours.accuracy[i].high == pytest.approx(ref.high, abs=0.006)
    ref = scipy_stats.bootstrap((a, b), lambda x, y: np.mean(x) - np.mean(y), paired=True, n_resamples=20000,
                                method="percentile", random_state=np.random.default_rng(2)).confidence_interval
    diff = ours.difference[(0, 1)]
    assert diff.value == pytest.approx(a.mean() - b.mean())
    assert (diff.low, diff.high) == pytest.approx((ref.low, ref.high), abs=0.006)


def test_paired_bootstrap_interval_of_identical_systems_difference_is_zero():
    a, _ = pair(0)
    diff = paired_bootstrap(np.stack([a, a]), n_resamples=500).difference[(0, 1)]
    assert (diff.low, diff.value, diff.high) == (0.0, 0.0, 0.0)


def test_linear_cka_of_one_feature_is_the_squared_pearson_correlation():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 1)), rng.normal(size=(30, 1))
    y = y + x
    assert linear_cka(x, y) == pytest.approx(scipy_stats.pearsonr(x[:, 0], y[:, 0]).statistic ** 2)


def test_linear_cka_by_hand_on_a_small_matrix():
    # X = [[1,0],[0,1],[-1,-1]] is centred; X^T X = [[2,1],[1,2]], ||.||_F = sqrt(10).
    # Y = [[1],[0],[-1]] is centred; Y^T Y = [[2]], ||.||_F = 2; Y^T X = [[2, 1]], ||.||_F^2 = 5.
    # CKA = 5 / (sqrt(10) * 2) = 0.790569
    x = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    y = np.array([[1.0], [0.0], [-1.0]])
    assert linear_cka(x, y) == pytest.approx(5 / (2 * math.sqrt(10)))


def test_linear_cka_is_invariant_to_orthogonal_transforms_and_isotropic_scaling():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 8))
    y = x @ rng.normal(size=(8, 6)) + 0.5 * rng.normal(size=(40, 6))
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    assert linear_cka(x, x @ q) == pytest.approx(1.0)
    assert linear_cka(x, 3.7 * x) == pytest.approx(1.0)
    assert linear_cka(x @ q * 2.0, y) == pytest.approx(linear_cka(x, y))


def test_linear_cka_gram_and_feature_forms_agree_with_the_hsic_definition():
    # Kornblith et al. eq. (1)-(2): CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)), HSIC = tr(KHLH) / (n-1)^2.
    rng = np.random.default_rng(2)
    for width in (3, 80):  # 80 features for 20 items takes the Gram path
        x, y = rng.normal(size=(20, width)), rng.normal(size=(20, width))
        n = 20
        h = np.eye(n) - np.ones((n, n)) / n
        k, l = x @ x.T, y @ y.T
        hsic = lambda a, b: np.trace(a @ h @ b @ h) / (n - 1) ** 2
        assert linear_cka(x, y) == pytest.approx(hsic(k, l) / math.sqrt(hsic(k, k) * hsic(l, l)))


def test_layer_cka_gives_one_value_per_consecutive_pair():
    layers = np.random.default_rng(3).normal(size=(4, 10, 5))
    values = layer_cka(layers)
    assert values.shape == (3,) and values[0] == pytest.approx(linear_cka(layers[0], layers[1]))


# -- the statistics behind the verdicts -----------------------------------------------------------

from statsmodels.stats.multitest import multipletests  # noqa: E402

from harness.analysis.stats.bootstrap import bootstrap_p, paired_mean_draws, percentile  # noqa: E402
from harness.analysis.stats.calibration import ece_bootstrap  # noqa: E402
from harness.analysis.stats.cka import debiased_cka, unbiased_hsic  # noqa: E402
from harness.analysis.stats.intervals import clopper_pearson, mean_interval, paired_difference  # noqa: E402
from harness.analysis.stats.multiplicity import holm  # noqa: E402
from harness.analysis.stats.seeds import (accuracy_difference, exclusive_beyond_seeds, flip_rate_per_item,  # noqa: E402
                                          items_needed)


@pytest.mark.parametrize("k, n", [(0, 10), (10, 10), (3, 17), (48, 48), (0, 1)])
def test_clopper_pearson_matches_scipy_exact_binomial_interval(k, n):
    ref = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    ours = clopper_pearson(k, n)
    assert (ours.low, ours.high) == pytest.approx((ref.low, ref.high), abs=1e-9)
    assert ours.value == k / n


@pytest.mark.parametrize("seed", range(6))
def test_the_paired_difference_interval_excludes_zero_exactly_when_exact_mcnemar_rejects(seed):
    a, b = pair(seed, n=80, coupling=0.6)
    iv = paired_difference(a, b)
    table = [[np.sum(a & b), np.sum(a & (1 - b))], [np.sum((1 - a) & b), np.sum((1 - a) & (1 - b))]]
    rejects = sm_mcnemar(table, exact=True).pvalue < 0.05
    assert (iv.low > 0 or iv.high < 0) == rejects
    m = table[0][1] + table[1][0]
    ref = scipy_stats.binomtest(int(table[1][0]), int(m)).proportion_ci(method="exact")
    assert (iv.low, iv.high) == pytest.approx((m / 80 * (2 * ref.low - 1), m / 80 * (2 * ref.high - 1)))
    assert iv.value == pytest.approx(b.mean() - a.mean())


def test_identical_runs_have_a_zero_width_paired_difference():
    a = np.array([1, 0, 1, 1])
    assert (paired_difference(a, a).low, paired_difference(a, a).high) == (0.0, 0.0)


def test_mean_interval_is_scipys_t_interval():
    values = np.array([0.45, 0.36, 0.36, 0.38])
    ref = scipy_stats.ttest_1samp(values, 0).confidence_interval(0.95)
    ours = mean_interval(values)
    assert (ours.low, ours.high) == pytest.approx((ref.low, ref.high))


def test_holm_matches_the_step_down_formula_and_statsmodels():
    p = [0.01, 0.04, 0.03, 0.005, float("nan")]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    assert holm(p)[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(holm(p)[4])
    assert holm(p[:4]) == pytest.approx(list(multipletests(p[:4], method="holm")[1]))


def test_welch_difference_over_seeds_is_scipys():
    rng = np.random.default_rng(0)
    a = (rng.random((3, 100)) < 0.4).astype(int)
    b = (rng.random((4, 100)) < 0.6).astype(int)
    ours = accuracy_difference(a, b)
    ref = scipy_stats.ttest_ind(b.mean(axis=1), a.mean(axis=1), equal_var=False)
    assert ours.p_value == pytest.approx(ref.pvalue)
    assert (ours.value.low, ours.value.high) == pytest.approx(tuple(ref.confidence_interval()))
    assert "Welch" in ours.test


def test_the_seed_flip_rate_counts_ordered_pairs_of_distinct_replicates():
    rng = np.random.default_rng(1)
    runs = (rng.random((4, 30)) < 0.5).astype(int)
    brute = np.mean([[runs[s, i] * (1 - runs[t, i]) for s in range(4) for t in range(4) if s != t]
                     for i in range(30)], axis=1)
    assert flip_rate_per_item(runs) == pytest.approx(brute)


def test_exclusive_solves_beyond_seeds_is_a_one_sided_t_test_over_items():
    rng = np.random.default_rng(2)
    x = (rng.random((2, 120)) < 0.5).astype(int)
    y = (rng.random((3, 120)) < 0.5).astype(int)
    result = exclusive_beyond_seeds(x, y, [x, y])
    d = x.mean(0) * (1 - y.mean(0)) - (flip_rate_per_item(x) + flip_rate_per_item(y)) / 2
    assert result.p_value == pytest.approx(scipy_stats.ttest_1samp(d, 0, alternative="greater").pvalue)
    assert result.excess.value == pytest.approx(d.mean())


def test_items_needed_gives_about_eighty_percent_power():
    n = items_needed(0.2, 0.08)
    rng = np.random.default_rng(3)
    rejected = 0
    for _ in range(2000):  # items: A-only with prob 0.06, B-only with prob 0.14 (psi 0.2, delta 0.08)
        draw = rng.choice(3, size=n, p=[0.06, 0.14, 0.8])
        b, c = int(np.sum(draw == 0)), int(np.sum(draw == 1))
        rejected += scipy_stats.binomtest(min(b, c), b + c).pvalue < 0.05
    assert 0.74 < rejected / 2000 < 0.86


def test_unbiased_hsic_is_the_u_statistic_of_song_et_al():
    import itertools

    rng = np.random.default_rng(4)
    n = 6
    k, l = (lambda m: m @ m.T)(rng.normal(size=(n, 3))), (lambda m: m @ m.T)(rng.normal(size=(n, 2)))

    def h(i, j, q, r):  # the kernel of the U-statistic, averaged over the 24 orderings
        total = 0.0
        for s, t, u, v in itertools.permutations((i, j, q, r)):
            total += k[s, t] * l[s, t] + k[s, t] * l[u, v] - 2 * k[s, t] * l[s, u]
        return total / 24

    brute = np.mean([h(*idx) for idx in itertools.permutations(range(n), 4)])
    assert unbiased_hsic(k, l) == pytest.approx(brute)


def test_debiased_cka_is_near_zero_for_unrelated_wide_representations_where_linear_cka_is_not():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(50, 4096)), rng.normal(size=(50, 4096))
    assert linear_cka(x, y) > 0.95
    assert abs(debiased_cka(x, y)) < 0.1
    assert debiased_cka(x, 2.0 * x) == pytest.approx(1.0)


def test_ece_bootstrap_point_and_draws_are_the_ece_of_each_resample():
    rng = np.random.default_rng(6)
    conf = rng.random((2, 50))
    correct = (rng.random((2, 50)) < conf).astype(int)
    points, draws = ece_bootstrap(conf, correct, 10, n_resamples=3, seed=9)
    assert points[1] == pytest.approx(expected_calibration_error(conf[1], correct[1], 10, "width"))
    idx = np.random.default_rng(9).integers(0, 50, size=(3, 50))
    for r in range(3):
        for s in range(2):
            ref = expected_calibration_error(conf[s, idx[r]], correct[s, idx[r]], 10, "width")
            assert draws[r, s] == pytest.approx(ref)


def test_paired_mean_bootstrap_matches_scipy_and_its_p_is_two_sided():
    a, b = pair(7, n=300)
    draws = paired_mean_draws(np.stack([a, b]), n_resamples=20000, seed=1)
    ref = scipy_stats.bootstrap((a, b), lambda x, y: np.mean(x) - np.mean(y), paired=True, n_resamples=20000,
                                method="percentile", random_state=np.random.default_rng(2)).confidence_interval
    diff = percentile(a.mean() - b.mean(), draws[:, 0] - draws[:, 1])
    assert (diff.low, diff.high) == pytest.approx((ref.low, ref.high), abs=0.006)
    assert bootstrap_p(np.array([-1.0, 1.0, 2.0, 3.0])) == 0.5 and bootstrap_p(np.ones(10)) == 0.0
