"""Buy-till-you-die models: BG/NBD, Pareto/NBD and Gamma-Gamma, fitted on sufficient statistics.

Seed 004 「關於客戶價值分析」 ends with a customer's value from a purchase count that is Poisson per
customer with gamma-distributed rates across customers (假設三、四) and a spend per purchase that is
gamma per customer with gamma-distributed scales (假設五、六): the NBD family and Gamma-Gamma. The
standard forms with a dropout process are

* **Pareto/NBD** (Schmittlein, Morrison & Colombo 1987; likelihood and P(alive) as in Fader & Hardie,
  "A Note on Deriving the Pareto/NBD Model and Related Expressions", 2005): purchases Poisson(λ) while
  alive, lifetime exponential(μ), λ ~ Gamma(r, α), μ ~ Gamma(s, β);
* **BG/NBD** (Fader, Hardie & Lee, "Counting Your Customers the Easy Way", 2005): purchases
  Poisson(λ), after each purchase the customer leaves with probability p, λ ~ Gamma(r, α),
  p ~ Beta(a, b);
* **Gamma-Gamma** (Fader, Hardie & Lee, "RFM and CLV: Using Iso-Value Curves", 2005, and Fader &
  Hardie's note "The Gamma-Gamma Model of Monetary Value", 2013): the mean spend m_x over a
  customer's x repeat purchases, spend ~ Gamma(p, ν), ν ~ Gamma(q, γ).

Every customer is summarised by (x, t_x, T): x repeat purchase days (visits − 1), t_x the time from
the first to the last visit, T the time from the first visit to the as-of day. These *sufficient
statistics* compress: the likelihood is a sum over customers, so it is evaluated once per distinct
triple, weighted by how many customers share it (:func:`compress`). Day-resolution logs of a million
customers have a few tens of thousands of distinct triples.

Fitting is maximum likelihood on log-parameters with L-BFGS and analytic gradients for all three
models. The Pareto/NBD likelihood's second term is an integral, usually written with Gauss's
hypergeometric function 2F1, whose derivative in its parameters has no closed form. Here it is kept
as the integral over the time of death τ ∈ (t_x, T)::

    L = Γ(r+x)/Γ(r) · α^r β^s · [ (α+T)^−(r+x) (β+T)^−s + s ∫ (α+τ)^−(r+x) (β+τ)^−(s+1) dτ ]

and evaluated after the change of variable y = (α+τ)^−(r+s+x), under which the integrand becomes
((α+τ)/(β+τ))^(s+1)/(r+s+x): bounded and monotone, so a 16-node Gauss–Legendre rule gives every
partial derivative (tests: within 1e-7 of finite differences of the exact value). The value itself is
the closed form with 2F1 (Fader & Hardie's eq. 22) in log space. No overflow at x = 300 or T = 3,000 days.

>>> x, t_x, T = np.array([0, 2, 5]), np.array([0.0, 30.0, 60.0]), np.array([90.0, 90.0, 90.0])
>>> fit = BGNBDFit.from_params(r=0.5, alpha=20.0, a=0.8, b=2.5)
>>> np.round(fit.p_alive(x, t_x, T), 3).tolist()
[1.0, 0.379, 0.585]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special
from threadpoolctl import threadpool_limits

#: Gauss–Legendre on [0, 1] for the Pareto/NBD death-time integral, u = 1 − (1 − v)⁴: the nodes crowd toward
#: u = 1, where τ runs fastest (see _pareto_terms); 16 nodes reach the finite-difference noise floor (1e-8)
_V, _W = np.polynomial.legendre.leggauss(16)
_V, _W = (_V + 1) / 2, _W / 2
_NODES, _WEIGHTS = 1 - (1 - _V) ** 4, _W * 4 * (1 - _V) ** 3
LOG_BOUND = 12.0  # |log parameter| ≤ 12: e^12 ≈ 160,000; a fit that reaches it has not converged
MIN_REPEATERS = 2  # fewer customers with a repeat purchase than this: no model can be identified


# ---------------------------------------------------------------------------------------------
# Sufficient statistics: a vectorised step per (customer, visit day) frame, so it runs per partition


def sufficient_statistics(customer: np.ndarray, visit_day: np.ndarray, as_of_day: int) -> dict[str, np.ndarray]:
    """x, t_x, T (whole days) per customer from one row per (customer, distinct visit day).

    ``customer`` are integer codes 0…n−1, ``visit_day`` integer day numbers (any origin), rows in
    any order and distinct per (customer, day) — :func:`processor.analyse.history.visit_history`
    makes them. Customers are the codes present, ascending. Partitions split by customer can each
    call this and concatenate: nothing here looks across customers.

    >>> s = sufficient_statistics(np.array([0, 0, 0, 1]), np.array([10, 20, 40, 35]), 50)
    >>> [s[k].tolist() for k in ("customer", "x", "t_x", "T")]
    [[0, 1], [2, 0], [30, 0], [40, 15]]
    """
    customer = np.asarray(customer, dtype=np.int64)
    day = np.asarray(visit_day, dtype=np.int64)
    if not len(customer):
        empty = np.empty(0, dtype=np.int64)
        return {"customer": empty, "x": empty, "t_x": empty, "T": empty}
    order = np.lexsort((day, customer)) if not _sorted_by(customer, day) else slice(None)
    customer, day = customer[order], day[order]
    start = np.flatnonzero(np.r_[True, customer[1:] != customer[:-1]])
    visits = np.diff(np.r_[start, len(customer)])
    first, last = day[start], day[start + visits - 1]
    return {"customer": customer[start], "x": visits - 1, "t_x": last - first, "T": as_of_day - first}


def _sorted_by(customer: np.ndarray, day: np.ndarray) -> bool:
    step = np.diff(customer)
    return bool((step >= 0).all() and ((step > 0) | (np.diff(day) > 0)).all())


def compress(
    x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T, count, inverse) over the distinct integer triples; ``triple[inverse]`` restores the customers.

    >>> compress(np.array([1, 0, 1]), np.array([5, 0, 5]), np.array([9, 9, 9]))[3].tolist()
    [1, 2]
    """
    x, t_x, T = (np.asarray(v, dtype=np.int64) for v in (x, t_x, T))
    if not len(x):
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty, empty, empty
    t_span = int(T.max() - min(int(T.min()), 0)) + 1
    x_span = int(x.max()) + 1
    if x_span * t_span * t_span < 2**62:  # one integer key: sorting it is ~5x faster than np.unique(axis=0)
        key = (x * t_span + t_x) * t_span + (T - min(int(T.min()), 0))
        keys, first, inverse, count = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
        return x[first], t_x[first], T[first], count, inverse
    triples, inverse, count = np.unique(np.c_[x, t_x, T], axis=0, return_inverse=True, return_counts=True)
    return triples[:, 0], triples[:, 1], triples[:, 2], count, inverse.ravel()


