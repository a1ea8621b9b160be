"""Features as of a forecast origin, computed from a :class:`~grocery_forecast.forecasting.panel.SalesPanel` only.

This is the train/serve parity point: training calls the same code on many historical origins
that the prediction Lambda calls on the latest one, and nothing here reads beyond the origin or
beyond :attr:`FeatureSpec.lookback_days` before it, so a panel of exactly that many days (what
the Lambda reads from DynamoDB) yields the same values as years of history.

Features are declared in a :class:`FeatureSpec`; their names follow from it deterministically
(``sales_mean_w28``), so a saved model can list them and a loader can check them. Three kinds:

* per series, from history up to the origin: window means of ``log1p(sales)`` (absent rows are
  zero), means over days with sales and the share of such days, spread, recent daily values,
  exponentially weighted means, the target weekday's mean over recent weeks, days since the last
  sale and since the first record, promotion counts and sales on and off promotion;
* per item, per store, per item class and family (in the store and in all stores), averages of
  those across every series with a record in the lookback, absent days as zeros, whether or not
  it has a row on the origin day (a brand-new store-item still gets its item's, class's and
  family's level; its own history features are unknown, not zero);
* known in advance for the target day: the horizon, onpromotion (missing, with ``promo_known``
  0, where the caller does not know it: a sales upload says nothing about future promotions), calendar (weekday, paydays on
  the 15th and the month's last day), holiday flags from holidays_events, item and store
  attributes (categories encoded with saved maps, never refit at prediction time).

Everything is vectorised over series; the only Python loops run over configuration (windows,
weekdays), never over rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from grocery_forecast.contract.reference import HOLIDAY_FLAGS, Reference
from grocery_forecast.contract.schema import MAX_HORIZON
from grocery_forecast.forecasting.panel import SalesPanel

__all__ = [
    "CATEGORICAL_FEATURES",
    "TARGET_COLUMNS",
    "FeatureSpec",
    "PooledSums",
    "build_features",
    "encode_categories",
    "feature_names",
    "fit_category_maps",
    "pooled_sums",
    "promo_known_flags",
]

#: Columns a targets frame must have: the rows to build features for.
TARGET_COLUMNS: tuple[str, ...] = ("store_nbr", "item_nbr", "date", "onpromotion")

#: Features encoded with category maps (LightGBM categorical features).
CATEGORICAL_FEATURES: tuple[str, ...] = (
    "item_family",
    "store_nbr",
    "store_type",
    "store_city",
    "store_state",
)

#: Promotions over the whole forecast window (the days 1..16 after the origin), known in advance
#: for a request: the Favorita winners' strongest features (customers wait for a promotion and
#: stock up during one). Missing where the window's promotions are unknown.
_WINDOW_PROMO_FEATURES: tuple[str, ...] = (
    "window_promo_days",
    "window_promo_before",
    "window_promo_after",
    "window_promo_prev_day",
    "window_promo_next_day",
    "window_days_since_promo",
    "window_days_to_promo",
)
_CALENDAR_FEATURES: tuple[str, ...] = (
    "onpromotion",
    "promo_known",
    *_WINDOW_PROMO_FEATURES,
    "day_of_week",
    "day_of_month",
    "days_to_month_end",
    "month",
    "is_payday",
)
#: Item attributes whose pooled sales levels are features (per store and over all stores).
_GROUP_ATTRIBUTES: tuple[str, ...] = ("class", "family")
_ATTRIBUTE_FEATURES: tuple[str, ...] = (
    "item_family",
    "item_class",
    "perishable",
    "store_nbr",
    "store_type",
    "store_city",
    "store_state",
    "store_cluster",
)


@dataclass(frozen=True)
class FeatureSpec:
    """Which features to compute: windows and weeks as configuration, names derived from it.

    Attributes:
        windows: Days for ``sales_mean_w{w}``: mean ``log1p(sales)`` over the last ``w`` days.
        nonzero_windows: Days for ``sales_nz_mean_w{w}`` (mean over days with sales) and
            ``sales_nz_frac_w{w}`` (share of days with sales): intermittent items need both.
        std_windows: Days for ``sales_std_w{w}``.
        lags: ``sales_lag_{k}``: ``log1p(sales)`` ``k - 1`` days before the origin.
        ewm_halflives: ``sales_ewm_h{h}``: exponentially weighted mean, half-life ``h`` days.
        dow_weeks: ``dow_mean_k{k}``: mean of the target's weekday over its last ``k``
            occurrences, and ``dow_diff_k{k}``: that minus the mean over the same ``7k`` days.
        promo_windows: ``promo_sum_w{w}``: promotion days in the last ``w`` days.
        promo_effect_window: Days for ``sales_mean_promo_w{w}`` / ``sales_mean_nopromo_w{w}``.
        item_windows: ``item_sales_mean_w{w}`` and ``item_nz_frac_w{w}`` across the item's stores.
        store_windows: ``store_sales_mean_w{w}`` across the store's items.
        group_dow_weeks: ``item_dow_diff_k{k}`` and ``store_dow_diff_k{k}``: the target weekday's
            ``dow_diff_k{k}`` averaged over the item's stores and over the store's items. One
            series' weekday profile is noisy; pooled ones are not.
        item_promo_window: ``item_promo_lift_w{w}``: mean ``log1p`` sales on promotion days minus
            on other days, pooled over the item's stores (a single series rarely has enough
            promotion days to estimate its own lift).
        class_windows: ``store_class_sales_mean_w{w}`` and ``class_sales_mean_w{w}`` (and the
            same for ``family``): mean ``log1p`` sales of the item's class / family (from
            items.csv) in the target's store and in all stores: the level a new store-item starts
            from (cold start), and a Favorita winners' aggregate (store x class).
    """

    windows: tuple[int, ...] = (3, 7, 14, 28, 56, 112)
    nonzero_windows: tuple[int, ...] = (7, 28, 112)
    std_windows: tuple[int, ...] = (7, 28)
    lags: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    ewm_halflives: tuple[int, ...] = (3, 14)
    dow_weeks: tuple[int, ...] = (4, 12)
    promo_windows: tuple[int, ...] = (14, 56)
    promo_effect_window: int = 56
    item_windows: tuple[int, ...] = (7, 28)
    store_windows: tuple[int, ...] = (28,)
    group_dow_weeks: tuple[int, ...] = (8,)
    item_promo_window: int = 112
    class_windows: tuple[int, ...] = (28,)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            values = value if isinstance(value, tuple) else (value,)
            if isinstance(value, list):
                raise TypeError(f"FeatureSpec.{f.name} must be a tuple (the spec is hashable), got a list")
            if any(not isinstance(v, int | np.integer) or v < 1 for v in values):
                raise ValueError(f"FeatureSpec.{f.name} must hold whole numbers >= 1, got {value!r}")
            if isinstance(value, tuple) and len(set(values)) != len(values):
                raise ValueError(f"FeatureSpec.{f.name} has repeated values: {value!r}")

    @property
    def lookback_days(self) -> int:
        """Days of history up to and including the origin that the features read, no more."""
        spans = [
            *self.windows,
            *self.nonzero_windows,
            *self.std_windows,
            *self.lags,
            *self.promo_windows,
            self.promo_effect_window,
            *self.item_windows,
            *self.store_windows,
            *(7 * k for k in self.dow_weeks),
            *(7 * k for k in self.group_dow_weeks),
            self.item_promo_window,
            *self.class_windows,
        ]
        return int(max(spans))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored in model metadata."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: On keys this library does not know (a model from a newer library).
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown feature spec field(s): {', '.join(unknown)}")
        values: dict[str, Any] = {
            k: tuple(int(x) for x in v) if isinstance(v, list | tuple) else int(v) for k, v in data.items()
        }
        return cls(**values)


def feature_names(spec: FeatureSpec) -> list[str]:
    """The model's input columns, in order, derived only from ``spec``."""
    names = ["horizon"]
    names += [f"sales_mean_w{w}" for w in spec.windows]
    for w in spec.nonzero_windows:
        names += [f"sales_nz_mean_w{w}", f"sales_nz_frac_w{w}"]
    names += [f"sales_std_w{w}" for w in spec.std_windows]
    names += [f"sales_lag_{k}" for k in spec.lags]
    names += [f"sales_ewm_h{h}" for h in spec.ewm_halflives]
    for k in spec.dow_weeks:
        names += [f"dow_mean_k{k}", f"dow_diff_k{k}"]
    names += ["days_since_sale", "days_since_first", "history_days"]
    names += [f"promo_sum_w{w}" for w in spec.promo_windows]
    w = spec.promo_effect_window
    names += [f"sales_mean_promo_w{w}", f"sales_mean_nopromo_w{w}"]
    for w in spec.item_windows:
        names += [f"item_sales_mean_w{w}", f"item_nz_frac_w{w}"]
    names += [f"store_sales_mean_w{w}" for w in spec.store_windows]
    for k in spec.group_dow_weeks:
        names += [f"item_dow_diff_k{k}", f"store_dow_diff_k{k}"]
    names += [f"item_promo_lift_w{spec.item_promo_window}"]
    for w in spec.class_windows:
        for attr in _GROUP_ATTRIBUTES:
            names += [f"store_{attr}_sales_mean_w{w}", f"{attr}_sales_mean_w{w}"]
    names += list(_CALENDAR_FEATURES) + list(HOLIDAY_FLAGS) + list(_ATTRIBUTE_FEATURES)
    return names


