"""Test accuracy of a performance model and the regression metrics of its predictions.

TA (the paper's eq. 17) of one evaluation batch of predictions ``ŷ`` against actual ``y``::

    TA = 1 - sum|y - ŷ| / sum(y)

i.e. one minus the batch's relative absolute error (1 = perfect, 0 = off by as much as the
actual progress, negative = worse). **Guard for y = 0**: the denominator is floored at
``y_floor`` per prediction (default 1 part), ``max(sum(y), n * y_floor)``: an idle hour
that was predicted idle scores 1, one predicted busy scores 1 - error/n; TA never divides
by zero. ΔTA_t = TA_t - TA_(t-1) (eq. 18).

Metrics (before/after an update, the paper's Fig. 15): MAE, RMSE, SMAPE (percent, 0..200,
pairs with y = ŷ = 0 count as 0 error), R² (1 - SS_res/SS_tot; NaN when y is constant).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Smallest actual progress per prediction used in TA's denominator (parts).
Y_FLOOR = 1.0


def batch_ta(y: np.ndarray, y_hat: np.ndarray, *, y_floor: float = Y_FLOOR) -> float:
    """TA of one batch (1-D arrays of actual and predicted progress); NaN for an empty batch."""
    y = np.asarray(y, dtype=float).ravel()
    y_hat = np.asarray(y_hat, dtype=float).ravel()
    if y.shape != y_hat.shape:
        raise ValueError(f"actual and predicted differ in length: {y.shape} vs {y_hat.shape}")
    if len(y) == 0:
        return math.nan
    denom = max(float(np.abs(y).sum()), len(y) * y_floor)
    return 1.0 - float(np.abs(y - y_hat).sum()) / denom


def delta_ta(ta: np.ndarray) -> np.ndarray:
    """ΔTA: change of TA from one batch to the next (length n - 1)."""
    return np.diff(np.asarray(ta, dtype=float))


@dataclass(frozen=True)
class TaPoint:
    """TA of the predictions whose outcome became known in ``(t - batch_s, t]``.

    Attributes:
        t: end of the evaluation batch [s] (when its last actual value was known).
        ta: test accuracy; n: predictions in the batch;
        mae: their mean absolute error (parts).
    """

    t: float
    ta: float
    n: int
    mae: float


def ta_series(t_pred: np.ndarray, y: np.ndarray, y_hat: np.ndarray, horizon_s: float,
              batch_s: float, *, t_start: float | None = None, t_stop: float | None = None,
              y_floor: float = Y_FLOOR) -> list[TaPoint]:
    """TA per evaluation batch. A prediction made at ``t_pred`` is judged when its outcome
    is known, at ``t_pred + horizon_s``; batches are ``batch_s`` long and end on multiples
    of ``batch_s`` between ``t_start`` and ``t_stop`` (seconds). Predictions with unknown
    outcome (NaN) are skipped."""
    t_known = np.asarray(t_pred, dtype=float) + horizon_s
    y = np.asarray(y, dtype=float)
    y_hat = np.asarray(y_hat, dtype=float)
    ok = ~np.isnan(y)
    t_known, y, y_hat = t_known[ok], y[ok], y_hat[ok]
    if not len(t_known):
        return []
    lo = t_known.min() if t_start is None else t_start
    hi = t_known.max() if t_stop is None else t_stop
    out: list[TaPoint] = []
    end = math.floor(lo / batch_s) * batch_s + batch_s
    while end <= hi + 1e-9:
        m = (t_known > end - batch_s + 1e-9) & (t_known <= end + 1e-9)
        if m.any():
            out.append(TaPoint(float(end), batch_ta(y[m], y_hat[m], y_floor=y_floor),
                               int(m.sum()), float(np.abs(y[m] - y_hat[m]).mean())))
        end += batch_s
    return out


# -- metrics ---------------------------------------------------------------------------
def mae(y: np.ndarray, y_hat: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(y, float) - np.asarray(y_hat, float))))


def rmse(y: np.ndarray, y_hat: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y, float) - np.asarray(y_hat, float)) ** 2)))


def smape(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Symmetric MAPE in percent: mean 200 |y - ŷ| / (|y| + |ŷ|); 0 where both are 0."""
    y = np.asarray(y, float)
    y_hat = np.asarray(y_hat, float)
    denom = np.abs(y) + np.abs(y_hat)
    terms = np.where(denom > 0, 200.0 * np.abs(y - y_hat) / np.where(denom > 0, denom, 1.0), 0.0)
    return float(terms.mean())


def r2(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Coefficient of determination; NaN when ``y`` is constant (R² undefined)."""
    y = np.asarray(y, float)
    y_hat = np.asarray(y_hat, float)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    if ss_tot == 0:
        return math.nan
    return 1.0 - float(((y - y_hat) ** 2).sum()) / ss_tot


def metrics(y: np.ndarray, y_hat: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, SMAPE (%) and R² of predictions ``y_hat`` against actual ``y``."""
    return {"MAE": mae(y, y_hat), "RMSE": rmse(y, y_hat), "SMAPE": smape(y, y_hat), "R2": r2(y, y_hat)}