# ---------------------------------------------------------------------------------------------
# Fitted models


@dataclass(frozen=True)
class Fit:
    """A fitted model: parameters, maximised log-likelihood, how many customers, and whether it converged."""

    name: str
    params: dict[str, float]
    log_likelihood: float = float("nan")
    customers: int = 0
    converged: bool = True
    standard_errors: dict[str, float] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True)
class BGNBDFit(Fit):
    """BG/NBD (Fader, Hardie & Lee 2005): P(alive) and expected purchases from (x, t_x, T)."""

    @classmethod
    def from_params(cls, r: float, alpha: float, a: float, b: float) -> BGNBDFit:
        return cls("BG/NBD", {"r": r, "alpha": alpha, "a": a, "b": b})

    def log_likelihood_of(self, x, t_x, T) -> np.ndarray:
        p = self.params
        return _bgnbd_ll(np.log([p["r"], p["alpha"], p["a"], p["b"]]), *_arrays(x, t_x, T), grad=False)

    def p_alive(self, x, t_x, T) -> np.ndarray:
        """FHL 2005 eq. (19): 1 ÷ (1 + [x>0] a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))."""
        x, t_x, T = _arrays(x, t_x, T)
        r, alpha, a, b = (self.params[k] for k in ("r", "alpha", "a", "b"))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds = (
                np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
            )
        return np.where(x > 0, special.expit(-log_odds), 1.0)

    def expected_purchases(self, t, x, t_x, T, p_alive=None) -> np.ndarray:
        """Expected purchases in (T, T+t] (FHL 2005 eq. (10)), with 2F1 Euler-transformed; ``p_alive`` (this
        model's, for the same customers) saves computing it again when several horizons are asked for.

        2F1(r+x, b+x; a+b+x−1; z) = (1−z)^(a−1−r−x) · 2F1(a+b−1−r, a−1; a+b+x−1; z), z = t/(α+T+t):
        the right-hand 2F1 has small upper parameters and stays near 1 however large x is, and
        ((α+T)/(α+T+t))^(r+x)·(1−z)^(a−1−r−x) = (1−z)^(a−1) exactly.
        """
        x, t_x, T = _arrays(x, t_x, T)
        r, alpha, a, b = (self.params[k] for k in ("r", "alpha", "a", "b"))
        t = np.asarray(t, dtype=float)
        z = t / (alpha + T + t)
        log_1mz = np.log1p(-z)
        with np.errstate(all="ignore"):  # extreme parameters give inf·0: those customers come out NaN
            f = special.hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
            # 1 − (1−z)^(a−1)·F, written so that a → 1 does not cancel catastrophically
            bracket = -(np.expm1((a - 1) * log_1mz) + np.exp((a - 1) * log_1mz) * (f - 1))
        if abs(a - 1) < 1e-9:  # the formula's removable singularity at a = 1: evaluate just beside it
            return BGNBDFit.from_params(r, alpha, 1 + 2e-9, b).expected_purchases(t, x, t_x, T, p_alive)
        scale = (a + b + x - 1) / (a - 1)
        alive = self.p_alive(x, t_x, T) if p_alive is None else p_alive
        return np.maximum(scale * bracket * alive, 0.0)


