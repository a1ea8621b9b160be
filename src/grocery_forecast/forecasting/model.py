"""The forecaster: one LightGBM model for all horizons, trained on many historical origins.

Training replays the prediction situation many times: at weekly origins before the end of the
history it builds the same features the prediction Lambda will build (one module, no copy) and
learns ``log1p(max(sales, 0))`` of each of the next 16 days, weighting perishables 1.25 as the
metric does. Because the loss is squared error on ``log1p`` with those weights, the validation
loss is exactly the square of Favorita's NWRMSLE.

The artifact is a fixed-layout directory (``model.txt`` + ``metadata.json``) that records the
feature names in order, the feature spec, the category maps, the training window and a hash of
the training data, so a model can be audited, versioned under ``models/<version>/`` and refused
when the library that loads it would compute different features.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# LightGBM's OpenMP threads spin while they wait for work (libgomp's default ACTIVE policy). On a
# small machine shared with other busy processes (the emulator, Lambda workers, a second training)
# the spinning starves everyone: measured on 2 cores next to one busy process, 1.4 boosting rounds/s
# spinning vs 5.7 passive (8.3 vs 7.2 when alone). libgomp reads this when it loads, i.e. at the
# import below; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import lightgbm as lgb
import numpy as np
import pandas as pd

from grocery_forecast import __version__
from grocery_forecast.contract.reference import Reference
from grocery_forecast.contract.schema import MAX_HORIZON
from grocery_forecast.forecasting.baselines import MEDIAN_WINDOWS
from grocery_forecast.forecasting.features import (
    CATEGORICAL_FEATURES,
    TARGET_COLUMNS,
    FeatureSpec,
    PooledSums,
    _assemble,
    _series_block,
    build_features,
    feature_names,
    fit_category_maps,
)
from grocery_forecast.forecasting.metrics import nwrmsle, nwrmsle_by_group
from grocery_forecast.forecasting.panel import SalesPanel

__all__ = [
    "DEFAULT_PARAMS",
    "METADATA_FILE",
    "MIN_TRAIN_DAYS",
    "MODEL_FILE",
    "ForecastModel",
    "ModelMismatchError",
    "TrainConfig",
    "panel_sha256",
]

MODEL_FILE = "model.txt"
METADATA_FILE = "metadata.json"
#: Bumped when the artifact layout, or the meaning of a feature under an unchanged name, changes
#: incompatibly. 2: pooled item/store features average over the series recorded on the origin day.
#: 3: ``promo_known`` (future promotions unknown for sales uploads), short-history origins, class and
#: family levels, promotions over the forecast window. 4: pooled features average over every series
#: with a record in the lookback (absent days as zeros), not over those with a row on the origin day.
#: 5: ``blend``: the output is stacked with three baselines rebuilt from the features, by per-horizon
#: weights (a format-4 artifact has none and is still served as it was).
ARTIFACT_FORMAT = 5
#: Artifact formats this library serves: 4 differs from 5 only by lacking the blend.
SUPPORTED_FORMATS: tuple[int, ...] = (4, 5)

#: Strong baselines rebuilt in ``log1p`` space from the model's own feature columns, so training
#: (validation rows) and serving (any upload) compute them with the same code: the windows of
#: :data:`~grocery_forecast.forecasting.baselines.MEDIAN_WINDOWS` that the history covers, the
#: store's weekday profile, and the target weekday's mean over the last four weeks.
BLEND_ANCHORS: tuple[str, ...] = ("moving_median", "moving_median_dow", "dow_mean")
#: The blend is fitted on validation rows whose origin had at least this much history (or the
#: spec's whole lookback, if shorter): rows of origins 3-6 days into the history judge the
#: baselines at their weakest, and weights fitted on them leant on the booster where the
#: baselines serve better (real store transactions on 14 days: 3.8% above dow_mean, 1.4% below
#: with this floor). A served forecast has at least :data:`MIN_TRAIN_DAYS`; a floor that high
#: would leave no row to fit on a two-week history, whose validation rows reach only a week ahead
#: (its horizons 8-16 take the weights fitted over all horizons).
BLEND_MIN_HISTORY_DAYS = 7
#: Validation rows a horizon's own blend weight is worth as much as: fewer, and its weight leans on
#: the weight fitted over all horizons (a few hundred series give a handful of rows per horizon).
BLEND_PRIOR_ROWS = 2000

#: The least history (days up to the training end) the model trains on: two weeks, so that the
#: origins of the second week have a week behind them (every weekday seen once; the rows the blend
#: is fitted on, :data:`BLEND_MIN_HISTORY_DAYS`) and days of targets after them. Below
#: this, forecasts fall back to a baseline (see :mod:`grocery_forecast.forecasting.backtest` and
#: the predict step): on 14 days of generated history the model still beats ``moving_median``
#: (README), on fewer it has at most a handful of origins and nothing to validate on.
MIN_TRAIN_DAYS = 14

#: LightGBM parameters: L2 on log1p sales is the metric's own loss. The learning rate and the
#: round cap keep the model to a few hundred trees: prediction cost grows with the tree count,
#: and the prediction Lambda scores 100,000 series x 16 days in one go.
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "regression",
    "metric": "l2",
    "learning_rate": 0.08,
    "num_leaves": 63,
    "min_data_in_leaf": 200,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 255,
    "cat_smooth": 10.0,
    "seed": 0,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}

#: Tree capacity follows the data: the series-days of history behind the training rows (series x
#: days up to the training end), not the rows, which repeat the same days at many overlapping
#: origins on a short history. ``num_leaves`` is at most one per :data:`CELLS_PER_LEAF` series-days
#: and ``min_data_in_leaf`` one per :data:`CELLS_PER_MIN_DATA`, never below :data:`MIN_LEAVES` /
#: :data:`MIN_DATA_IN_LEAF` nor above :data:`DEFAULT_PARAMS`. Trees sized for Favorita overfit a few
#: weeks of 500 series (docs/forecast-accuracy.md, "Short histories"); a year of 500 series, or more
#: series, keeps them.
CELLS_PER_LEAF = 1000
CELLS_PER_MIN_DATA = 400
MIN_LEAVES = 7
MIN_DATA_IN_LEAF = 20


def scaled_params(
    params: Mapping[str, Any], cells: int, fixed: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """``params`` with ``num_leaves`` and ``min_data_in_leaf`` sized to ``cells`` series-days of history.

    Only shrinks, never grows past ``params``; names in ``fixed`` (set by the caller) are kept.
    """
    out = dict(params)
    if "min_data_in_leaf" not in fixed:
        bound = max(MIN_DATA_IN_LEAF, cells // CELLS_PER_MIN_DATA)
        out["min_data_in_leaf"] = int(min(params["min_data_in_leaf"], bound))
    if "num_leaves" not in fixed:
        out["num_leaves"] = int(min(params["num_leaves"], max(MIN_LEAVES, cells // CELLS_PER_LEAF)))
    return out


class ModelMismatchError(ValueError):
    """A saved model does not fit this library: its features would be computed differently."""


@dataclass(frozen=True)
class TrainConfig:
    """How training samples origins and rows and when boosting stops.

    Attributes:
        horizon: Longest horizon trained (days ahead). Defaults to :data:`MAX_HORIZON`.
        max_origins: Origins sampled back from the end of history. Defaults to 26.
        origin_stride: Days between origins when the history is long enough to fill
            ``max_origins`` of them. A multiple of 7 would put every origin on one weekday while
            daily uploads are served on every weekday, so it is taken one day shorter; the
            default 8 steps back one weekday per origin (all seven within any seven origins).
            On a shorter history the stride shrinks (to 1 on a few weeks) so that origins use
            all the history there is. Defaults to 8.
        min_history_days: Skip origins with less history than this. Defaults to 3: on two
            weeks of history a week's minimum left origins only 1-7 days before the end, so
            horizons 8-16 were never trained on; from day 3 on they reach 11 days ahead (the
            21,500-series hard sets cut to 14 days: 0.5816 / 0.5760 / 0.5572 -> 0.5764 / 0.5720 /
            0.5489). The blend is still fitted on rows with a week behind them
            (:data:`BLEND_MIN_HISTORY_DAYS`).
        valid_days: The last days of history held out for early stopping (rows whose target
            falls there). Defaults to 16.
        max_rows: Training rows kept (a uniform sample of series and never-sold pairs x origin x horizon) so that
            125 million sales rows still train in minutes. Defaults to 2,000,000.
        num_boost_round: Upper bound on boosting rounds. Defaults to 600.
        early_stopping_rounds: Patience on the validation window. Defaults to 50.
        refit: After early stopping, retrain on all rows (validation window included) for the
            best number of rounds, so the newest weeks inform the model. Defaults to True.
        seed: Row sampling seed. Defaults to 0.
        cold_start_share: Share of training rows whose series' own history is hidden, as for a
            store-item with none (a new item or store; half of them also hide the item's pooled
            features, as for a new item), so the model learns to forecast those from the item's
            class and family, the store and the promotion. Defaults to 0.02.
        unknown_promo_share: Share of training rows whose target-day promotion is hidden
            (``promo_known`` 0), as it is for every row of a sales upload's forecast, so the
            model learns to forecast without it. Defaults to 0.2.
        blend: Stack the output with the :data:`BLEND_ANCHORS` baselines by per-horizon weights
            fitted on the validation window (:func:`_fit_blend`); needs one. Defaults to True.
    """

    horizon: int = MAX_HORIZON
    max_origins: int = 26
    origin_stride: int = 8
    min_history_days: int = 3
    valid_days: int = 16
    max_rows: int = 2_000_000
    num_boost_round: int = 600
    early_stopping_rounds: int = 50
    refit: bool = True
    seed: int = 0
    unknown_promo_share: float = 0.2
    cold_start_share: float = 0.02
    blend: bool = True

    def __post_init__(self) -> None:
        for name in ("unknown_promo_share", "cold_start_share"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be within [0, 1), got {getattr(self, name)}")
        if not 1 <= self.horizon <= MAX_HORIZON:
            raise ValueError(f"horizon must be within 1..{MAX_HORIZON}, got {self.horizon}")
        for name in ("max_origins", "origin_stride", "min_history_days", "max_rows", "num_boost_round"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


def panel_sha256(panel: SalesPanel) -> str:
    """A hash of exactly the data a model was trained on (dates, series, sales, promotions)."""
    digest = hashlib.sha256()
    digest.update(f"{panel.start.date()}:{panel.n_days}".encode())
    for array in (panel.stores.astype(np.int64), panel.items.astype(np.int64), panel.sales, panel.promo):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


@dataclass
class _TrainingSet:
    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    horizon: np.ndarray
    valid: np.ndarray
    origins: list[pd.Timestamp]
    #: Series x days of history up to the training end: what tree capacity is sized to.
    cells: int
    #: Rows of never-sold store-items (:func:`_never_sold_pairs`), not of series.
    never_sold: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: How many never-sold pairs each of those rows stands for (its weight, times the perishable one).
    never_sold_stands_for: float = 0.0


def _training_origins(panel: SalesPanel, end: pd.Timestamp, config: TrainConfig) -> list[pd.Timestamp]:
    """Origins back from ``end``: every ``origin_stride`` days, or closer on a short history.

    The stride is the span of usable origins divided by ``max_origins``, at most
    ``origin_stride``, and never a multiple of 7: the origins step through every weekday, on a
    few weeks of history (stride 1) as on years (stride 8), so a model trained on them has seen
    the weekday of any origin it will be served on (daily uploads come on every weekday).
    """
    usable = (end - panel.start).days + 1 - config.min_history_days  # origins end-1 .. start+min-1
    stride = int(min(config.origin_stride, max(1, usable // config.max_origins)))
    if stride % 7 == 0:
        stride -= 1
    origins = []
    for k in range(1, config.max_origins + 1):
        origin = end - pd.Timedelta(days=stride * k)
        if (origin - panel.start).days + 1 < config.min_history_days:
            break
        origins.append(origin)
    return origins


#: The largest share of training rows the validation window may hold. On a short history every
#: target falls within the last ``valid_days``, which left nothing to train on but all rows, and
#: boosting without early stopping overfits a few hundred series badly (500 rounds on three weeks of
#: the 500-series hard sets: 0.6016, against 0.5747 with this window; see the README).
MAX_VALID_SHARE = 0.5


def _validation_rows(target_day: np.ndarray, end: int, valid_days: int) -> np.ndarray:
    """Rows whose target falls in the last ``valid_days`` days, or in fewer on a short history.

    The window shrinks (down to one day) until it holds at most :data:`MAX_VALID_SHARE` of the
    rows, so early stopping always has later days to judge earlier ones by: a split in time, as
    serving meets it, never rows of the same days on both sides.
    """
    if valid_days <= 0 or len(target_day) == 0:
        return np.zeros(len(target_day), bool)
    for days in range(valid_days, 0, -1):
        valid = target_day > end - days
        if valid.mean() <= MAX_VALID_SHARE:
            return valid
    return np.zeros(len(target_day), bool)


#: Never-sold pairs (see :func:`_never_sold_pairs`) trained on: at most this many per series with
#: history, each standing for its share of the rest by weight, so a sparse assortment (in 2017
#: Favorita's 54 stores x 4,100 items held about 170,000 series) takes at most a fifth of the rows
#: from those that teach levels. On the real rows of ``scripts/experiments/real_sparse.py`` (162,905
#: never-sold pairs and 45,103 series with history at the cutoff) 0.25 scored 0.3755, 0.5 0.3771 and
#: 1.0 0.3758 (uncapped weight).
NEVER_SOLD_PER_SERIES = 0.25
#: Their weight is at most this many times the series': without a cap they carried 78% of the loss on
#: those real rows. Capped at 1.0 (half the loss) they scored 0.3738; at 0.25, 0.3740.
NEVER_SOLD_MAX_WEIGHT = 1.0
#: Store x item grids up to this size are enumerated; a larger (sparse) one is sampled from.
MAX_GRID_ENUMERATED = 20_000_000


def _no_promotions(panel: SalesPanel, origin: pd.Timestamp, rows: int) -> np.ndarray:
    """:func:`_window_promo` of ``rows`` store-items without a stored promotion: 0, NaN past the panel's end."""
    out = np.zeros((rows, MAX_HORIZON))
    out[:, max(0, panel.n_days - panel.day_index(origin) - 1) :] = np.nan
    return out


