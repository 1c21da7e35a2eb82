"""BG/NBD, Pareto/NBD and Gamma-Gamma (processor.analyse.btyd): published CDNOW estimates, recovery of
known parameters from simulated customers, and the properties every fitted model must keep."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from processor.analyse import btyd

CALIBRATION_END = pd.Timestamp("1997-09-30")


def _cdnow_sample() -> pd.DataFrame:
    spec = importlib.util.find_spec("lifetimes")  # only its data file: the standard 2,357-customer sample
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "CDNOW_sample.txt"
    frame = pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        names=["customer_id", "master_id", "date", "cds", "amount"],
        dtype={"customer_id": str, "date": str},
    )
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    return frame


@pytest.fixture(scope="module")
def cdnow():
    """(x, t_x, T in weeks, counts) of the distinct triples, and per repeater (x, mean repeat spend).

    As in the published analyses every row is a purchase, $0 ones included (8 of the 2,357 customers
    only have $0 rows; the product does not count those as visits), and one day's purchases are one.
    """
    frame = _cdnow_sample()
    frame = frame[frame["date"] <= CALIBRATION_END]
    days = frame.groupby(["customer_id", "date"], as_index=False)["amount"].sum()
    codes, _ = pd.factorize(days["customer_id"])
    day = (days["date"] - pd.Timestamp("1970-01-01")).dt.days.to_numpy()
    as_of = (CALIBRATION_END - pd.Timestamp("1970-01-01")).days
    s = btyd.sufficient_statistics(codes, day, as_of)
    x, t_x, T, count, inverse = btyd.compress(s["x"], s["t_x"], s["T"])
    first = days.groupby("customer_id").cumcount() == 0
    repeat = days[~first].groupby("customer_id")["amount"].agg(["size", "mean"])
    return {"triples": (x, t_x / 7, T / 7, count), "x": s["x"], "repeat": repeat, "inverse": inverse}


def test_cdnow_sample_has_the_standard_2357_customers(cdnow):
    assert cdnow["x"].size == 2357 and int((cdnow["x"] > 0).sum()) == 946


def test_bgnbd_reproduces_fader_hardie_lee_2005_on_cdnow(cdnow):
    fit = btyd.fit_bgnbd(*cdnow["triples"])
    for name, published in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        assert fit.params[name] == pytest.approx(published, rel=0.003)
    assert fit.log_likelihood == pytest.approx(-9582.4, abs=0.05)
    assert fit.converged and fit.customers == 2357


def test_pareto_nbd_reproduces_fader_hardie_2005_on_cdnow(cdnow):
    fit = btyd.fit_pareto_nbd(*cdnow["triples"])
    for name, published in {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}.items():
        assert fit.params[name] == pytest.approx(published, rel=0.003)
    assert fit.log_likelihood == pytest.approx(-9595.0, abs=0.05)


def test_gamma_gamma_reproduces_fader_hardie_lee_rfm_clv_on_cdnow(cdnow):
    repeat = cdnow["repeat"]
    fit = btyd.fit_gamma_gamma(repeat["size"], repeat["mean"])
    for name, published in {"p": 6.25, "q": 3.74, "gamma": 15.44}.items():
        assert fit.params[name] == pytest.approx(published, rel=0.003)
    assert fit.log_likelihood == pytest.approx(-4055.9, abs=0.05)
    assert fit.customers == 946


def test_fitting_the_distinct_triples_with_counts_equals_fitting_every_customer(cdnow):
    x, t_x, T, count = cdnow["triples"]
    inverse = cdnow["inverse"]
    every = btyd.fit_bgnbd(x[inverse], t_x[inverse], T[inverse])
    compressed = btyd.fit_bgnbd(x, t_x, T, count)
    assert compressed.log_likelihood == pytest.approx(every.log_likelihood, abs=1e-6)
    assert compressed.params["r"] == pytest.approx(every.params["r"], rel=1e-5)


def test_analytic_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 40, 200).astype(float)
    T = rng.uniform(10, 3000, 200)
    t_x = np.where(x > 0, rng.uniform(0, 1, 200) * T, 0.0)
    m = rng.gamma(3, 20, 200)
    for loglik, theta, data, rtol in (
        (btyd._bgnbd_ll, np.log([0.4, 30.0, 0.8, 2.5]), (x, t_x, T), 1e-5),
        (btyd._pareto_ll, np.log([0.6, 70.0, 0.6, 80.0]), (x, t_x, T), 1e-5),
        (btyd._gamma_gamma_ll, np.log([6.0, 3.5, 15.0]), (np.maximum(x, 1), m), 1e-5),
    ):
        _, grad = loglik(theta, *data, grad=True)
        for i in range(len(theta)):
            step = np.zeros(len(theta))
            step[i] = 1e-6
            numeric = (loglik(theta + step, *data, grad=False) - loglik(theta - step, *data, grad=False)) / 2e-6
            np.testing.assert_allclose(grad[:, i], numeric, rtol=rtol, atol=1e-6)


def _pareto_closed_form(r, alpha, s, beta, x, t_x, T):
    """Fader & Hardie (2005 note) eq. (22) written out directly: the test's independent oracle."""
    a = r + s + x
    if alpha >= beta:
        big, b = alpha, s + 1
    else:
        big, b = beta, r + x
    diff = abs(alpha - beta)
    a0 = (
        special.hyp2f1(a, b, a + 1, diff / (big + t_x)) / (big + t_x) ** a
        - special.hyp2f1(a, b, a + 1, diff / (big + T)) / (big + T) ** a
    )
    return (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * np.log(alpha)
        + s * np.log(beta)
        + np.log((alpha + T) ** -(r + x) * (beta + T) ** -s + s / a * a0)
    )