# -- category maps -----------------------------------------------------------------------------


def fit_category_maps(reference: Reference, panel: SalesPanel | None = None) -> dict[str, list]:
    """Category values for each categorical feature, fixed at training time and saved with the model.

    Codes are positions in these lists; values unseen here become missing at prediction time.
    """
    maps = reference.category_values()
    if panel is not None:
        maps["store_nbr"] = sorted(set(maps["store_nbr"]) | {int(s) for s in np.unique(panel.stores)})
    return maps


def encode_categories(values: np.ndarray, categories: Sequence[Any]) -> np.ndarray:
    """Codes (positions in ``categories``) as float32, NaN where a value is unknown or missing."""
    codes = pd.Index(list(categories)).get_indexer(pd.Index(np.asarray(values, dtype=object)))
    out = codes.astype(np.float32)
    out[codes < 0] = np.nan
    return out


# -- per-series history features ---------------------------------------------------------------


@dataclass
class _SeriesBlock:
    """Per-series features at one origin; row ``n_series`` is a series with no history at all."""

    origin: pd.Timestamp
    n_hist: int
    columns: dict[str, np.ndarray]  # name -> (n_series + 1,)
    dow: dict[int, tuple[np.ndarray, np.ndarray]]  # k -> (mean, diff), each (n_series + 1, 7)
    item_keys: np.ndarray
    item_columns: dict[str, np.ndarray]
    store_keys: np.ndarray
    store_columns: dict[str, np.ndarray]
    item_dow: dict[int, np.ndarray]  # k -> (n_items, 7) pooled weekday profile
    store_dow: dict[int, np.ndarray]  # k -> (n_stores, 7)
    sums: PooledSums  # what the item, store and group columns are means of
    group_columns: dict[str, np.ndarray]  # name -> (n_group_keys,) class / family levels