@dataclass(frozen=True)
class ParetoNBDFit(Fit):
    """Pareto/NBD (Schmittlein et al. 1987; Fader & Hardie 2005 note): P(alive), expected purchases."""

    @classmethod
    def from_params(cls, r: float, alpha: float, s: float, beta: float) -> ParetoNBDFit:
        return cls("Pareto/NBD", {"r": r, "alpha": alpha, "s": s, "beta": beta})

    def log_likelihood_of(self, x, t_x, T) -> np.ndarray:
        p = self.params
        return _pareto_ll(np.log([p["r"], p["alpha"], p["s"], p["beta"]]), *_arrays(x, t_x, T), grad=False)

    def p_alive(self, x, t_x, T) -> np.ndarray:
        """P(alive) = (α+T)^−(r+x)(β+T)^−s ÷ [that + s·∫(α+τ)^−(r+x)(β+τ)^−(s+1)dτ] (FH 2005 note eq. (11))."""
        p = self.params
        log_alive_term, log_death_term = _pareto_terms(p["r"], p["alpha"], p["s"], p["beta"], *_arrays(x, t_x, T))[:2]
        return special.expit(log_alive_term - log_death_term)

    def expected_purchases(self, t, x, t_x, T, p_alive=None) -> np.ndarray:
        """Expected purchases in (T, T+t]: (r+x)(β+T)/((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)] · P(alive)
        (``p_alive``: this model's for the same customers, if already computed)."""
        x, t_x, T = _arrays(x, t_x, T)
        r, alpha, s, beta = (self.params[k] for k in ("r", "alpha", "s", "beta"))
        log_ratio = np.log(beta + T) - np.log(beta + T + np.asarray(t, dtype=float))
        # [1 − e^((s−1)L)] ÷ (s−1) → −L as s → 1
        over = -np.expm1((s - 1) * log_ratio) / (s - 1) if abs(s - 1) > 1e-9 else -log_ratio
        alive = self.p_alive(x, t_x, T) if p_alive is None else p_alive
        return (r + x) * (beta + T) / (alpha + T) * over * alive


@dataclass(frozen=True)
class GammaGammaFit(Fit):
    """Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie 2013 note)."""

    @classmethod
    def from_params(cls, p: float, q: float, gamma: float) -> GammaGammaFit:
        return cls("Gamma-Gamma", {"p": p, "q": q, "gamma": gamma})

    def expected_spend(self, x, mean_spend) -> np.ndarray:
        """E[M | x, m_x] = (q−1)/(px+q−1) · γp/(q−1) + px/(px+q−1) · m_x: the customer's mean spend shrunk
        toward the population mean γp/(q−1) — the fewer purchases, the more shrinkage (needs q > 1)."""
        p, q, gamma = (self.params[k] for k in ("p", "q", "gamma"))
        x = np.asarray(x, dtype=float)
        m = np.nan_to_num(np.asarray(mean_spend, dtype=float))
        return (gamma * p + p * x * m) / (p * x + q - 1)

    @property
    def population_mean(self) -> float:
        p, q, gamma = (self.params[k] for k in ("p", "q", "gamma"))
        return gamma * p / (q - 1) if q > 1 else float("nan")


# ---------------------------------------------------------------------------------------------
# Fitting