def test_pareto_nbd_likelihood_matches_the_closed_form_and_stays_finite_at_x300_T3000():
    fit = btyd.ParetoNBDFit.from_params(0.55, 10.6, 0.61, 11.7)
    x, t_x, T = np.array([0.0, 3, 12]), np.array([0.0, 20, 70]), np.array([78.0, 78, 78])
    np.testing.assert_allclose(
        fit.log_likelihood_of(x, t_x, T), _pareto_closed_form(0.55, 10.6, 0.61, 11.7, x, t_x, T), rtol=1e-10
    )
    big = btyd.ParetoNBDFit.from_params(0.55, 70.0, 0.61, 80.0)
    x, t_x, T = np.array([300.0, 300.0]), np.array([2990.0, 10.0]), np.array([3000.0, 3000.0])
    assert np.isfinite(big.log_likelihood_of(x, t_x, T)).all()
    assert np.isfinite(big.expected_purchases(365, x, t_x, T)).all()
    bg = btyd.BGNBDFit.from_params(0.24, 30.0, 0.79, 2.4)
    assert np.isfinite(bg.log_likelihood_of(x, t_x, T)).all()
    assert np.isfinite(bg.expected_purchases(365, x, t_x, T)).all()
    assert bg.p_alive(x, t_x, T)[0] > 0.99 and bg.p_alive(x, t_x, T)[1] < 1e-6


def _simulate_bgnbd(r, alpha, a, b, n, rng, max_events=400):
    T = rng.uniform(200, 600, n)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    gaps = rng.exponential(1, (n, max_events)) / lam[:, None]
    times = np.cumsum(gaps, axis=1)
    # after each repeat purchase the customer leaves with probability p: alive for a geometric number of them
    purchases_alive = rng.geometric(p) - 1  # repeat purchases made before leaving (0, 1, …)
    within = (times <= T[:, None]) & (np.arange(max_events)[None, :] < purchases_alive[:, None] + 1)
    x = within.sum(axis=1)
    t_x = np.where(x > 0, np.take_along_axis(times, np.maximum(x - 1, 0)[:, None], axis=1)[:, 0], 0.0)
    return x.astype(float), t_x, T