def _never_sold_pairs(
    panel: SalesPanel, limit: int | None = None, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Store-items with no row in ``panel`` whose store and item both have one (stores x items less series).

    A forecast request is for every store-item of an assortment (Kaggle's test.csv is all 54
    stores x 3,901 items), and the pairs that never sold are the most common store-item without
    history a forecast meets. Training on the series of the history alone saw only pairs that
    start selling before its end, so "no history" meant "about to sell" (at the last origins,
    "sells within days"): on three weeks of sparse real rows every pair without history was
    forecast at two units a day, 76% worse than zeros (``scripts/experiments/real_sparse.py``).
    Their targets are known, zero sales on every day up to the training end, so they are trained on.

    Args:
        panel: The training history.
        limit: Return at most this many pairs, drawn at random (all when None).
        rng: Draws them. Defaults to seed 0.

    Returns:
        Their stores and items, and how many never-sold pairs each returned one stands for.
    """
    rng = rng or np.random.default_rng(0)
    stores = np.unique(panel.stores.astype(np.int64))
    items = np.unique(panel.items.astype(np.int64))
    n_items = len(items)
    grid = len(stores) * n_items
    seen = np.unique(
        np.searchsorted(stores, panel.stores.astype(np.int64)) * n_items
        + np.searchsorted(items, panel.items.astype(np.int64))
    )
    n_absent = grid - len(seen)
    take = n_absent if limit is None else min(n_absent, int(limit))
    if take <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), 0.0
    if grid <= MAX_GRID_ENUMERATED:
        codes = np.setdiff1d(np.arange(grid, dtype=np.int64), seen, assume_unique=True)
        if take < n_absent:
            codes = np.sort(rng.choice(codes, take, replace=False))
    else:  # a large grid is sparse (its series fill a panel): draw cells and keep the unsold ones
        found = np.zeros(0, np.int64)
        while len(found) < take:
            draw = rng.integers(0, grid, 2 * (take - len(found)) * grid // n_absent + 16)
            found = np.unique(np.concatenate([found, draw[~np.isin(draw, seen)]]))
        codes = np.sort(rng.choice(found, take, replace=False))
    return stores[codes // n_items], items[codes % n_items], n_absent / take


def _training_set(
    panel: SalesPanel,
    end: pd.Timestamp,
    reference: Reference,
    spec: FeatureSpec,
    category_maps: Mapping[str, list],
    config: TrainConfig,
    progress: Callable[[str], None] | None,
) -> _TrainingSet:
    """Sample (series, origin, horizon) rows and build their features with the serving code."""
    days = (end - panel.start).days + 1
    origins = _training_origins(panel, end, config) if days >= MIN_TRAIN_DAYS else []
    if not origins:
        raise ValueError(
            f"not enough history to train: {days} days from {panel.start.date()} to {end.date()}, "
            f"need at least {max(MIN_TRAIN_DAYS, config.min_history_days + 1)}"
        )
    rng = np.random.default_rng(config.seed)
    spans = [min(config.horizon, (end - o).days) for o in origins]
    # A fixed set of never-sold pairs, sampled per origin like the series.
    absent_stores, absent_items, absent_weight = _never_sold_pairs(
        panel, int(NEVER_SOLD_PER_SERIES * panel.n_series), np.random.default_rng([config.seed, 1])
    )
    if len(absent_items):
        absent_weight = min(absent_weight, NEVER_SOLD_MAX_WEIGHT * panel.n_series / len(absent_items))
    candidates = sum((panel.n_series + len(absent_items)) * span for span in spans)
    keep = min(1.0, config.max_rows / max(candidates, 1))
    picks: list[tuple[np.ndarray, np.ndarray]] = []
    absent_picks: list[tuple[np.ndarray, np.ndarray]] = []
    for span in spans:
        for population, out in ((panel.n_series, picks), (len(absent_items), absent_picks)):
            flat = np.flatnonzero(rng.random(population * span) < keep)
            out.append((flat // span, flat % span + 1))
    total = sum(len(s) for s, _ in picks + absent_picks)
    names = feature_names(spec)
    x = np.empty((total, len(names)), dtype=np.float32)
    y = np.empty(total, dtype=np.float32)
    horizon = np.empty(total, dtype=np.int16)
    target_day = np.empty(total, dtype=np.int64)
    item_all = np.empty(total, dtype=np.int64)
    stands_for = np.ones(total, dtype=np.float32)
    is_pair = np.zeros(total, dtype=bool)
    at = 0
    for origin, (series, ahead), (pairs, pair_ahead) in zip(origins, picks, absent_picks, strict=True):
        col = panel.day_index(origin) + ahead
        block = _series_block(panel, origin, spec, reference)
        cold = rng.random(len(series)) < config.cold_start_share
        frame = _assemble(
            block,
            np.where(cold, -1, series),
            panel.stores[series].astype(np.int64),
            panel.items[series],
            ahead,
            panel.promo[series, col].astype(np.float32),
            reference,
            spec,
            category_maps,
            (rng.random(len(series)) >= config.unknown_promo_share).astype(np.float32),
            cold & (rng.random(len(series)) < 0.5),  # half of them as a new item, not just a new store-item
            _window_promo(panel, origin, series),
        )
        n = len(series)
        x[at : at + n] = frame.to_numpy(dtype=np.float32)
        # The sampled cells only: a zero-filled copy of the whole panel cost 0.6 GB at Favorita's size.
        y[at : at + n] = np.log1p(np.clip(np.nan_to_num(panel.sales[series, col], nan=0.0), 0.0, None))
        horizon[at : at + n] = ahead
        target_day[at : at + n] = col
        item_all[at : at + n] = panel.items[series]
        at += n
        # Never-sold pairs: no history of their own, no promotion stored, zero sales on every day.
        m = len(pairs)
        if m:
            frame = _assemble(
                block,
                np.full(m, -1, dtype=np.int64),
                absent_stores[pairs],
                absent_items[pairs],
                pair_ahead,
                np.zeros(m, dtype=np.float32),
                reference,
                spec,
                category_maps,
                (rng.random(m) >= config.unknown_promo_share).astype(np.float32),
                None,
                _no_promotions(panel, origin, m),
            )
            x[at : at + m] = frame.to_numpy(dtype=np.float32)
            y[at : at + m] = 0.0
            horizon[at : at + m] = pair_ahead
            target_day[at : at + m] = panel.day_index(origin) + pair_ahead
            item_all[at : at + m] = absent_items[pairs]
            stands_for[at : at + m] = absent_weight
            is_pair[at : at + m] = True
            at += m
        if progress is not None:
            progress(f"origin {origin.date()}: {n:,} rows, {m:,} of never-sold pairs")
    weight = reference.perishable_weights(item_all).astype(np.float32) * stands_for
    # Early stopping and the recorded validation score judge the series only: the never-sold
    # pairs' zeros are easy, and would make the score look better than the forecasts of sales are.
    valid = np.zeros(total, dtype=bool)
    valid[~is_pair] = _validation_rows(target_day[~is_pair], panel.day_index(end), config.valid_days)
    return _TrainingSet(x, y, weight, horizon, valid, origins, panel.n_series * days, is_pair, absent_weight)


@dataclass
class _Fitted:
    """What boosting produced, for the artifact's metadata."""

    booster: lgb.Booster
    categorical: list[str]
    params: dict[str, Any]
    best_iteration: int
    final_rounds: int
    validation: dict[str, Any]
    valid_rows: int
    blend: dict[str, Any] | None = None


def _anchors(x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """:data:`BLEND_ANCHORS` of each feature row, in ``log1p`` space (NaN where the series has no history)."""
    col = {n: i for i, n in enumerate(names)}
    days = x[:, col["history_days"]].astype(np.float64)
    windows = [w for w in MEDIAN_WINDOWS if f"sales_mean_w{w}" in col]
    if not windows or "history_days" not in col:  # a custom spec without the median's windows
        return {}
    means = np.stack([x[:, col[f"sales_mean_w{w}"]].astype(np.float64) for w in windows], axis=1)
    # As :func:`~grocery_forecast.forecasting.baselines.moving_median`: the windows the history
    # covers (all of them on less than the shortest, where every window mean is the same).
    fits = np.array(windows)[None, :] <= np.maximum(days, min(windows))[:, None]
    with warnings.catch_warnings():  # a series without history has no level: NaN, and no warning
        warnings.simplefilter("ignore", RuntimeWarning)
        level = np.nanmedian(np.where(fits, means, np.nan), axis=1)
    out = {"moving_median": level}
    profile = [n for n in names if n.startswith("store_dow_diff_k")]
    if profile:
        shift = np.nan_to_num(x[:, col[profile[0]]].astype(np.float64), nan=0.0)
        out["moving_median_dow"] = np.where(level > 0, np.clip(level + shift, 0.0, None), level)
    dow = [n for n in names if n.startswith("dow_mean_k")]
    if dow:
        k = min(int(n.removeprefix("dow_mean_k")) for n in dow)
        out["dow_mean"] = np.where(np.isnan(x[:, col[f"dow_mean_k{k}"]]), level, x[:, col[f"dow_mean_k{k}"]])
    return out


def _stack(a: np.ndarray, b: np.ndarray, prior: np.ndarray | None, strength: float) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise ``|a w - b|^2 + strength (w - prior)' G (w - prior)``.

    ``G = a'a / rows``, so the prior counts as ``strength`` rows like these. With a handful of
    parts every support is tried (the equality-constrained least squares of each, by its KKT
    system) and the best feasible one kept: exact, and NumPy only (the training bundle ships no
    ``scipy.optimize``).
    """
    k = a.shape[1]
    q = a.T @ a
    c = a.T @ b
    if prior is not None and strength > 0:
        g = q / max(len(a), 1)
        q = q + strength * g
        c = c + strength * (g @ prior)
    best, best_cost = np.eye(k)[0], np.inf
    for mask in range(1, 2**k):
        support = [j for j in range(k) if mask >> j & 1]
        m = len(support)
        kkt = np.zeros((m + 1, m + 1))
        kkt[:m, :m] = q[np.ix_(support, support)]
        kkt[:m, m] = kkt[m, :m] = 1.0
        rhs = np.append(c[support], 1.0)
        try:
            solution = np.linalg.solve(kkt, rhs)
        except np.linalg.LinAlgError:
            solution = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
        if np.any(solution[:m] < -1e-12):
            continue
        w = np.zeros(k)
        w[support] = np.clip(solution[:m], 0.0, None)
        w /= w.sum()
        cost = float(w @ q @ w - 2 * c @ w)
        if cost < best_cost - 1e-12:
            best, best_cost = w, cost
    return best


def _fit_blend(
    pred: np.ndarray, x: np.ndarray, names: list[str], y: np.ndarray, weight: np.ndarray, horizon: np.ndarray
) -> dict[str, Any] | None:
    """Per-horizon weights of the model and the :data:`BLEND_ANCHORS`, fitted on the validation rows.

    On the validation rows (later days than the rows the booster was fitted on), the forecast is
    a weighted mean in ``log1p`` space of the model's output and the anchors, where the
    perishable-weighted squared error is the metric's own. The weights are non-negative and sum
    to 1 (a stacked ensemble, as Favorita's winners blended models); each horizon's are shrunk
    towards the weights fitted over all horizons by :data:`BLEND_PRIOR_ROWS`. Where the model is
    ahead (Favorita-size generated history) its weight stays near 1; where a strong baseline is
    ahead (a few dozen smooth series, a noisy short history) the forecast leans on it instead of
    losing to it. The weights are fitted on the early-stopping booster's output and served with
    the refit one, which has also learnt from the validation days, so the model's weight is if
    anything too small; matching them by not refitting scored worse at every history length of
    the 500-series hard sets (``scripts/experiments/README.md``).
    """
    anchors = _anchors(x, names)
    if not anchors:
        return None
    parts = ["model", *anchors]
    c = np.column_stack([pred.astype(np.float64), *anchors.values()])
    history_days = x[:, names.index("history_days")]
    # history_days is capped at the spec's lookback: a spec looking back under a week has no such row.
    floor = min(BLEND_MIN_HISTORY_DAYS, float(np.max(history_days, initial=0.0)))
    ok = np.isfinite(c).all(axis=1) & (history_days >= floor)
    if ok.sum() < 2 * len(parts):
        return None
    root_w = np.sqrt(weight[ok].astype(np.float64))
    a, t, h = c[ok] * root_w[:, None], y[ok].astype(np.float64) * root_w, horizon[ok]
    overall = _stack(a, t, None, 0.0)
    weights = {}
    for k in range(1, MAX_HORIZON + 1):
        at = h == k
        w = _stack(a[at], t[at], overall, BLEND_PRIOR_ROWS) if at.any() else overall
        weights[str(k)] = [round(float(v), 4) for v in w]
    fitted = np.array([weights[str(k)] for k in h])

    def score(forecast: np.ndarray) -> float:
        return float(np.sqrt(np.sum((t - forecast * root_w) ** 2) / np.sum(root_w**2)))

    return {
        "parts": parts,
        "weights": weights,
        "weights_all_horizons": [round(float(v), 4) for v in overall],
        "validation_rows": int(ok.sum()),
        "validation_nwrmsle": {
            **{name: score(c[ok, i]) for i, name in enumerate(parts)},
            "blended": score(np.sum(c[ok] * fitted, axis=1)),
        },
    }


def _apply_blend(
    raw: np.ndarray, x: np.ndarray, names: list[str], blend: Mapping[str, Any] | None
) -> np.ndarray:
    """The blend of the model output and its anchors (the output alone without a blend or anchor values)."""
    if not blend:
        return raw
    anchors = _anchors(x, names)
    c = np.column_stack([raw, *(anchors[name] for name in blend["parts"][1:])])
    ahead = x[:, names.index("horizon")].astype(np.int64)
    table = np.zeros((MAX_HORIZON + 1, c.shape[1]))
    table[:, 0] = 1.0
    for k, v in blend["weights"].items():
        table[int(k)] = v
    w = table[np.clip(ahead, 0, MAX_HORIZON)]
    return np.where(np.isfinite(c).all(axis=1), np.sum(np.nan_to_num(c) * w, axis=1), raw)


def _window_promo(panel: SalesPanel, origin: pd.Timestamp, series: np.ndarray) -> np.ndarray:
    """Promotions of ``series`` on the days 1..16 after ``origin`` (NaN past the panel's end)."""
    first = panel.day_index(origin) + 1
    out = np.full((len(series), MAX_HORIZON), np.nan)
    last = min(first + MAX_HORIZON, panel.n_days)
    if last > first:
        out[:, : last - first] = panel.promo[series, first:last]
    return out


class _TqdmCallback:
    """LightGBM callback: a progress bar over boosting rounds showing the validation NWRMSLE."""

    order = 30

    def __init__(self, total: int, desc: str, enabled: bool) -> None:
        self.total, self.desc, self.enabled = total, desc, enabled
        self.bar: Any = None

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc=self.desc, unit="round", leave=True)
        self.bar.update(1)
        if env.evaluation_result_list:
            _, _, value, _ = env.evaluation_result_list[-1][:4]
            self.bar.set_postfix(valid_nwrmsle=f"{np.sqrt(value):.4f}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _boost(
    params: dict[str, Any],
    data: lgb.Dataset,
    rounds: int,
    desc: str,
    progress: bool,
    *,
    callbacks: list | None = None,
    **kwargs: Any,
) -> lgb.Booster:
    """``lgb.train`` with a progress bar over the rounds."""
    bar = _TqdmCallback(rounds, desc, progress)
    try:
        return lgb.train(params, data, num_boost_round=rounds, callbacks=[*(callbacks or []), bar], **kwargs)
    finally:
        bar.close()


class ForecastModel:
    """LightGBM forecaster of daily unit sales per store-item, 1..``horizon`` days ahead.

    Args:
        spec: Feature configuration. Defaults to :class:`FeatureSpec` defaults.
        params: LightGBM parameters merged over :data:`DEFAULT_PARAMS`.
        config: Training configuration. Defaults to :class:`TrainConfig` defaults.
    """

    def __init__(
        self,
        spec: FeatureSpec | None = None,
        params: Mapping[str, Any] | None = None,
        config: TrainConfig | None = None,
    ) -> None:
        self.spec = spec or FeatureSpec()
        self.params: dict[str, Any] = {**DEFAULT_PARAMS, **(params or {})}
        #: Parameters the caller set: kept as given when training sizes the trees to the history.
        self.fixed_params = frozenset(params or {})
        self.config = config or TrainConfig()
        self.booster: lgb.Booster | None = None
        self.category_maps: dict[str, list] = {}
        self.metadata: dict[str, Any] = {}

    # -- training ----------------------------------------------------------------------------------

    @property
    def feature_names(self) -> list[str]:
        """Model inputs in order."""
        return feature_names(self.spec)

    @property
    def horizon(self) -> int:
        """Longest horizon this model forecasts."""
        return int(self.metadata.get("horizon", self.config.horizon))

    def fit(
        self,
        panel: SalesPanel,
        reference: Reference,
        *,
        end: pd.Timestamp | str | None = None,
        progress: bool = False,
    ) -> ForecastModel:
        """Train on ``panel`` up to and including ``end``.

        Args:
            panel: Sales history (absent rows are zeros).
            reference: Item and store attributes, holidays, perishable weights.
            end: Last day of history to use. Defaults to the panel's last day.
            progress: Show progress (origins, boosting rounds) on stderr. Defaults to False.

        Returns:
            self, trained.

        Raises:
            ValueError: If the history is too short for even one training origin.
        """
        started = time.perf_counter()
        last = pd.Timestamp(end).normalize() if end is not None else panel.end
        if last < panel.start:
            raise ValueError(f"training end {last.date()} is before the panel starts ({panel.start.date()})")
        history = panel.window(panel.start, last) if last != panel.end else panel
        # Series that first appear after ``last`` carry no information up to it.
        seen = history.recorded
        history = history.take(np.flatnonzero(seen)) if not seen.all() else history
        self.category_maps = fit_category_maps(reference, history)

        def say(message: str) -> None:
            if progress:
                from tqdm.auto import tqdm

                tqdm.write(f"features: {message}")

        data = _training_set(history, last, reference, self.spec, self.category_maps, self.config, say)
        fitted = self._boost(data, last, progress)
        self.booster = fitted.booster
        self.metadata = self._metadata(history, last, data, fitted, time.perf_counter() - started)
        return self

    def _boost(self, data: _TrainingSet, last: pd.Timestamp, progress: bool) -> _Fitted:
        """Early stopping on the validation window, then (``refit``) all rows for the best round count."""
        names = self.feature_names
        cats = [c for c in CATEGORICAL_FEATURES if c in names]
        params = scaled_params(self.params, data.cells, self.fixed_params)
        full = lgb.Dataset(
            data.x,
            label=data.y,
            weight=data.weight,
            feature_name=names,
            categorical_feature=cats,
            params={"max_bin": params.get("max_bin", 255), "verbose": -1},
            free_raw_data=False,
        )
        train_idx, valid_idx = np.flatnonzero(~data.valid), np.flatnonzero(data.valid)
        best_iteration = self.config.num_boost_round
        validation: dict[str, Any] = {}
        blend = None
        if len(valid_idx) and len(train_idx):
            train_ds, valid_ds = full.subset(train_idx.tolist()), full.subset(valid_idx.tolist())
            booster = _boost(
                params,
                train_ds,
                self.config.num_boost_round,
                "boosting (early stopping)",
                progress,
                valid_sets=[valid_ds],
                valid_names=["valid"],
                callbacks=[lgb.early_stopping(self.config.early_stopping_rounds, verbose=False)],
            )
            best_iteration = max(int(booster.best_iteration or booster.current_iteration()), 1)
            pred = np.asarray(booster.predict(data.x[valid_idx], num_iteration=best_iteration))
            truth = np.expm1(data.y[valid_idx])
            validation = {
                "window": [
                    str((last - pd.Timedelta(days=self.config.valid_days - 1)).date()),
                    str(last.date()),
                ],
                "rows": len(valid_idx),
                "nwrmsle": nwrmsle(truth, np.expm1(pred), data.weight[valid_idx]),
                "per_horizon": {
                    str(h): v
                    for h, v in nwrmsle_by_group(
                        truth, np.expm1(pred), data.weight[valid_idx], data.horizon[valid_idx]
                    ).items()
                },
            }
            if self.config.blend:
                blend = _fit_blend(
                    pred,
                    data.x[valid_idx],
                    names,
                    data.y[valid_idx],
                    data.weight[valid_idx],
                    data.horizon[valid_idx],
                )
            if self.config.refit:
                rounds = max(1, round(best_iteration * 1.1))
                booster = _boost(params, full, rounds, "boosting (refit on all rows)", progress)
                final_rounds = rounds
            else:
                final_rounds = best_iteration
        else:
            rounds = min(self.config.num_boost_round, 500)
            booster = _boost(params, full, rounds, "boosting", progress)
            final_rounds = rounds
        return _Fitted(booster, cats, params, best_iteration, final_rounds, validation, len(valid_idx), blend)

    def _metadata(
        self, history: SalesPanel, last: pd.Timestamp, data: _TrainingSet, fitted: _Fitted, seconds: float
    ) -> dict[str, Any]:
        """What the artifact records about this training run (see the module docstring)."""
        created = datetime.now(UTC)
        sha = panel_sha256(history)
        return {
            "format": ARTIFACT_FORMAT,
            "library_version": __version__,
            "created_at": created.isoformat(timespec="seconds"),
            "version": f"{created:%Y%m%dT%H%M%SZ}-{sha[:8]}",
            "feature_names": self.feature_names,
            "categorical_features": fitted.categorical,
            "feature_spec": self.spec.to_dict(),
            "category_maps": self.category_maps,
            "horizon": self.config.horizon,
            "lookback_days": self.spec.lookback_days,
            "min_train_days": MIN_TRAIN_DAYS,
            "training_window": {
                "start": str(history.start.date()),
                "end": str(last.date()),
                "origins": [str(o.date()) for o in data.origins],
                "series": history.n_series,
                "rows": len(data.y),
                "valid_rows": fitted.valid_rows,
                # Rows of store-items that never sold (_never_sold_pairs), and how many pairs each stands for.
                "never_sold_rows": int(data.never_sold.sum()),
                "never_sold_stands_for": round(data.never_sold_stands_for, 4),
            },
            "params": fitted.params,
            "params_set_by_caller": sorted(self.fixed_params),
            "train_config": asdict(self.config),
            "best_iteration": fitted.best_iteration,
            "num_boost_round": fitted.final_rounds,
            "validation": fitted.validation,
            "blend": fitted.blend,
            "backtest": None,
            "training_data_sha256": sha,
            "train_seconds": round(seconds, 2),
        }

    # -- prediction --------------------------------------------------------------------------------

    def _require_booster(self) -> lgb.Booster:
        if self.booster is None:
            raise RuntimeError("the model is not trained: call fit() or ForecastModel.load() first")
        return self.booster

    def features(
        self,
        panel: SalesPanel,
        origin: pd.Timestamp | str,
        targets: pd.DataFrame,
        reference: Reference,
        pooled: PooledSums | None = None,
    ) -> pd.DataFrame:
        """The model's input rows for ``targets``, encoded with the model's own category maps."""
        self._require_booster()
        origin = pd.Timestamp(origin).normalize()
        missing = [c for c in TARGET_COLUMNS if c not in targets.columns]
        if missing:
            raise ValueError(f"targets lack column(s) {', '.join(missing)}; need {', '.join(TARGET_COLUMNS)}")
        ahead = (pd.to_datetime(targets["date"]).dt.normalize() - origin).dt.days
        if len(ahead) and (ahead.min() < 1 or ahead.max() > self.horizon):
            raise ValueError(
                f"targets span {int(ahead.min())}..{int(ahead.max())} days after the origin "
                f"{origin.date()}; this model forecasts 1..{self.horizon}"
            )
        return build_features(panel, origin, targets, reference, self.spec, self.category_maps, pooled)

    def predict(
        self,
        panel: SalesPanel,
        origin: pd.Timestamp | str,
        targets: pd.DataFrame,
        reference: Reference,
        pooled: PooledSums | None = None,
    ) -> np.ndarray:
        """Forecast unit sales for each row of ``targets``.

        Args:
            panel: History up to ``origin`` (at least :attr:`FeatureSpec.lookback_days` days
                for full-strength features; shorter works). Later days are ignored.
            origin: Last day of history; targets must be 1..``horizon`` days after it.
            targets: Rows with store_nbr, item_nbr, date, onpromotion.
            reference: Item and store attributes and holidays.
            pooled: Item and store sums over all shards of a sharded forecast (see
                :class:`~grocery_forecast.forecasting.features.PooledSums`). Defaults to ``panel``'s.

        Returns:
            Unit sales (``expm1`` of the model output, clipped at 0), aligned with ``targets``.
        """
        booster = self._require_booster()
        if len(targets) == 0:
            return np.zeros(0, dtype=np.float64)
        x = self.features(panel, origin, targets, reference, pooled).to_numpy(dtype=np.float32)
        out = _apply_blend(np.asarray(booster.predict(x)), x, self.feature_names, self.metadata.get("blend"))
        return np.clip(np.expm1(out), 0.0, None)

    # -- artifact ----------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write ``model.txt`` (LightGBM text format) and ``metadata.json`` into ``directory``.

        Returns:
            The directory.
        """
        booster = self._require_booster()
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        booster.save_model(str(out / MODEL_FILE))
        (out / METADATA_FILE).write_text(
            json.dumps(self.metadata, indent=2, sort_keys=False, default=str) + "\n"
        )
        return out

    @classmethod
    def load(cls, directory: str | Path) -> ForecastModel:
        """Load a saved model, refusing one whose features this library would compute differently.

        Raises:
            FileNotFoundError: If ``model.txt`` or ``metadata.json`` is missing.
            ModelMismatchError: If the saved feature list, spec or category maps disagree with
                this library's feature code.
        """
        src = Path(directory)
        for name in (MODEL_FILE, METADATA_FILE):
            if not (src / name).is_file():
                raise FileNotFoundError(
                    f"{src}: no {name}; a model directory holds {MODEL_FILE} and {METADATA_FILE}"
                )
        metadata = json.loads((src / METADATA_FILE).read_text())
        return cls.from_artifact((src / MODEL_FILE).read_text(), metadata)

    @classmethod
    def from_artifact(cls, model_text: str, metadata: Mapping[str, Any]) -> ForecastModel:
        """Build from the two artifact files' contents (e.g. fetched from S3 without a temp dir).

        Raises:
            ModelMismatchError: As :meth:`load`.
        """
        if metadata.get("format") not in SUPPORTED_FORMATS:
            raise ModelMismatchError(
                f"model artifact format {metadata.get('format')!r} is not one this library serves "
                f"({', '.join(map(str, SUPPORTED_FORMATS))})"
            )
        try:
            spec = FeatureSpec.from_dict(metadata["feature_spec"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelMismatchError(f"model metadata has an unusable feature spec: {exc}") from None
        expected = feature_names(spec)
        saved = list(metadata.get("feature_names", []))
        if saved != expected:
            missing = [n for n in expected if n not in saved]
            extra = [n for n in saved if n not in expected]
            detail = []
            if missing:
                detail.append(f"this library computes {', '.join(missing)} which the model lacks")
            if extra:
                detail.append(f"the model expects {', '.join(extra)} which this library does not compute")
            if not detail:
                detail.append("same features in a different order")
            raise ModelMismatchError(
                f"model {metadata.get('version', '?')} (library {metadata.get('library_version', '?')}) does not "
                f"match this library's features (library {__version__}): {'; '.join(detail)}. Retrain the model."
            )
        maps = metadata.get("category_maps") or {}
        absent = [c for c in CATEGORICAL_FEATURES if c in expected and c not in maps]
        if absent:
            raise ModelMismatchError(f"model metadata lacks category maps for {', '.join(absent)}")
        booster = lgb.Booster(model_str=model_text)
        if booster.feature_name() != expected:
            raise ModelMismatchError(
                "model.txt's features differ from its metadata.json: the artifact is inconsistent"
            )
        known = {f.name for f in fields(TrainConfig)}
        config = TrainConfig(**{k: v for k, v in metadata.get("train_config", {}).items() if k in known})
        model = cls(spec=spec, params=metadata.get("params"), config=config)
        model.booster = booster
        # Only what the caller of the first fit set stays fixed (all of it for a format-4 artifact).
        model.fixed_params = frozenset(metadata.get("params_set_by_caller", metadata.get("params") or {}))
        model.category_maps = {k: list(v) for k, v in maps.items()}
        model.metadata = dict(metadata)
        return model
