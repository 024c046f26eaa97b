"""limma's empirical-Bayes moderated t-test (Smyth 2004; ``squeezeVar``/``eBayes``), for
two groups of samples: written once here, used for the model features, the programs and
the cell-type proportions.

Each feature's variance across samples is shrunk toward a prior fitted across all the
features (``fit_f_dist``: the scaled-F moments of limma's ``fitFDist``); the t statistic
uses the posterior variance and ``df_residual + df_prior`` degrees of freedom. With
``df_prior`` -> 0 it is the ordinary pooled two-sample t-test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats


def trigamma_inverse(x: np.ndarray | float) -> np.ndarray:
    """The inverse of the trigamma function (limma's ``trigammaInverse``, Newton steps)."""
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = 0.5 + 1.0 / x
    big, small = x > 1e7, x < 1e-6
    y[big] = 1.0 / np.sqrt(x[big])
    y[small] = 1.0 / x[small]
    todo = ~(big | small)
    for _ in range(50):
        if not todo.any():
            break
        tri = special.polygamma(1, y[todo])
        dif = tri * (1 - tri / x[todo]) / special.polygamma(2, y[todo])
        y[todo] += dif
        done = np.zeros_like(todo)
        done[todo] = np.abs(dif / y[todo]) < 1e-8
        todo &= ~done
    return y


def fit_f_dist(s2: np.ndarray, df: np.ndarray) -> tuple[float, float]:
    """Prior variance ``s0^2`` and prior degrees of freedom ``d0`` of sample variances
    ``s2`` on ``df`` degrees of freedom (limma's ``fitFDist`` without covariate):
    ``d0 = inf`` when the variances vary no more than sampling explains."""
    s2 = np.asarray(s2, dtype=float)
    df = np.broadcast_to(np.asarray(df, dtype=float), s2.shape)
    ok = np.isfinite(s2) & (df > 0)
    s2, df = s2[ok], df[ok]
    if s2.size == 0:
        return np.nan, 0.0
    pos = s2[s2 > 0]
    floor = 1e-5 * (np.median(pos) if pos.size else 1.0)
    s2 = np.maximum(s2, floor)
    e = np.log(s2) - special.digamma(df / 2) + np.log(df / 2)
    emean = e.mean()
    if s2.size < 2:
        return float(np.exp(emean)), 0.0
    evar = ((e - emean) ** 2).sum() / (s2.size - 1) - special.polygamma(1, df / 2).mean()
    if evar > 0:
        d0 = float(2 * trigamma_inverse(evar)[0])
        s0 = float(np.exp(emean + special.digamma(d0 / 2) - np.log(d0 / 2)))
    else:
        d0, s0 = np.inf, float(np.exp(emean))
    return s0, d0


def squeeze_var(s2: np.ndarray, df: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Posterior variances ``(d0 s0^2 + d s^2) / (d0 + d)`` (limma's ``squeezeVar``),
    with the prior ``s0^2`` and ``d0``."""
    s2 = np.asarray(s2, dtype=float)
    df = np.broadcast_to(np.asarray(df, dtype=float), s2.shape)
    s0, d0 = fit_f_dist(s2, df)
    if not np.isfinite(s0):
        return s2.copy(), s0, 0.0
    if np.isinf(d0):
        post = np.where(np.isfinite(s2), s0, np.nan)
    else:
        post = (d0 * s0 + df * s2) / (d0 + df)
    return post, s0, d0


def moderated_t(values, in_test, *, moderate: bool = True) -> pd.DataFrame:
    """Two-group moderated t-test per row of ``values`` (features x samples).

    ``in_test``: boolean per sample (True: test condition, False: reference). NaN values
    leave that sample out of that feature. Returns per feature ``effect`` (mean of test
    minus mean of reference), ``stat`` (moderated t), ``p_value`` (two-sided), ``df``
    (residual + prior, capped at the total residual df as limma does), ``s2_post``, and
    ``attrs`` ``s2_prior``, ``df_prior``. ``moderate=False`` gives the ordinary t-test.
    A feature with fewer than 2 samples in a group or no variance has p-value NaN.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    g = np.asarray(in_test, dtype=bool)
    ok = np.isfinite(x)
    n1 = (ok & g).sum(1)
    n2 = (ok & ~g).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        m1 = np.where(ok & g, x, 0).sum(1) / n1
        m2 = np.where(ok & ~g, x, 0).sum(1) / n2
        ss = (np.where(ok & g, x - m1[:, None], 0) ** 2).sum(1) + (
            np.where(ok & ~g, x - m2[:, None], 0) ** 2
        ).sum(1)
        d = (n1 + n2 - 2).astype(float)
        s2 = ss / d
    testable = (n1 >= 2) & (n2 >= 2) & np.isfinite(s2)
    s2 = np.where(testable, s2, np.nan)
    d = np.where(testable, d, 0.0)
    effect = m1 - m2
    if moderate and testable.sum() >= 2:
        post, s0, d0 = squeeze_var(s2, d)
    else:
        post, s0, d0 = s2.copy(), np.nan, 0.0
    df_total = np.minimum(d + d0, d[testable].sum() if testable.any() else 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(post * (1.0 / n1 + 1.0 / n2))
        t = effect / se
    bad = ~testable | ~(se > 0)
    t = np.where(bad, np.nan, t)
    p = np.full(t.shape, np.nan)
    good = ~bad
    p[good] = 2 * stats.t.sf(np.abs(t[good]), df_total[good])
    out = pd.DataFrame({"effect": effect, "stat": t, "p_value": p, "df": df_total, "s2_post": post})
    out.attrs.update(s2_prior=s0, df_prior=d0)
    return out