def _simulate_pareto(r, alpha, s, beta, n, rng, max_events=400):
    T = rng.uniform(200, 600, n)
    lam = rng.gamma(r, 1 / alpha, n)
    life = rng.exponential(1, n) / rng.gamma(s, 1 / beta, n)
    times = np.cumsum(rng.exponential(1, (n, max_events)) / lam[:, None], axis=1)
    within = times <= np.minimum(T, life)[:, None]
    x = within.sum(axis=1)
    t_x = np.where(x > 0, np.take_along_axis(times, np.maximum(x - 1, 0)[:, None], axis=1)[:, 0], 0.0)
    return x.astype(float), t_x, T


@pytest.mark.parametrize("model", ["BG/NBD", "Pareto/NBD"])
def test_simulated_customers_give_back_their_parameters_within_standard_errors(model):
    rng = np.random.default_rng(12)
    if model == "BG/NBD":
        truth = {"r": 0.8, "alpha": 40.0, "a": 0.9, "b": 3.0}
        data = _simulate_bgnbd(*truth.values(), 20_000, rng)
        fit, true_fit = btyd.fit_bgnbd(*data), btyd.BGNBDFit.from_params(**truth)
    else:
        truth = {"r": 0.8, "alpha": 40.0, "s": 0.7, "beta": 120.0}
        data = _simulate_pareto(*truth.values(), 20_000, rng)
        fit, true_fit = btyd.fit_pareto_nbd(*data), btyd.ParetoNBDFit.from_params(**truth)
    assert fit.converged
    for name, value in truth.items():
        assert abs(fit.params[name] - value) < 3 * fit.standard_errors[name], (name, fit.params[name], value)
    # the ranking a rep sees hardly depends on estimation error
    rho = stats.spearmanr(fit.p_alive(*data), true_fit.p_alive(*data)).statistic
    assert rho > 0.99


@pytest.mark.parametrize(
    "fit",
    [
        btyd.BGNBDFit.from_params(0.24, 30.0, 0.79, 2.4),
        btyd.ParetoNBDFit.from_params(0.55, 74.0, 0.61, 82.0),
        btyd.BGNBDFit.from_params(2.0, 10.0, 3.0, 1.5),
        btyd.ParetoNBDFit.from_params(3.0, 5.0, 2.0, 400.0),
    ],
)
def test_p_alive_is_a_probability_and_expected_purchases_fall_with_recency(fit):
    rng = np.random.default_rng(3)
    x = np.repeat(rng.integers(1, 80, 50), 30).astype(float)
    T = np.repeat(rng.uniform(30, 3000, 50), 30)
    t_x = T * np.tile(np.linspace(0, 1, 30), 50)  # for each (x, T): last purchase from long ago to today
    alive = fit.p_alive(x, t_x, T)
    expected = fit.expected_purchases(365, x, t_x, T)
    assert ((alive >= 0) & (alive <= 1)).all() and (expected >= 0).all()
    # recency = T − t_x falls along each block of 30: P(alive) and E[purchases] must not fall
    assert (np.diff(alive.reshape(50, 30), axis=1) >= -1e-12).all()
    assert (np.diff(expected.reshape(50, 30), axis=1) >= -1e-9).all()
    assert (fit.p_alive(np.zeros(3), np.zeros(3), np.array([10.0, 100, 1000])) <= 1).all()


def test_sufficient_statistics_need_no_order_and_work_per_partition():
    customer = np.array([2, 0, 1, 0, 2, 0])
    day = np.array([30, 5, 7, 1, 10, 20])
    whole = btyd.sufficient_statistics(customer, day, 40)
    assert (
        whole["x"].tolist() == [2, 0, 1]
        and whole["t_x"].tolist() == [19, 0, 20]
        and whole["T"].tolist() == [39, 33, 30]
    )
    left = btyd.sufficient_statistics(customer[customer < 2], day[customer < 2], 40)
    right = btyd.sufficient_statistics(customer[customer == 2], day[customer == 2], 40)
    assert np.concatenate([left["x"], right["x"]]).tolist() == whole["x"].tolist()