def fit_bgnbd(x, t_x, T, weights=None, standard_errors: bool = True) -> BGNBDFit:
    """Maximum-likelihood BG/NBD on (x, t_x, T) triples, each weighted by its count of customers.

    CDNOW sample, weeks (tests/test_btyd.py): r 0.243, α 4.414, a 0.793, b 2.426, LL −9582.4 (FHL 2005).
    """
    x, t_x, T, w = _checked(x, t_x, T, weights)
    start = np.log([1.0, _rate_scale(x, T, w), 1.0, 1.0])
    return _fit(BGNBDFit, ("r", "alpha", "a", "b"), _bgnbd_ll, start, standard_errors, x, t_x, T, w)


def fit_pareto_nbd(x, t_x, T, weights=None, standard_errors: bool = True) -> ParetoNBDFit:
    """Maximum-likelihood Pareto/NBD on weighted (x, t_x, T) triples.

    CDNOW sample, weeks: r 0.553, α 10.578, s 0.606, β 11.669, LL −9595.0 (Fader & Hardie 2005 note).
    """
    x, t_x, T, w = _checked(x, t_x, T, weights)
    scale = _rate_scale(x, T, w)
    start = np.log([1.0, scale, 1.0, max(float(np.average(T, weights=w)), 1e-3)])
    return _fit(ParetoNBDFit, ("r", "alpha", "s", "beta"), _pareto_ll, start, standard_errors, x, t_x, T, w)


def fit_gamma_gamma(x, mean_spend, weights=None, standard_errors: bool = True) -> GammaGammaFit:
    """Maximum-likelihood Gamma-Gamma on customers with x ≥ 1 repeat purchases and their mean spend
    per repeat purchase (Fader, Hardie & Lee 2005 "RFM and CLV": CDNOW p 6.25, q 3.74, γ 15.44,
    LL −4055.9 over the 946 repeaters).
    """
    x = np.asarray(x, dtype=float)
    m = np.asarray(mean_spend, dtype=float)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=float)
    keep = (x > 0) & (m > 0) & np.isfinite(m)
    x, m, w = x[keep], m[keep], w[keep]
    if len(x) < MIN_REPEATERS:
        return GammaGammaFit(
            "Gamma-Gamma",
            {},
            customers=int(w.sum()),
            converged=False,
            message=f"only {int(w.sum())} customers with a repeat purchase and positive spend",
        )
    start = np.log([1.0, 2.0, max(float(np.average(m, weights=w)), 1e-6)])
    return _fit(GammaGammaFit, ("p", "q", "gamma"), _gamma_gamma_ll, start, standard_errors, x, m, w)


def _fit(cls, names, loglik, start, with_errors, *data_and_weights) -> Fit:
    """Maximum likelihood on log-parameters; ``with_errors`` False skips the observed-information standard
    errors (and the singularity check that comes with them), for refits whose parameters nobody reads.

    Up to :data:`WARM_START` triples: L-BFGS-B from ``start``. Beyond, the same on a seeded sample of
    :data:`WARM_START` customers drawn in proportion to the counts (it lands within sampling error of the
    optimum), then Newton steps on all the triples, starting from the sample's Hessian (of the mean
    log-likelihood, so it estimates the full one; k forward differences of the analytic gradient) refined by
    BFGS updates: each step is one pass over the data, and four to six reach the optimum where L-BFGS-B
    from scratch takes 30–60. A step that does not improve the likelihood hands over to L-BFGS-B from
    ``start``. Standard errors: the full data's Hessian at the optimum (k more passes).
    """
    *data, w = data_and_weights
    objective = _objective(loglik, data, w)
    theta, value, gradient, message, success = None, np.inf, None, "", True
    if len(w) > WARM_START:
        rng = np.random.default_rng(0)
        picked = np.bincount(rng.choice(len(w), WARM_START, p=w / w.sum()), minlength=len(w))
        keep = picked > 0
        sample = _objective(loglik, [d[keep] for d in data], picked[keep].astype(float))
        rough = _lbfgs(sample, start)
        if not (np.abs(rough.x) > LOG_BOUND - 1).any():
            value, gradient = objective(rough.x)
            theta, value, gradient = _newton(objective, rough.x, value, gradient, _hessian(sample, rough.x, rough.jac))
    if theta is None:
        result = _lbfgs(objective, start)
        theta, value, gradient, message, success = result.x, result.fun, result.jac, str(result.message), result.success
    total = float(w.sum())
    ll = -value * total
    at_bound = np.abs(theta) > LOG_BOUND - 1  # e^11 ≈ 60,000: running off toward a limit of the model
    converged = bool(np.isfinite(ll) and not at_bound.any() and (success or np.abs(gradient).max() < 1e-5))
    if not converged:
        message = (
            "parameter " + ", ".join(np.asarray(names)[at_bound]) + " ran off toward its limit"
            if at_bound.any()
            else message or "the likelihood's gradient did not vanish"
        )
    else:
        message = ""
    params = dict(zip(names, np.exp(theta).tolist()))
    if converged and with_errors:
        errors = _standard_errors(_hessian(objective, theta, gradient), total)
    else:
        errors = np.empty(0)
    if converged and with_errors and not (np.isfinite(errors).all() and (errors > 0).all()):
        converged, message = False, "the information matrix is singular: the parameters are not identified"
    return cls(
        cls.__name__.replace("Fit", "")
        .replace("BGNBD", "BG/NBD")
        .replace("ParetoNBD", "Pareto/NBD")
        .replace("GammaGamma", "Gamma-Gamma"),
        params,
        ll,
        int(round(total)),
        converged,
        dict(zip(names, (np.exp(theta) * errors).tolist())) if len(errors) else {},
        message,
    )