def _history(panel: SalesPanel, origin: pd.Timestamp, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """Sales and promo for the known days of the lookback, newest first (column 0 = origin).

    Days before the panel starts are unknown and left out (so a short history yields shorter,
    partly filled windows); days after its end up to the origin are absent rows (zeros), as in
    Favorita. One extra all-absent row at the bottom stands for series the panel has never seen.
    """
    end = panel.day_index(origin)
    first = max(end - lookback + 1, 0)
    n_hist = max(end - first + 1, 0)
    sales = np.full((panel.n_series + 1, n_hist), np.nan, dtype=np.float32)
    promo = np.zeros((panel.n_series + 1, n_hist), dtype=np.int8)
    hi = min(end, panel.n_days - 1)
    if n_hist and hi >= first:
        sales[:-1, : hi - first + 1] = panel.sales[:, first : hi + 1]
        promo[:-1, : hi - first + 1] = panel.promo[:, first : hi + 1]
    return sales[:, ::-1], promo[:, ::-1]


def _series_block(
    panel: SalesPanel, origin: pd.Timestamp, spec: FeatureSpec, reference: Reference
) -> _SeriesBlock:
    raw, promo_raw = _history(panel, origin, spec.lookback_days)
    rows, n_hist = raw.shape
    n = rows - 1
    cols: dict[str, np.ndarray] = {}
    dow: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    names = feature_names(spec)
    if n_hist == 0:
        item_keys, store_keys = np.unique(panel.items), np.unique(panel.stores.astype(np.int64))
        # No known day up to the origin: every history feature is missing.
        first, last = names.index("sales_mean_w" + str(spec.windows[0])), names.index("onpromotion")
        cols = {
            name: np.full(rows, np.nan)
            for name in names[first:last]
            if not name.startswith(("dow_", "item_", "store_", *_GROUP_ATTRIBUTES))
        }
        cols["history_days"] = np.zeros(rows)
        dow = {k: (np.full((rows, 7), np.nan), np.full((rows, 7), np.nan)) for k in spec.dow_weeks}
        sums = PooledSums.empty(item_keys, store_keys)
        return _SeriesBlock(origin, 0, cols, dow, sums=sums, **_pooled_means(sums, spec))

    recorded = ~np.isnan(raw)
    # float32 blocks: at Favorita's size (210,000 series x 112 days) each array is 94 MB, half of
    # float64's, and the features are float32 anyway. Sums of at most 112 values of log1p sales
    # (< 15) lose nothing that matters; only the squares for the spread keep float64, where a
    # difference of two close sums would otherwise show float32's rounding.
    x = np.log1p(np.clip(np.nan_to_num(raw, nan=0.0), 0.0, None)).astype(np.float32)
    sold = (x > 0).astype(np.float32)
    promo = promo_raw.astype(np.float32)
    cum_x, cum_sold = np.cumsum(x, axis=1), np.cumsum(sold, axis=1)
    cum_x2 = np.cumsum(np.square(x, dtype=np.float64), axis=1)
    cum_p, cum_xp = np.cumsum(promo, axis=1), np.cumsum(x * promo, axis=1)

    def total(cum: np.ndarray, w: int) -> np.ndarray:
        return cum[:, min(w, n_hist) - 1]

    def mean(cum: np.ndarray, w: int) -> np.ndarray:
        return total(cum, w) / min(w, n_hist)

    with np.errstate(invalid="ignore", divide="ignore"):
        for w in spec.windows:
            cols[f"sales_mean_w{w}"] = mean(cum_x, w)
        for w in spec.nonzero_windows:
            days_sold = total(cum_sold, w)
            cols[f"sales_nz_mean_w{w}"] = np.where(days_sold > 0, total(cum_x, w) / days_sold, np.nan)
            cols[f"sales_nz_frac_w{w}"] = mean(cum_sold, w)
        for w in spec.std_windows:
            m = mean(cum_x, w)
            cols[f"sales_std_w{w}"] = np.sqrt(np.clip(mean(cum_x2, w) - m * m, 0.0, None))
        for k in spec.lags:
            cols[f"sales_lag_{k}"] = x[:, k - 1] if k <= n_hist else np.full(rows, np.nan)
        for h in spec.ewm_halflives:
            weights = 0.5 ** (np.arange(n_hist) / h)
            cols[f"sales_ewm_h{h}"] = x @ (weights / weights.sum())
        cols["days_since_sale"] = np.where(sold.any(axis=1), np.argmax(sold, axis=1), np.nan)
        oldest = n_hist - 1 - np.argmax(recorded[:, ::-1], axis=1)
        cols["days_since_first"] = np.where(recorded.any(axis=1), oldest, np.nan)
        cols["history_days"] = np.full(rows, float(n_hist))
        for w in spec.promo_windows:
            cols[f"promo_sum_w{w}"] = total(cum_p, w)
        w = spec.promo_effect_window
        promo_days, promo_sum = total(cum_p, w), total(cum_xp, w)
        plain_days = min(w, n_hist) - promo_days
        cols[f"sales_mean_promo_w{w}"] = np.where(promo_days > 0, promo_sum / promo_days, np.nan)
        cols[f"sales_mean_nopromo_w{w}"] = np.where(
            plain_days > 0, (total(cum_x, w) - promo_sum) / plain_days, np.nan
        )
        # Target-weekday means: column j0 holds the mean over days j0, j0 + 7, ... back from the
        # origin, where j0 is the distance from the origin back to the target's weekday.
        for k in spec.dow_weeks:
            means = np.full((rows, 7), np.nan)
            overall = mean(cum_x, 7 * k)
            for j0 in range(min(7, n_hist)):
                means[:, j0] = x[:, j0::7][:, :k].mean(axis=1)
            dow[k] = (means, means - overall[:, None])

    # A series with no record in the lookback (new, or never stored) has no history of its own:
    # its features are unknown, not zeros, and the model leans on its item, class, family and
    # store (training hides a few series' own features to teach it that: cold start).
    unseen = ~recorded.any(axis=1)
    if unseen.any():
        cols = {k: v if k == "history_days" else np.where(unseen, np.nan, v) for k, v in cols.items()}
        dow = {
            k: (np.where(unseen[:, None], np.nan, m), np.where(unseen[:, None], np.nan, d))
            for k, (m, d) in dow.items()
        }

    # Pooled features average over every series with a record anywhere in the lookback, its
    # absent days counted as zeros (as Favorita means them). Pooling only the series with a row on
    # the origin day made a slow item lose its item level on the days no store sold it, and made
    # the level of an item depend on which stores a file happened to hold. This population depends
    # on each series' own history only, so training (the whole panel) and serving (the sums over
    # the whole history, ``build_features(..., pooled=...)``) agree whatever rows the upload has.
    # They are kept as sums and counts (PooledSums), so shards of one forecast can add theirs up.
    sums = _pooled_sums(
        x[:n], cum_x[:n], cum_sold[:n], promo[:n], recorded[:n].any(axis=1), panel, reference, spec, mean
    )
    return _SeriesBlock(origin, n_hist, cols, dow, sums=sums, **_pooled_means(sums, spec))


def _dow_matrix(x: np.ndarray, k: int) -> np.ndarray:
    """Per series, column ``j0``: mean over days ``j0, j0 + 7, ...`` (``k`` weeks) minus the ``7k``-day mean."""
    n_hist = x.shape[1]
    out = np.full((x.shape[0], 7), np.nan)
    overall = x[:, : 7 * k].mean(axis=1)
    for j0 in range(min(7, n_hist)):
        out[:, j0] = x[:, j0::7][:, :k].mean(axis=1) - overall
    return out


@dataclass
class PooledSums:
    """Per-item, per-store and per-group sums and counts that the pooled features are means of.

    They add up over disjoint sets of series, so a forecast split into shards of series gets the
    same pooled features as one over all of them: each shard computes its sums
    (:func:`pooled_sums`), :meth:`merge` adds them, and every shard builds its features with the
    total (``build_features(..., pooled=...)``).

    Attributes:
        item_keys: Item numbers, sorted. store_keys: store numbers, sorted.
        recorded: Series with a record in the lookback (the pooled population; when there are
            none anywhere, every series is pooled instead).
        item, store: ``name -> (4, n_keys)`` float64: total and count over the recorded series,
            then total and count over every series.
        group_keys: The item groups of the class and family levels, sorted strings (see
            :func:`_item_groups`): ``class=1045`` over all stores, ``store=3|class=1045`` in
            store 3, and the same for ``family``.
        group: ``name -> (4, n_group_keys)``, as ``item`` and ``store``.
    """

    item_keys: np.ndarray
    store_keys: np.ndarray
    recorded: int
    item: dict[str, np.ndarray]
    store: dict[str, np.ndarray]
    group_keys: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=str))
    group: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def empty(cls, item_keys: np.ndarray, store_keys: np.ndarray) -> PooledSums:
        return cls(np.asarray(item_keys, dtype=np.int64), np.asarray(store_keys, dtype=np.int64), 0, {}, {})

    @classmethod
    def merge(cls, parts: Sequence[PooledSums]) -> PooledSums:
        """The sums over the union of the parts' (disjoint) series."""
        item_keys = (
            np.unique(np.concatenate([p.item_keys for p in parts])) if parts else np.zeros(0, np.int64)
        )
        store_keys = (
            np.unique(np.concatenate([p.store_keys for p in parts])) if parts else np.zeros(0, np.int64)
        )
        group_keys = (
            np.unique(np.concatenate([p.group_keys.astype(str) for p in parts]))
            if parts
            else np.zeros(0, str)
        )

        def add(keys: np.ndarray, side: str) -> dict[str, np.ndarray]:
            out: dict[str, np.ndarray] = {}
            for part in parts:
                pos = pd.Index(keys).get_indexer(getattr(part, f"{side}_keys"))
                for name, table in getattr(part, side).items():
                    acc = out.setdefault(name, np.zeros((4, len(keys))))
                    acc[:, pos] += table  # a part's keys are distinct: no position twice
            return out

        return cls(
            item_keys,
            store_keys,
            sum(p.recorded for p in parts),
            add(item_keys, "item"),
            add(store_keys, "store"),
            group_keys,
            add(group_keys, "group"),
        )


