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


#: the prior degrees of freedom are capped at this many times a feature's residual df
D0_MAX_FACTOR = 5.0


def trend_basis(x: np.ndarray, n: int) -> np.ndarray:
    """Linear-spline basis of a covariate (intercept, slope, hinges at quantiles) with
    limma's number of degrees of freedom for ``n`` values: 1 + (n >= 3) + (n >= 6) +
    (n >= 30), at most the covariate's distinct values."""
    x = np.asarray(x, dtype=float)
    k = min(1 + (n >= 3) + (n >= 6) + (n >= 30), np.unique(x).size)
    cols = [np.ones_like(x)]
    if k >= 2:
        cols.append(x)
    for q in np.linspace(0, 1, k)[1:-1]:
        cols.append(np.maximum(x - np.quantile(x, q), 0.0))
    return np.column_stack(cols)


def fit_f_dist(s2: np.ndarray, df: np.ndarray, covariate=None):
    """Prior variance ``s0^2`` and prior degrees of freedom ``d0`` of sample variances
    ``s2`` on ``df`` degrees of freedom (limma's ``fitFDist``): ``d0 = inf`` when the
    variances vary no more than sampling explains. With ``covariate`` (e.g. a feature's
    average expression; limma's ``trend=TRUE``) the prior's log-variance is a linear
    spline of it (:func:`trend_basis`) and ``s0^2`` is an array (NaN where ``s2`` or the
    covariate is not finite); without, a float."""
    s2_all = np.asarray(s2, dtype=float)
    df_all = np.broadcast_to(np.asarray(df, dtype=float), s2_all.shape)
    ok = np.isfinite(s2_all) & (df_all > 0)
    if covariate is not None:
        cov_all = np.broadcast_to(np.asarray(covariate, dtype=float), s2_all.shape)
        ok &= np.isfinite(cov_all)
    s2, df = s2_all[ok], df_all[ok]
    if s2.size == 0:
        return (np.full(s2_all.shape, np.nan) if covariate is not None else np.nan), 0.0
    pos = s2[s2 > 0]
    floor = 1e-5 * (np.median(pos) if pos.size else 1.0)
    s2 = np.maximum(s2, floor)
    e = np.log(s2) - special.digamma(df / 2) + np.log(df / 2)
    if covariate is None or s2.size < 3:
        basis = np.ones((s2.size, 1))
    else:
        basis = trend_basis(cov_all[ok], s2.size)
    coef = np.linalg.lstsq(basis, e, rcond=None)[0]
    emean = basis @ coef
    if s2.size <= basis.shape[1]:
        d0, s0 = 0.0, np.exp(emean)
    else:
        resid = ((e - emean) ** 2).sum() / (s2.size - basis.shape[1])
        evar = resid - special.polygamma(1, df / 2).mean()
        if evar > 0:
            d0 = float(2 * trigamma_inverse(evar)[0])
            s0 = np.exp(emean + special.digamma(d0 / 2) - np.log(d0 / 2))
        else:
            d0, s0 = np.inf, np.exp(emean)
    if covariate is None:
        return float(np.mean(s0)), d0
    out = np.full(s2_all.shape, np.nan)
    out[ok] = s0
    return out, d0


def squeeze_var(s2: np.ndarray, df: np.ndarray, covariate=None):
    """Posterior variances ``(d0 s0^2 + d s^2) / (d0 + d)`` (limma's ``squeezeVar``),
    with the prior ``s0^2`` (an array with ``covariate``) and ``d0`` (at most
    ``D0_MAX_FACTOR`` times the median residual df)."""
    s2 = np.asarray(s2, dtype=float)
    df = np.broadcast_to(np.asarray(df, dtype=float), s2.shape)
    s0, d0 = fit_f_dist(s2, df, covariate)
    # a feature's own variance keeps at least 1 / (1 + D0_MAX_FACTOR) of the weight: with
    # d0 = inf (limma's answer when the variances vary less than chi-square predicts) a
    # feature whose spread comes from one outlier sample would be read with the prior's
    # small variance and called
    finite_df = df[np.isfinite(s2) & (df > 0)]
    if finite_df.size:
        d0 = min(d0, D0_MAX_FACTOR * float(np.median(finite_df)))
    if not np.all(np.isfinite(s0)) and covariate is None:
        return s2.copy(), s0, 0.0
    if np.isinf(d0):
        post = np.where(np.isfinite(s2), s0, np.nan)
    else:
        post = (d0 * s0 + df * s2) / (d0 + df)
    if covariate is not None:  # no trend value (covariate NaN): the variance unshrunk
        post = np.where(np.isfinite(post), post, s2)
    return post, s0, d0


def moderated_t(values, in_test, *, moderate: bool = True, covariate=None) -> pd.DataFrame:
    """Two-group moderated t-test per row of ``values`` (features x samples).

    ``in_test``: boolean per sample (True: test condition, False: reference). NaN values
    leave that sample out of that feature. Returns per feature ``effect`` (mean of test
    minus mean of reference), ``stat`` (moderated t), ``p_value`` (two-sided), ``df``
    (residual + prior, capped at the total residual df as limma does), ``s2_post``, and
    ``attrs`` ``s2_prior`` (its median with a covariate), ``df_prior``. ``moderate=False``
    gives the ordinary t-test. ``covariate`` (one value per feature, e.g. its average
    expression): the prior variance follows a trend in it (limma's ``eBayes(trend=TRUE)``),
    for features whose variance depends on their level.
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
        post, s0, d0 = squeeze_var(s2, d, covariate)
        if covariate is not None:
            s0 = float(np.nanmedian(s0)) if np.isfinite(s0).any() else np.nan
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