WARM_START = 20_000  # triples beyond this: a sample's fit, then Newton steps on all of them (see _fit)


def _objective(loglik, data, w):
    """θ ↦ (−mean log-likelihood, its gradient) over weighted triples: x-only terms once per distinct x,
    triples ordered x = 0 first so repeater-only terms run on a slice (see :func:`_bgnbd_ll`)."""
    order = np.argsort(data[0] > 0, kind="stable")
    data, w = [d[order] for d in data], w[order]
    first_repeat = int(np.searchsorted(data[0] > 0, True))
    xs = _x_index(data[0])
    total = float(w.sum())
    extra = (
        {"first_repeat": first_repeat}
        if loglik is _bgnbd_ll
        else {"pairs": (_pair_index(data[0], data[1]), _pair_index(data[0], data[2]))}
        if loglik is _pareto_ll
        else {}
    )

    def objective(theta):
        with np.errstate(all="ignore"):  # far from the optimum terms can be inf/NaN: handled just below
            ll, grad = loglik(theta, *data, grad=True, xs=xs, **extra)
        value = -float(w @ ll) / total
        gradient = -(w @ grad) / total
        if not np.isfinite(value) or not np.isfinite(gradient).all():
            return 1e10, np.zeros_like(theta)  # outside where the likelihood is finite: step back
        return value, gradient

    return objective


def _lbfgs(objective, start):
    """L-BFGS-B with one BLAS thread: its steps are on three or four parameters, where OpenBLAS's
    threads only spin and contend (small fits took 6x the CPU and wall on a busy two-core machine)."""
    with threadpool_limits(limits=1, user_api="blas"):
        return optimize.minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-LOG_BOUND, LOG_BOUND)] * len(start),
            options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-9},
        )


def _newton(objective, theta, value, gradient, hessian, steps: int = 20):
    """(θ, value, gradient) after Newton steps from ``hessian``, refined by BFGS's secant update along each
    step (no extra evaluations; convergence becomes superlinear), or (None, …) when a step fails."""
    if not (np.linalg.eigvalsh(hessian) > 0).all():
        return None, np.inf, None
    for _ in range(steps):  # a handful of full passes; each a vectorised evaluation over the triples
        step = -np.linalg.solve(hessian, gradient)
        if np.abs(step).max() < 1e-7:
            break
        new_value, new_gradient = objective(theta + step)
        if not new_value <= value + 1e-12 * abs(value):
            return None, np.inf, None
        change = new_gradient - gradient
        if change @ step > 0:
            pushed = hessian @ step
            hessian = hessian + np.outer(change, change) / (change @ step) - np.outer(pushed, pushed) / (step @ pushed)
        theta, value, gradient = theta + step, new_value, new_gradient
    return theta, value, gradient


def _hessian(objective, theta, gradient) -> np.ndarray:
    """Hessian of ``objective`` at θ by forward differences of its analytic gradient (k more evaluations)."""
    k = len(theta)
    hessian = np.empty((k, k))
    for i in range(k):  # k ≤ 4 gradients: a loop over parameters, not customers
        step = np.zeros(k)
        step[i] = 1e-5
        hessian[i] = (objective(theta + step)[1] - gradient) / 1e-5
    return (hessian + hessian.T) / 2