def _sums(values: np.ndarray, codes: np.ndarray, n_groups: int, pool: np.ndarray) -> np.ndarray:
    """``(4, n_groups)``: total and count of the non-missing ``values`` per group, in ``pool``, then in all."""
    out = np.zeros((4, n_groups))
    ok = ~np.isnan(values)
    for j, chosen in enumerate((ok & pool, ok)):
        out[2 * j] = np.bincount(codes[chosen], weights=values[chosen], minlength=n_groups)
        out[2 * j + 1] = np.bincount(codes[chosen], minlength=n_groups)
    return out


def _pooled_sums(
    x: np.ndarray,
    cum_x: np.ndarray,
    cum_sold: np.ndarray,
    promo: np.ndarray,
    pool: np.ndarray,
    panel: SalesPanel,
    reference: Reference,
    spec: FeatureSpec,
    mean: Any,
) -> PooledSums:
    """Sums and counts of the values the pooled features average (all arrays: one row per series)."""
    n_hist = x.shape[1]
    item_keys, item_codes = np.unique(panel.items, return_inverse=True)
    store_keys, store_codes = np.unique(panel.stores.astype(np.int64), return_inverse=True)
    n_items, n_stores = len(item_keys), len(store_keys)
    item: dict[str, np.ndarray] = {}
    store: dict[str, np.ndarray] = {}
    for w in spec.item_windows:
        item[f"item_sales_mean_w{w}"] = _sums(mean(cum_x, w), item_codes, n_items, pool)
        item[f"item_nz_frac_w{w}"] = _sums(mean(cum_sold, w), item_codes, n_items, pool)
    for w in spec.store_windows:
        store[f"store_sales_mean_w{w}"] = _sums(mean(cum_x, w), store_codes, n_stores, pool)
    for k in spec.group_dow_weeks:
        diffs = _dow_matrix(x, k)
        for j in range(7):
            item[f"item_dow_k{k}_{j}"] = _sums(diffs[:, j], item_codes, n_items, pool)
            store[f"store_dow_k{k}_{j}"] = _sums(diffs[:, j], store_codes, n_stores, pool)
    w = min(spec.item_promo_window, n_hist)
    on, xs = promo[:, :w], x[:, :w]
    for name, values in (
        ("promo_days", on.sum(axis=1)),
        ("plain_days", (1.0 - on).sum(axis=1)),
        ("promo_total", (xs * on).sum(axis=1)),
        ("plain_total", (xs * (1.0 - on)).sum(axis=1)),
    ):
        item[f"lift_{name}"] = _sums(values, item_codes, n_items, pool)
    # Class and family levels: each series adds to its item's groups (over all stores, in its store).
    groups = _item_groups(reference, panel.stores, panel.items)
    group_keys = np.unique(
        np.concatenate([np.zeros(0, dtype=str), *(labels for labels, _ in groups.values())])
    )
    positions = _group_positions(group_keys, groups)
    group: dict[str, np.ndarray] = {}
    for w in spec.class_windows:
        values, table = mean(cum_x, w), np.zeros((4, len(group_keys)))
        for pos in positions.values():
            table += _sums(np.where(pos >= 0, values, np.nan), np.maximum(pos, 0), len(group_keys), pool)
        group[f"sales_mean_w{w}"] = table
    return PooledSums(item_keys, store_keys, int(pool.sum()), item, store, group_keys, group)