def test_a_model_that_runs_off_to_a_limit_is_reported_as_not_converged():
    # everyone buys exactly every 10 days and nobody leaves: no heterogeneity, r → ∞
    T = np.full(200, 300.0)
    x = np.full(200, 29.0)
    fit = btyd.fit_bgnbd(x, np.full(200, 290.0), T)
    assert not fit.converged and fit.message


@pytest.mark.parametrize("model", ["BG/NBD", "Pareto/NBD"])
def test_a_large_fit_started_from_a_sample_lands_on_the_same_optimum_as_a_plain_fit(model, monkeypatch):
    # 60,000 distinct triples: beyond WARM_START, so the sample fit + Newton steps run; the plain L-BFGS-B
    # fit (WARM_START raised past the data) is the reference
    rng = np.random.default_rng(5)
    if model == "BG/NBD":
        data, fitter = _simulate_bgnbd(0.8, 40.0, 0.9, 3.0, 60_000, rng), btyd.fit_bgnbd
    else:
        data, fitter = _simulate_pareto(0.8, 40.0, 0.7, 120.0, 60_000, rng), btyd.fit_pareto_nbd
    assert len(data[0]) > btyd.WARM_START
    fast = fitter(*data)
    monkeypatch.setattr(btyd, "WARM_START", 10**9)
    plain = fitter(*data)
    assert fast.converged and plain.converged
    for name in plain.params:
        assert fast.params[name] == pytest.approx(plain.params[name], rel=1e-5)
        assert fast.standard_errors[name] == pytest.approx(plain.standard_errors[name], rel=0.02)
    assert fast.log_likelihood == pytest.approx(plain.log_likelihood, abs=1e-4)


def test_bgnbd_likelihood_is_the_same_with_repeaters_sliced_or_masked():
    x = np.array([0.0, 0, 0, 1, 4, 30])
    t_x = np.array([0.0, 0, 0, 5, 50, 300])
    T = np.array([10.0, 100, 400, 50, 60, 400])
    theta = np.log([0.4, 30.0, 0.8, 2.5])
    masked = btyd._bgnbd_ll(theta, x, t_x, T, grad=True)
    sliced = btyd._bgnbd_ll(theta, x, t_x, T, grad=True, xs=np.unique(x, return_inverse=True), first_repeat=3)
    np.testing.assert_allclose(sliced[0], masked[0], rtol=1e-13)
    np.testing.assert_allclose(sliced[1], masked[1], rtol=1e-12)
    # x = 0: the whole likelihood is r ln(α/(α+T))
    np.testing.assert_allclose(masked[0][:3], 0.4 * np.log(30 / (30 + T[:3])), rtol=1e-12)


def test_pareto_likelihood_is_the_same_with_2f1_evaluated_once_per_distinct_pair():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 4, 400).astype(float)
    T = rng.integers(5, 12, 400).astype(float)
    t_x = np.where(x > 0, np.minimum(rng.integers(0, 12, 400), T), 0.0)
    pairs = (btyd._pair_index(x, t_x), btyd._pair_index(x, T))
    assert pairs[0] is not None and pairs[1] is not None and len(pairs[1][0]) < 50
    for theta in (np.log([0.6, 7.0, 0.6, 8.0]), np.log([0.6, 9.0, 0.6, 3.0])):  # α ≥ β and α < β
        each = btyd._pareto_ll(theta, x, t_x, T, grad=True)
        once = btyd._pareto_ll(theta, x, t_x, T, grad=True, pairs=pairs)
        np.testing.assert_allclose(once[0], each[0], rtol=1e-13)
        np.testing.assert_allclose(once[1], each[1], rtol=1e-12)