def _standard_errors(hessian: np.ndarray, total: float) -> np.ndarray:
    """Standard errors of the log-parameters from the observed information (``hessian`` of the mean −LL,
    :func:`_hessian`, times the customers); multiplied by the parameter they give the delta-method s.e."""
    try:
        covariance = np.linalg.inv(hessian * total)
    except np.linalg.LinAlgError:
        return np.full(len(hessian), np.nan)
    return np.sqrt(np.clip(np.diag(covariance), 0, None))


def _checked(x, t_x, T, weights):
    x, t_x, T = _arrays(x, t_x, T)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=float)
    if len(x) != len(t_x) or len(x) != len(T) or len(x) != len(w):
        raise ValueError("x, t_x, T and weights must have one entry per customer")
    if ((t_x < 0) | (t_x > T) | (x < 0) | ((x == 0) & (t_x != 0))).any():
        raise ValueError("need x ≥ 0, 0 ≤ t_x ≤ T, and t_x = 0 when x = 0")
    return x, t_x, T, w


def _arrays(x, t_x, T):
    return (np.asarray(x, dtype=float), np.asarray(t_x, dtype=float), np.asarray(T, dtype=float))


def _rate_scale(x, T, w) -> float:
    """A starting α: with r = 1, the mean purchase rate x̄/T̄ means α = T̄/x̄."""
    mean_x = float(np.average(x, weights=w))
    return max(float(np.average(T, weights=w)) / max(mean_x, 0.05), 1e-3)


# ---------------------------------------------------------------------------------------------
# Log-likelihoods per triple, with gradients in the log-parameters


def _bgnbd_ll(theta, x, t_x, T, grad: bool, xs=None, first_repeat=None):
    """FHL 2005 eq. (6): ln L = A1 + A2 + ln(e^A3 + [x>0] e^A4), gradient by digamma terms.

    ``xs`` = (distinct x, index of each triple's x) from :func:`_x_index`: the gamma-function terms depend on x
    alone, so they are evaluated once per distinct x (a few hundred values) and gathered. The A4 term
    exists only for repeaters (x > 0): when the triples are ordered with x = 0 first, ``first_repeat`` says
    where the repeaters start and that term is computed on their slice alone (most customers never repeat)."""
    r, alpha, a, b = np.exp(theta)
    ux, gather = _by_x(x, xs)
    rep = slice(first_repeat, None) if first_repeat is not None else np.flatnonzero(x > 0)
    x_r, t_r = x[rep], t_x[rep]
    log_at = np.log(alpha + T)
    # A1 + A2 + A3 for everyone; for x = 0 that is the whole likelihood, r ln(α/(α+T))
    ll = gather(special.gammaln(r + ux) + special.betaln(a, b + ux)) - special.gammaln(r) - special.betaln(a, b)
    ll += r * np.log(alpha) - (r + x) * log_at
    log_at_r = log_at[rep]
    log_atx = np.log(alpha + t_r)
    bx1 = b + x_r - 1
    d = np.log(a) - np.log(bx1) - (r + x_r) * (log_atx - log_at_r)  # A4 − A3
    e = np.exp(-np.abs(d))
    ll[rep] += np.maximum(d, 0) + np.log1p(e)  # ln(1 + e^(A4−A3)), never overflowing
    if not grad:
        return ll
    w4 = np.where(d > 0, 1 / (1 + e), e / (1 + e))  # share of the "left right after the last purchase" term
    psi_rx, psi_abx, psi_bx = (gather(special.digamma(v + ux)) for v in (r, a + b, b))
    d_r = psi_rx - special.digamma(r) + np.log(alpha) - log_at
    d_r[rep] += w4 * (log_at_r - log_atx)
    inv_at = 1 / (alpha + T)
    d_alpha = r / alpha - (r + x) * inv_at
    d_alpha[rep] += (r + x_r) * w4 * (inv_at[rep] - 1 / (alpha + t_r))
    d_a = special.digamma(a + b) - psi_abx
    d_a[rep] += w4 / a
    d_b = psi_bx - psi_abx - special.digamma(b) + special.digamma(a + b)
    d_b[rep] -= w4 / bx1
    return ll, np.c_[d_r * r, d_alpha * alpha, d_a * a, d_b * b]


def _by_x(x, xs):
    """(values to evaluate x-only terms at, a gather back to the triples): the distinct x when ``xs`` is given."""
    if xs is None:
        return x, lambda v: v
    ux, inverse = xs
    return ux, lambda v: v[inverse]