def _item_groups(
    reference: Reference, stores: np.ndarray, items: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each row's item groups by kind: ``{attr}`` over all stores and ``store_{attr}`` in the row's
    store, for each of :data:`_GROUP_ATTRIBUTES`.

    A kind is ``(labels, codes)``: row ``i`` belongs to ``labels[codes[i]]`` (``class=1045``,
    ``store=3|class=1045`` in store 3: the prefixes keep the kinds apart), or to none where ``codes[i]`` is -1 (an item not in the
    reference). Labels are built per distinct group, never per row.
    """
    uniq, item_codes = np.unique(np.asarray(items, dtype=np.int64), return_inverse=True)
    item_codes = item_codes.reshape(-1)
    stores = np.asarray(stores, dtype=np.int64)
    attributes = reference.item_attributes(uniq)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for attr in _GROUP_ATTRIBUTES:
        values = attributes[attr]
        text = (values.astype("Int64") if attr == "class" else values).astype(str)
        group_codes, labels = pd.factorize((f"{attr}=" + text).where(values.notna()))
        codes = group_codes[item_codes]
        out[attr] = (np.asarray(labels, dtype=str), codes)
        known = codes >= 0
        pairs, inverse = np.unique(
            np.column_stack([stores[known], codes[known]]), axis=0, return_inverse=True
        )
        pair_labels = (
            "store="
            + pd.Series(pairs[:, 0]).astype(str)
            + "|"
            + pd.Series(np.asarray(labels, dtype=str)[pairs[:, 1]])
        )
        pair_codes = np.full(len(codes), -1, dtype=np.int64)
        pair_codes[known] = inverse.reshape(-1)
        out[f"store_{attr}"] = (pair_labels.to_numpy(dtype=str), pair_codes)
    return out


def _group_positions(
    keys: np.ndarray, groups: Mapping[str, tuple[np.ndarray, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Each kind's rows' positions in ``keys`` (-1: no group, or a group ``keys`` does not hold)."""
    index = pd.Index(keys)
    out: dict[str, np.ndarray] = {}
    for kind, (labels, codes) in groups.items():
        pos = np.append(index.get_indexer(pd.Index(labels)), -1)
        out[kind] = pos[np.where(codes >= 0, codes, len(pos) - 1)]
    return out


def _pooled_means(sums: PooledSums, spec: FeatureSpec) -> dict[str, Any]:
    """The pooled (item, store and group) columns of a :class:`_SeriesBlock` from the sums."""
    row = 0 if sums.recorded > 0 else 2
    n_items, n_stores = len(sums.item_keys), len(sums.store_keys)

    def table(side: dict[str, np.ndarray], name: str, n_groups: int) -> np.ndarray:
        return side[name] if name in side else np.zeros((4, n_groups))

    def mean(side: dict[str, np.ndarray], name: str, n_groups: int) -> np.ndarray:
        t = table(side, name, n_groups)
        out = np.full(n_groups, np.nan)
        np.divide(t[row], t[row + 1], out=out, where=t[row + 1] > 0)
        return out

    item_cols: dict[str, np.ndarray] = {}
    store_cols: dict[str, np.ndarray] = {}
    for w in spec.item_windows:
        item_cols[f"item_sales_mean_w{w}"] = mean(sums.item, f"item_sales_mean_w{w}", n_items)
        item_cols[f"item_nz_frac_w{w}"] = mean(sums.item, f"item_nz_frac_w{w}", n_items)
    for w in spec.store_windows:
        store_cols[f"store_sales_mean_w{w}"] = mean(sums.store, f"store_sales_mean_w{w}", n_stores)
    item_dow = {
        k: np.stack([mean(sums.item, f"item_dow_k{k}_{j}", n_items) for j in range(7)], axis=1)
        for k in spec.group_dow_weeks
    }
    store_dow = {
        k: np.stack([mean(sums.store, f"store_dow_k{k}_{j}", n_stores) for j in range(7)], axis=1)
        for k in spec.group_dow_weeks
    }
    promo_days, plain_days, promo_total, plain_total = (
        table(sums.item, f"lift_{name}", n_items)[row]
        for name in ("promo_days", "plain_days", "promo_total", "plain_total")
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        item_cols[f"item_promo_lift_w{spec.item_promo_window}"] = np.where(
            (promo_days > 0) & (plain_days > 0), promo_total / promo_days - plain_total / plain_days, np.nan
        )
    group_columns = {
        f"sales_mean_w{w}": mean(sums.group, f"sales_mean_w{w}", len(sums.group_keys))
        for w in spec.class_windows
    }
    return {
        "group_columns": group_columns,
        "item_keys": sums.item_keys,
        "item_columns": item_cols,
        "store_keys": sums.store_keys,
        "store_columns": store_cols,
        "item_dow": item_dow,
        "store_dow": store_dow,
    }


def pooled_sums(
    panel: SalesPanel, origin: pd.Timestamp | str, spec: FeatureSpec, reference: Reference
) -> PooledSums:
    """The sums behind the pooled (item, store, class and family) features of ``panel``'s series at ``origin``."""
    return _series_block(panel, pd.Timestamp(origin).normalize(), spec, reference).sums


# -- assembling target rows --------------------------------------------------------------------


def _lookup(keys: np.ndarray, table: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    pos = pd.Index(keys).get_indexer(wanted)
    padded = np.append(table, np.nan)
    return padded[np.where(pos < 0, len(table), pos)]


def _lookup_2d(table: np.ndarray, pos: np.ndarray, column: np.ndarray) -> np.ndarray:
    """``table[pos, column]``, NaN where ``pos`` is -1 (a key the panel has not seen)."""
    padded = np.vstack([table, np.full((1, table.shape[1]), np.nan)])
    return padded[np.where(pos < 0, len(table), pos), column]


def _assemble(
    block: _SeriesBlock,
    rows: np.ndarray,
    stores: np.ndarray,
    items: np.ndarray,
    ahead: np.ndarray,
    onpromotion: np.ndarray,
    reference: Reference,
    spec: FeatureSpec,
    category_maps: Mapping[str, Sequence[Any]],
    promo_known: np.ndarray | None = None,
    new_item: np.ndarray | None = None,
    window_promo: np.ndarray | None = None,
) -> pd.DataFrame:
    """Feature rows for targets given as panel rows (``-1`` = unseen series) and days ahead.

    ``promo_known`` (1/0 per row, all 1 if None) marks rows whose ``onpromotion`` is unknown:
    their ``onpromotion`` feature is missing. ``new_item`` (bool per row) hides the item's
    pooled features, as for an item no store has sold yet (training uses it to teach cold start).
    ``window_promo`` (rows x 16, 1/0, NaN unknown) holds each row's series' promotions on the days
    1..16 after the origin; None: unknown.
    """
    n_series = len(next(iter(block.columns.values()))) - 1
    r = np.where(rows < 0, n_series, rows)
    out: dict[str, np.ndarray] = {"horizon": ahead.astype(np.float32)}
    for name, col in block.columns.items():
        out[name] = col[r]
    dates = block.origin + pd.to_timedelta(ahead, unit="D")
    origin_dow = block.origin.day_of_week
    target_dow = (origin_dow + ahead) % 7
    j0 = (origin_dow - target_dow) % 7
    for k, (means, diffs) in block.dow.items():
        out[f"dow_mean_k{k}"] = means[r, j0]
        out[f"dow_diff_k{k}"] = diffs[r, j0]
    for name, table in block.item_columns.items():
        out[name] = _lookup(block.item_keys, table, items)
    for name, table in block.store_columns.items():
        out[name] = _lookup(block.store_keys, table, stores)
    item_pos = pd.Index(block.item_keys).get_indexer(items)
    store_pos = pd.Index(block.store_keys).get_indexer(stores)
    for k in block.item_dow:
        out[f"item_dow_diff_k{k}"] = _lookup_2d(block.item_dow[k], item_pos, j0)
        out[f"store_dow_diff_k{k}"] = _lookup_2d(block.store_dow[k], store_pos, j0)
    if new_item is not None and new_item.any():
        for name in [*block.item_columns, *(f"item_dow_diff_k{k}" for k in block.item_dow)]:
            out[name] = np.where(new_item, np.nan, out[name])
    _group_features(block, stores, items, reference, spec, out)
    # Calendar of the target day, resolved on the few distinct dates.
    date_codes, uniq = pd.factorize(dates)
    uniq = pd.DatetimeIndex(uniq)
    days_in_month = uniq.days_in_month.to_numpy()
    dom = uniq.day.to_numpy()
    known = np.ones(len(onpromotion), dtype=np.float32) if promo_known is None else promo_known
    out["onpromotion"] = np.where(known > 0, onpromotion, np.nan).astype(np.float32)
    out["promo_known"] = known.astype(np.float32)
    window = np.full((len(ahead), MAX_HORIZON), np.nan) if window_promo is None else window_promo
    out.update(_window_promo_features(np.where(known[:, None] > 0, window, np.nan), ahead))
    out["day_of_week"] = target_dow.astype(np.float32)
    out["day_of_month"] = dom[date_codes].astype(np.float32)
    out["days_to_month_end"] = (days_in_month - dom)[date_codes].astype(np.float32)
    out["month"] = uniq.month.to_numpy()[date_codes].astype(np.float32)
    out["is_payday"] = ((dom == 15) | (dom == days_in_month))[date_codes].astype(np.float32)
    flags = reference.holiday_flags(np.asarray(dates), stores)
    for name in HOLIDAY_FLAGS:
        out[name] = flags[name].astype(np.float32)
    # Item and store attributes, looked up once per distinct key.
    item_codes, item_uniq = pd.factorize(items)
    item_attr = reference.item_attributes(np.asarray(item_uniq))
    store_codes, store_uniq = pd.factorize(stores)
    store_attr = reference.store_attributes(np.asarray(store_uniq))
    out["item_family"] = encode_categories(
        item_attr["family"].to_numpy(dtype=object), category_maps["item_family"]
    )[item_codes]
    out["item_class"] = item_attr["class"].to_numpy(dtype=np.float32)[item_codes]
    out["perishable"] = item_attr["perishable"].to_numpy(dtype=np.float32)[item_codes]
    out["store_nbr"] = encode_categories(np.asarray(store_uniq, dtype=np.int64), category_maps["store_nbr"])[
        store_codes
    ]
    out["store_type"] = encode_categories(
        store_attr["type"].to_numpy(dtype=object), category_maps["store_type"]
    )[store_codes]
    out["store_city"] = encode_categories(
        store_attr["city"].to_numpy(dtype=object), category_maps["store_city"]
    )[store_codes]
    out["store_state"] = encode_categories(
        store_attr["state"].to_numpy(dtype=object), category_maps["store_state"]
    )[store_codes]
    out["store_cluster"] = store_attr["cluster"].to_numpy(dtype=np.float32)[store_codes]
    names = feature_names(spec)
    return pd.DataFrame({name: np.asarray(out[name], dtype=np.float32) for name in names}, copy=False)


def _window_promo_features(window: np.ndarray, ahead: np.ndarray) -> dict[str, np.ndarray]:
    """Promotions of the forecast window around each row's target day (``window[:, j]`` = day ``j + 1``)."""
    n, days = window.shape
    j = np.arange(days)[None, :]
    t = (ahead - 1)[:, None]
    on = window == 1
    with np.errstate(invalid="ignore"):
        known = ~np.isnan(window)
        out = {
            "window_promo_days": np.where(known.any(axis=1), on.sum(axis=1), np.nan),
            "window_promo_before": np.where(known.any(axis=1), (on & (j < t)).sum(axis=1), np.nan),
            "window_promo_after": np.where(known.any(axis=1), (on & (j > t)).sum(axis=1), np.nan),
        }
    rows = np.arange(n)
    prev = ahead - 2
    out["window_promo_prev_day"] = np.where(prev >= 0, window[rows, np.clip(prev, 0, days - 1)], np.nan)
    nxt = ahead
    out["window_promo_next_day"] = np.where(nxt < days, window[rows, np.clip(nxt, 0, days - 1)], np.nan)
    before = np.where(on & (j < t), j, -1).max(axis=1)
    out["window_days_since_promo"] = np.where(before >= 0, (ahead - 1) - before, np.nan)
    after = np.where(on & (j > t), j, days + 1).min(axis=1)
    out["window_days_to_promo"] = np.where(after <= days, after - (ahead - 1), np.nan)
    return out


def _window_from_targets(targets_pairs: np.ndarray, ahead: np.ndarray, promo: np.ndarray) -> np.ndarray:
    """Each target row's series' promotions on days 1..16 after the origin, from the target rows themselves."""
    n_pairs = int(targets_pairs.max()) + 1 if len(targets_pairs) else 0
    table = np.full((n_pairs, MAX_HORIZON), np.nan)
    inside = (ahead >= 1) & (ahead <= MAX_HORIZON)
    table[targets_pairs[inside], ahead[inside] - 1] = promo[inside]
    return table[targets_pairs]


def _group_features(
    block: _SeriesBlock,
    stores: np.ndarray,
    items: np.ndarray,
    reference: Reference,
    spec: FeatureSpec,
    out: dict[str, np.ndarray],
) -> None:
    """``store_{attr}_sales_mean_w{w}`` and ``{attr}_sales_mean_w{w}`` of each target row, into ``out``."""
    positions = _group_positions(block.sums.group_keys, _item_groups(reference, stores, items))
    for w in spec.class_windows:
        table = np.append(block.group_columns[f"sales_mean_w{w}"], np.nan)
        for kind, pos in positions.items():
            out[f"{kind}_sales_mean_w{w}"] = table[np.where(pos >= 0, pos, len(table) - 1)]


def _promo_flags(values: pd.Series | np.ndarray) -> np.ndarray:
    series = pd.Series(values)
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        series = series.astype(str).str.strip().str.lower().map({"true": 1, "1": 1, "false": 0, "0": 0})
    return pd.to_numeric(series, errors="coerce").fillna(0).to_numpy(dtype=np.float32)


def promo_known_flags(targets: pd.DataFrame) -> np.ndarray:
    """1 where a target row's promotion is known, 0 where not: the optional ``promo_known`` column.

    Defaults to known for every row when the column is absent (requests in the test.csv format
    carry their promotions).
    """
    if "promo_known" not in targets.columns:
        return np.ones(len(targets), dtype=np.float32)
    return _promo_flags(targets["promo_known"])


def build_features(
    panel: SalesPanel,
    origin: pd.Timestamp | str,
    targets: pd.DataFrame,
    reference: Reference,
    spec: FeatureSpec,
    category_maps: Mapping[str, Sequence[Any]] | None = None,
    pooled: PooledSums | None = None,
) -> pd.DataFrame:
    """One feature row per target row, from history up to ``origin`` only.

    Args:
        panel: Sales history. Only days in ``(origin - spec.lookback_days, origin]`` are read;
            later days (e.g. the actuals of the target days in a backtest) are ignored.
        origin: The forecast origin: the last day of history the forecast may use.
        targets: Rows to forecast, with :data:`TARGET_COLUMNS`. ``onpromotion`` is the promotion
            known in advance for the target day; an optional ``promo_known`` column (bool) says
            where it is not known (see :func:`promo_known_flags`). Series absent from ``panel`` still get a row
            (as a series with no sales; item and store aggregates still apply).
        reference: Item and store attributes and holidays.
        spec: The feature configuration.
        category_maps: Saved category values (from the model's metadata). Defaults to
            :func:`fit_category_maps` of ``reference`` and ``panel``, which only training should do.
        pooled: Item and store sums over a larger set of series than ``panel``'s (a shard's
            forecast uses the sums of all shards). Defaults to ``panel``'s own.

    Returns:
        A float32 frame with columns ``feature_names(spec)``, aligned with ``targets``' rows.

    Raises:
        ValueError: If a column is missing or a target date is not after the origin (that
            would let the target day's own sales into its features).
    """
    missing = [c for c in TARGET_COLUMNS if c not in targets.columns]
    if missing:
        raise ValueError(f"targets lack column(s) {', '.join(missing)}; need {', '.join(TARGET_COLUMNS)}")
    origin = pd.Timestamp(origin).normalize()
    dates = pd.to_datetime(targets["date"]).dt.normalize()
    ahead = (dates - origin).dt.days.to_numpy(dtype=np.int64)
    if len(ahead) and ahead.min() < 1:
        bad = dates.iloc[int(np.argmin(ahead))]
        raise ValueError(f"target date {bad.date()} is not after the forecast origin {origin.date()}")
    stores = targets["store_nbr"].to_numpy(dtype=np.int64)
    items = targets["item_nbr"].to_numpy(dtype=np.int64)
    pair_codes, pairs = pd.factorize(pd.MultiIndex.from_arrays([stores, items]))
    pairs = pd.MultiIndex.from_tuples(pairs) if not isinstance(pairs, pd.MultiIndex) else pairs
    uniq_rows = panel.index_of(pairs.get_level_values(0).to_numpy(), pairs.get_level_values(1).to_numpy())
    rows = uniq_rows[pair_codes] if len(pair_codes) else np.zeros(0, dtype=np.int64)
    maps = category_maps if category_maps is not None else fit_category_maps(reference, panel)
    block = _series_block(panel, origin, spec, reference)
    if pooled is not None:
        block = replace(block, sums=pooled, **_pooled_means(pooled, spec))
    frame = _assemble(
        block,
        rows,
        stores,
        items,
        ahead,
        _promo_flags(targets["onpromotion"]),
        reference,
        spec,
        maps,
        promo_known_flags(targets),
        None,
        _window_from_targets(pair_codes, ahead, _promo_flags(targets["onpromotion"])),
    )
    frame.index = targets.index
    return frame