def _pair_index(x, t) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(distinct x, their t, inverse) of the (x, t) pairs when there are at most half as many as rows, else None."""
    order = np.lexsort((t, x))
    xo, to = x[order], t[order]
    new = np.r_[True, (xo[1:] != xo[:-1]) | (to[1:] != to[:-1])]
    if new.sum() * 2 > len(x):
        return None
    inverse = np.empty(len(x), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return xo[new], to[new], inverse


def _x_index(x) -> tuple[np.ndarray, np.ndarray] | None:
    """(distinct x, inverse) when x repeats enough to pay for the gather (counts: always), else None."""
    ux, inverse = np.unique(x, return_inverse=True)
    return (ux, inverse) if len(ux) * 4 < len(x) else None


def _pareto_terms(r, alpha, s, beta, x, t_x, T, moments: bool = False, pairs=None):
    """log of (α+T)^−(r+x)(β+T)^−s and of s·∫_{t_x}^{T}(α+τ)^−(r+x)(β+τ)^−(s+1)dτ; with ``moments`` also the
    integrand-weighted means of log(α+τ), 1/(α+τ), log(β+τ), 1/(β+τ) the gradient needs.

    The value is the closed form of Fader & Hardie's note (eq. 22, 2F1 in log space). The moments
    come from Gauss–Legendre quadrature: write the integrand (c+τ)^−A (d+τ)^−B with B the smaller
    exponent of s+1 (c = α) and r+x (c = β); y = (c+τ)^−p, p = A+B−1 = r+s+x, maps the integral to
    (1/p)∫((c+τ)/(d+τ))^B dy, whose integrand varies least; with u ∈ [0, 1], y = y_tx·(1 − u(1−ρ)),
    ρ = ((c+t_x)/(c+T))^p; near u = 1 (τ → T when ρ ≈ 0) τ moves like (1−u)^(−1/p), hence nodes crowded there.
    """
    log_alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    log_death = _pareto_log_death(r, alpha, s, beta, x, t_x, T, pairs)
    if not moments:
        return log_alive, log_death
    p = r + s + x
    swap = (r + x) < (s + 1)  # per customer: put the smaller exponent on the ratio
    c, d = np.where(swap, beta, alpha), np.where(swap, alpha, beta)
    B = np.where(swap, r + x, s + 1)
    log_ct, log_ctx = np.log(c + T), np.log(c + t_x)
    log_rho = p * (log_ctx - log_ct)
    one_minus_rho = -np.expm1(log_rho)
    # the ratio relative to its value at τ = t_x keeps exp() in range whatever α/β is
    delta_tx = log_ctx - np.log(d + t_x)
    total = np.zeros_like(log_ct)
    sums = [np.zeros_like(log_ct) for _ in range(4)]
    for u, weight in zip(_NODES, _WEIGHTS):  # quadrature points, not customers
        log_c_tau = log_ctx - np.log1p(-u * one_minus_rho) / p
        d_tau = np.exp(log_c_tau) - c + d
        log_d_tau = np.log(d_tau)
        q = weight * np.exp(B * (log_c_tau - log_d_tau - delta_tx))
        total += q
        sums[0] += q * log_c_tau
        sums[1] += q * np.exp(-log_c_tau)
        sums[2] += q * log_d_tau
        sums[3] += q / d_tau
    m = [v / total for v in sums]
    # back from (c, d) to (α, β)
    return (
        log_alive,
        log_death,
        [
            np.where(swap, m[2], m[0]),
            np.where(swap, m[3], m[1]),
            np.where(swap, m[0], m[2]),
            np.where(swap, m[1], m[3]),
        ],
    )


def _pareto_log_death(r, alpha, s, beta, x, t_x, T, pairs=None):
    """log(s/(r+s+x) · A0), A0 of Fader & Hardie (2005 note, eq. 22): 2F1(p, b; p+1; (m−n)/(m+t))/(m+t)^p at
    t = t_x minus the same at t = T, p = r+s+x, (m, n, b) = (α, β, s+1) if α ≥ β else (β, α, r+x).
    Computed as log F(t_x) − p log(m+t_x) + log(1 − F(T)/F(t_x)·((m+t_x)/(m+T))^p): no overflow at
    x = 300, T = 3,000; −inf when t_x = T. ``pairs`` (:func:`_pair_index` of (x, t_x) and of (x, T)): 2F1 is
    evaluated once per distinct pair — day-resolution logs have far fewer pairs than triples."""
    p = r + s + x
    m, n = max(alpha, beta), min(alpha, beta)

    def log_f(xv, t):  # log 2F1(p, b; p+1; (m−n)/(m+t)) for (x, t)
        return np.log(special.hyp2f1(r + s + xv, s + 1 if alpha >= beta else r + xv, r + s + xv + 1, (m - n) / (m + t)))

    pairs = pairs or (None, None)
    log_f_tx, log_f_t = (
        log_f(x, t) if index is None else log_f(index[0], index[1])[index[2]] for index, t in zip(pairs, (t_x, T))
    )
    log_ratio = log_f_t - log_f_tx + p * (np.log(m + t_x) - np.log(m + T))
    with np.errstate(divide="ignore"):
        return np.log(s) - np.log(p) + log_f_tx - p * np.log(m + t_x) + np.log(-np.expm1(np.minimum(log_ratio, 0.0)))


def _pareto_ll(theta, x, t_x, T, grad: bool, xs=None, pairs=None):
    """Pareto/NBD: ln L = ln Γ(r+x) − ln Γ(r) + r ln α + s ln β + ln(alive term + death term)."""
    r, alpha, s, beta = np.exp(theta)
    ux, per_x = _by_x(x, xs)
    terms = _pareto_terms(r, alpha, s, beta, x, t_x, T, moments=grad, pairs=pairs)
    log_alive, log_death = terms[0], terms[1]
    mix = np.logaddexp(log_alive, log_death)
    ll = per_x(special.gammaln(r + ux)) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta) + mix
    if not grad:
        return ll
    mean_log_a, mean_inv_a, mean_log_b, mean_inv_b = terms[2]
    c_alive = np.exp(log_alive - mix)
    c_death = 1 - c_alive
    # where the death term is 0 (t_x = T) its moments are 0/0: they carry no weight
    mean_log_a, mean_inv_a, mean_log_b, mean_inv_b = (
        np.where(c_death > 0, m, 0.0) for m in (mean_log_a, mean_inv_a, mean_log_b, mean_inv_b)
    )
    log_at, log_bt = np.log(alpha + T), np.log(beta + T)
    d_r = per_x(special.digamma(r + ux)) - special.digamma(r) + np.log(alpha) - c_alive * log_at - c_death * mean_log_a
    d_alpha = r / alpha - (r + x) * (c_alive / (alpha + T) + c_death * mean_inv_a)
    d_s = np.log(beta) - c_alive * log_bt + c_death * (1 / s - mean_log_b)
    d_beta = s / beta - c_alive * s / (beta + T) - c_death * (s + 1) * mean_inv_b
    return ll, np.c_[d_r * r, d_alpha * alpha, d_s * s, d_beta * beta]


def _gamma_gamma_ll(theta, x, m, grad: bool, xs=None):
    """ln f(m_x | p, q, γ, x) = ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln γ + (px−1) ln m_x + px ln x
    − (px+q) ln(γ + m_x x)."""
    p, q, gamma = np.exp(theta)
    ux, per_x = _by_x(x, xs)
    px = p * x
    log_gmx = np.log(gamma + m * x)
    log_mx = np.log(m) + np.log(x)
    ll = (
        per_x(special.gammaln(p * ux + q) - special.gammaln(p * ux))
        - special.gammaln(q)
        + q * np.log(gamma)
        + px * log_mx
        - np.log(m)
        - (px + q) * log_gmx
    )
    if not grad:
        return ll
    psi = per_x(special.digamma(p * ux + q))
    d_p = x * (psi - per_x(special.digamma(p * ux)) + log_mx - log_gmx)
    d_q = psi - special.digamma(q) + np.log(gamma) - log_gmx
    d_gamma = q / gamma - (px + q) / (gamma + m * x)
    return ll, np.c_[d_p * p, d_q * q, d_gamma * gamma]


def log_likelihood(fit: Fit, x, t_x, T, weights=None) -> float:
    """The summed log-likelihood of weighted triples under a fitted count model."""
    w = np.ones(len(np.atleast_1d(x))) if weights is None else np.asarray(weights, dtype=float)
    return float(w @ fit.log_likelihood_of(x, t_x, T))


__all__ = [
    "BGNBDFit",
    "Fit",
    "GammaGammaFit",
    "ParetoNBDFit",
    "compress",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_pareto_nbd",
    "log_likelihood",
    "sufficient_statistics",
]
