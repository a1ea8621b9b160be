"""Favorita-shaped synthetic data, deterministic by seed, so a fresh clone trains and demos offline.

The real competition data cannot ship with the project, so this module writes the same five
files (train.csv with ids, test.csv, items.csv, stores.csv, holidays_events.csv) with the
properties that make Favorita hard and that the model must handle: levels spanning orders of
magnitude and differing by store and item, slow level drift, weekly seasonality that varies by
family and store type, paydays, holidays (Christmas run-up, closed days, local festivals),
promotions with item-specific lift, perishables, heavy intermittency (about half the store-item
days sell nothing, and such days have no row, so their promotion goes unrecorded, as in Kaggle's file), stock-outs, new and discontinued items, returns
(negative sales) and fractional sales (kilos) for fresh families.

Everything is vectorised over a store's items; the only loops run over stores and date blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from grocery_forecast.contract.reference import Reference
from grocery_forecast.contract.schema import DEFAULT_HORIZON
from grocery_forecast.forecasting.panel import SalesPanel

__all__ = [
    "RETURN_PROBABILITY",
    "GeneratedData",
    "GeneratorConfig",
    "GeneratorLatents",
    "generate",
    "write_dataset",
]

# family: (share of items, perishable, fractional kilos, first class number, weekend lift)
_FAMILIES: dict[str, tuple[float, int, bool, int, float]] = {
    "GROCERY I": (0.30, 0, False, 1002, 0.20),
    "BEVERAGES": (0.14, 0, False, 1114, 0.30),
    "CLEANING": (0.10, 0, False, 3004, 0.15),
    "PRODUCE": (0.07, 1, True, 2002, 0.30),
    "DAIRY": (0.06, 1, False, 2102, 0.20),
    "PERSONAL CARE": (0.04, 0, False, 4104, 0.15),
    "BREAD/BAKERY": (0.03, 1, False, 2702, 0.35),
    "HOME CARE": (0.03, 0, False, 3102, 0.10),
    "DELI": (0.02, 1, True, 2630, 0.35),
    "MEATS": (0.02, 1, True, 2302, 0.40),
    "POULTRY": (0.015, 1, True, 2412, 0.40),
    "LIQUOR,WINE,BEER": (0.02, 0, False, 1302, 0.70),
    "FROZEN FOODS": (0.015, 0, False, 2208, 0.20),
    "EGGS": (0.01, 1, False, 2502, 0.20),
    "HOME AND KITCHEN I": (0.02, 0, False, 6206, 0.30),
    "CELEBRATION": (0.01, 0, False, 5308, 0.40),
    "SEAFOOD": (0.005, 1, True, 2802, 0.40),
    "PREPARED FOODS": (0.01, 1, False, 2904, 0.25),
    "SCHOOL AND OFFICE SUPPLIES": (0.005, 0, False, 6404, 0.10),
    "AUTOMOTIVE": (0.005, 0, False, 6806, 0.10),
}
_CITIES: tuple[tuple[str, str], ...] = (
    ("Quito", "Pichincha"),
    ("Guayaquil", "Guayas"),
    ("Cuenca", "Azuay"),
    ("Santo Domingo", "Santo Domingo de los Tsachilas"),
    ("Machala", "El Oro"),
    ("Ambato", "Tungurahua"),
    ("Manta", "Manabi"),
    ("Latacunga", "Cotopaxi"),
    ("Loja", "Loja"),
    ("Riobamba", "Chimborazo"),
    ("Ibarra", "Imbabura"),
    ("Babahoyo", "Los Rios"),
    ("Esmeraldas", "Esmeraldas"),
    ("Salinas", "Santa Elena"),
    ("Daule", "Guayas"),
    ("Cayambe", "Pichincha"),
    ("Quevedo", "Los Rios"),
    ("Puyo", "Pastaza"),
    ("Guaranda", "Bolivar"),
    ("Libertad", "Guayas"),
    ("Playas", "Guayas"),
    ("El Carmen", "Manabi"),
)
_STORE_TYPES = ("A", "B", "C", "D", "E")
_TYPE_LEVEL = {"A": 0.6, "B": 0.1, "C": -0.2, "D": 0.2, "E": -0.3}
#: The slow level drift of every series is an AR(1) in log space: ``d[t] = DRIFT_AR * d[t-1] + e``,
#: ``e ~ N(0, DRIFT_SD**2)``. A forecaster at an origin knows ``d`` up to it, not the innovations after.
_DRIFT_AR = 0.97
_DRIFT_SD = 0.04
#: Share of the days a series could sell on that record a return (negative sales, scored as 0).
RETURN_PROBABILITY = 0.0005
_FIXED_HOLIDAYS = (
    (1, 1, "Primer dia del ano"),
    (5, 1, "Dia del Trabajo"),
    (5, 24, "Batalla de Pichincha"),
    (8, 10, "Primer Grito de Independencia"),
    (10, 9, "Independencia de Guayaquil"),
    (11, 2, "Dia de Difuntos"),
    (11, 3, "Independencia de Cuenca"),
    (12, 25, "Navidad"),
)


@dataclass(frozen=True)
class GeneratorConfig:
    """Size and randomness of a generated data set.

    Attributes:
        seed: Everything generated follows from it. Defaults to 0.
        stores: Number of stores. Defaults to 10.
        items: Number of items. Defaults to 50.
        start: First date of train.csv. Defaults to 2016-08-16, so a year ends where Kaggle's did.
        days: Days in train.csv. Defaults to 365.
        horizon: Days in test.csv after the last train day. Defaults to 16 (Kaggle's test window).
        hard: Add the problems real Favorita data poses beyond level estimation (issue 14):
            dips before and after a promotion (customers wait for it, then have stocked up),
            cannibalisation within a family (an item sells less while others of its family are
            on promotion in the store), weekday profiles that drift over the year by store,
            store-specific strength of holiday effects, long zero runs for slow movers (weeks
            without supply) and stores that close for good; and promotions recorded on days
            without sales (a row of 0 units), as test.csv gives every requested day's promotion:
            otherwise a backtest's ``onpromotion`` True would imply a sale, a leak no request
            has. Drawn from a random stream of their own, so ``hard=False`` data is unchanged. Defaults to False (the sample data and the
            CI model stay as they were; measure tuning claims on both).
        assortment: Share of the items each store carries (drawn per store); the others never
            sell there, so train.csv has no row for them, while test.csv still asks for every store x
            item, as Kaggle's does (in 2017 Favorita's 54 stores sold about 170,000 of the 221,000
            pairs). A random stream of its own: 1.0 (the default) leaves the data unchanged.
    """

    seed: int = 0
    stores: int = 10
    items: int = 50
    start: str = "2016-08-16"
    days: int = 365
    horizon: int = DEFAULT_HORIZON
    hard: bool = False
    assortment: float = 1.0

    def __post_init__(self) -> None:
        for name in ("stores", "items", "days", "horizon"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 < self.assortment <= 1.0:
            raise ValueError(f"assortment must be within (0, 1], got {self.assortment}")
        pd.Timestamp(self.start)  # raises on an unreadable date

    @property
    def end(self) -> pd.Timestamp:
        """The last day of train.csv."""
        return pd.Timestamp(self.start) + pd.Timedelta(days=self.days - 1)


@dataclass
class GeneratorLatents:
    """What the generator drew behind the sales it wrote, to measure the best any forecaster could do.

    A day's sales are ``Poisson(mean * Gamma(dispersion, 1 / dispersion))`` units (a negative
    binomial), times ``kilo * Uniform(0.8, 1.2)`` for fractional families, replaced by a return
    with probability :data:`RETURN_PROBABILITY`. Knowing ``mean`` is knowing everything a forecast
    could: the rest is noise no model can predict. Issue 14 asks for margins over a baseline at
    every horizon; these say whether the data leaves room for them.

    Attributes:
        start: The day of column 0 (train.csv's first day; the columns run on past its end over
            test.csv's days).
        mean: (series, days) expected units before the gamma-Poisson noise, 0 on days nothing can
            sell (stock-outs, closures, before a launch or opening, after a delisting). Rows in
            :attr:`GeneratedData.panel` order.
        potential: (series, days) ``mean`` had the series been on sale every day (no stock-out,
            closure, launch or delisting): ``mean`` is ``potential`` where ``mean > 0``.
        drift: (series, days) the AR(1) level drift inside ``log(mean)`` (see ``_DRIFT_AR``).
        dispersion: (series,) the gamma shape: smaller is noisier.
        kilo: (series,) kilos per unit for fractional families, 1.0 for counted ones.
        fractional: (series,) whether the series sells in kilos.
    """

    start: pd.Timestamp
    mean: np.ndarray
    potential: np.ndarray
    drift: np.ndarray
    dispersion: np.ndarray
    kilo: np.ndarray
    fractional: np.ndarray

    def day_index(self, day: pd.Timestamp | str) -> int:
        """Column of ``day`` in :attr:`mean` and :attr:`drift`."""
        return int((pd.Timestamp(day).normalize() - self.start).days)

    def oracle_log1p(
        self,
        day: pd.Timestamp | str,
        origin: pd.Timestamp | str | None = None,
        nodes: int = 9,
        outages_known: bool = True,
    ) -> np.ndarray:
        """The best forecast in Favorita's metric of every series on ``day``, as ``log1p`` units.

        Under squared error on ``log1p`` the best point forecast is the expected ``log1p`` of the
        sales distribution (not ``log1p`` of the expected sales, which is biased upward by the
        noise): computed exactly over the negative binomial (the uniform kilo factor integrated in
        closed form, the rounding to grams ignored), times the chance of no return.

        Args:
            day: The target day.
            origin: If given, the forecaster knows the level drift only up to this day and
                averages over the drift's innovations after it (Gauss-Hermite); everything else
                (promotions, stock-outs, weekday profiles, holidays) it still knows. Defaults to
                None: the drift on ``day`` is known too.
            nodes: Gauss-Hermite nodes for ``origin``. Defaults to 9.
            outages_known: With ``origin``: False hides which days after it a series cannot sell
                (a stock-out or a zero run starting, one ending, a closure): the forecaster knows
                the series' outage history up to the origin (how long it has been out, the share
                of the last 112 days it was out) and the chance, over all series with a similar
                history, that it sells ``day - origin`` days later, and forecasts that chance
                times the expected ``log1p`` had it been on sale. Defaults to True.
        """
        col = self.day_index(day)
        mean = self.mean[:, col].astype(np.float64)
        if origin is None:
            expected = _expected_log1p(mean, self.dispersion, self.kilo, self.fractional)
            return (1.0 - RETURN_PROBABILITY) * expected
        at = self.day_index(origin)
        ahead = col - at
        if ahead < 1:
            raise ValueError(f"day {pd.Timestamp(day).date()} is not after the origin")
        known = _DRIFT_AR**ahead * self.drift[:, at].astype(np.float64)
        sd = _DRIFT_SD * np.sqrt((1.0 - _DRIFT_AR ** (2 * ahead)) / (1.0 - _DRIFT_AR**2))
        selling = mean > 0
        if not outages_known:
            mean = self.potential[:, col].astype(np.float64)
            state = self._outage_state(at)
            hits = np.bincount(state, weights=selling, minlength=state.max() + 1)
            chance = (hits / np.maximum(np.bincount(state), 1))[state]
        base = mean * np.exp(known - self.drift[:, col].astype(np.float64))
        z, w = np.polynomial.hermite_e.hermegauss(nodes)
        w = w / w.sum()
        out = np.zeros_like(mean)
        for zk, wk in zip(z, w, strict=True):
            out += wk * _expected_log1p(base * np.exp(sd * zk), self.dispersion, self.kilo, self.fractional)
        if not outages_known:
            out = chance * out
        return (1.0 - RETURN_PROBABILITY) * out

    def _outage_state(self, at: int) -> np.ndarray:
        """Each series' outage history at column ``at`` as a bucket code: run length x share out.

        The run is the days up to ``at`` it could not sell (0, 1-3, 4-10, 11-30, over 30); the
        share is of the 112 days up to ``at`` (0, to 5%, to 15%, to 50%, more).
        """
        out = self.mean[:, max(0, at - 111) : at + 1] <= 0
        selling_days = np.where(~out, np.arange(out.shape[1])[None, :], -1).max(axis=1)
        run = out.shape[1] - 1 - selling_days  # all out: the whole window (and more)
        run_bucket = np.digitize(run, [1, 4, 11, 31])
        share_bucket = np.digitize(out.mean(axis=1), [1e-9, 0.05, 0.15, 0.5 + 1e-9])
        return (run_bucket * 5 + share_bucket).astype(np.int64)


def _expected_log1p(
    mean: np.ndarray, dispersion: np.ndarray, kilo: np.ndarray, fractional: np.ndarray, tail: float = 12.0
) -> np.ndarray:
    """``E[log1p(Y)]`` for ``Y`` negative binomial (``mean``, shape ``dispersion``), in kilos where fractional.

    Summed over the counts ``0 .. mean + tail * sd`` (the rest of the mass is below 1e-12), series
    sorted by mean and taken in blocks so that a block's grid fits its largest mean.
    """
    from scipy.special import gammaln

    out = np.zeros(len(mean), dtype=np.float64)
    live = np.flatnonzero(mean > 0)
    live = live[np.argsort(mean[live], kind="stable")]
    span = mean[live] + tail * np.sqrt(mean[live] + mean[live] ** 2 / dispersion[live])
    lo = 0
    while lo < len(live):
        hi = min(lo + 2000, len(live))
        while hi - lo > 1 and (hi - lo) * (span[hi - 1] + 21) > 4_000_000:  # a grid of at most 32 MB
            hi = lo + (hi - lo) // 2
        block, lo = live[lo:hi], hi
        m, r = mean[block], dispersion[block]
        top = int(np.ceil(np.max(m + tail * np.sqrt(m + m * m / r)))) + 20
        y = np.arange(top + 1, dtype=np.float64)[None, :]
        log_p = (
            gammaln(y + r[:, None])
            - gammaln(r)[:, None]
            - gammaln(y + 1.0)
            + r[:, None] * np.log(r / (r + m))[:, None]
            + y * np.log(m / (r + m))[:, None]
        )
        a = y * np.where(fractional[block], kilo[block], 0.0)[:, None]
        # E over U ~ Uniform(0.8, 1.2) of log1p(a U), in closed form; plain log1p(y) for counts.
        with np.errstate(divide="ignore", invalid="ignore"):
            upper, lower = 1.0 + 1.2 * a, 1.0 + 0.8 * a
            kilos = (upper * np.log(upper) - lower * np.log(lower) - 0.4 * a) / (0.4 * a)
        value = np.where(fractional[block][:, None], np.where(a > 0, kilos, 0.0), np.log1p(y))
        out[block] = np.sum(np.exp(log_p) * value, axis=1)
    return out


@dataclass
class GeneratedData:
    """One generated data set, as frames in the Kaggle layouts.

    Attributes:
        train: ``id,date,store_nbr,item_nbr,unit_sales,onpromotion`` (only days with a row).
        test: ``id,date,store_nbr,item_nbr,onpromotion`` for every store-item, ``horizon`` days.
        items, stores, holidays_events: The reference tables.
        panel: train.csv as a :class:`SalesPanel` (every store-item, NaN where no row).
        future_sales: Unit sales of the ``horizon`` days after train.csv (absent rows as 0),
            aligned with ``panel``'s rows: the answers to test.csv, for checks.
        future_mean: The expected unit sales behind ``future_sales`` (before the noise), the
            forecast an oracle would make, for judging how much a model could gain.
        latents: What the sales were drawn from on every day (train.csv's and test.csv's), when
            :func:`generate` was asked to keep it; None otherwise (it costs two more
            series x days arrays).
    """

    config: GeneratorConfig
    test: pd.DataFrame
    items: pd.DataFrame
    stores: pd.DataFrame
    holidays_events: pd.DataFrame
    panel: SalesPanel
    future_sales: np.ndarray
    future_mean: np.ndarray
    latents: GeneratorLatents | None = None

    @cached_property
    def train(self) -> pd.DataFrame:
        """train.csv as a frame, built on first use.

        Built from :attr:`panel` when asked for, not by :func:`generate`: at Favorita's size it is
        86 M rows (a few GB, and a sort), which :func:`write_dataset` never needs.
        """
        train = self.panel.to_frame()
        train["unit_sales"] = np.round(train["unit_sales"].to_numpy(), 3)
        train.insert(0, "id", np.arange(len(train), dtype=np.int64))
        return train

    @property
    def train_rows(self) -> int:
        """Rows of train.csv (recorded store-item-days), without building the frame."""
        return int(np.count_nonzero(~np.isnan(self.panel.sales)))

    @property
    def reference(self) -> Reference:
        """The reference tables as a :class:`Reference`."""
        return Reference.from_frames(
            {"items": self.items, "stores": self.stores, "holidays_events": self.holidays_events}
        )


# -- reference tables ------------------------------------------------------------------------------


def _make_stores(rng: np.random.Generator, n: int) -> pd.DataFrame:
    cities = [_CITIES[0]] * 3 + [_CITIES[1]] * 2 + list(_CITIES[2:])
    picked = [
        cities[i % len(cities)] if i < len(cities) else cities[rng.integers(len(cities))] for i in range(n)
    ]
    return pd.DataFrame(
        {
            "store_nbr": np.arange(1, n + 1),
            "city": [c for c, _ in picked],
            "state": [s for _, s in picked],
            "type": rng.choice(_STORE_TYPES, size=n, p=[0.2, 0.15, 0.3, 0.25, 0.1]),
            "cluster": rng.integers(1, 18, size=n),
        }
    )


def _make_items(rng: np.random.Generator, n: int) -> pd.DataFrame:
    names = list(_FAMILIES)
    share = np.array([_FAMILIES[f][0] for f in names])
    family = rng.choice(names, size=n, p=share / share.sum())
    item_nbr = np.sort(rng.choice(np.arange(96_995, 2_134_244), size=n, replace=False))
    return pd.DataFrame(
        {
            "item_nbr": item_nbr,
            "family": family,
            "class": [_FAMILIES[f][3] + int(rng.integers(0, 40)) for f in family],
            "perishable": [_FAMILIES[f][1] for f in family],
        }
    )


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous algorithm), for Carnaval and Good Friday."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = h + m - 7 * ((a + 11 * h + 22 * m) // 451) + 114
    return date(year, n // 31, n % 31 + 1)


def _make_holidays(
    rng: np.random.Generator, stores: pd.DataFrame, first: pd.Timestamp, last: pd.Timestamp
) -> pd.DataFrame:
    rows: list[tuple[str, str, str, str, str, bool]] = []

    def add(day: date, kind: str, locale: str, name: str, desc: str, transferred: bool = False) -> None:
        rows.append((day.isoformat(), kind, locale, name, desc, transferred))

    cities = sorted(set(stores["city"]))
    states = sorted(set(stores["state"]))
    city_day = {c: (int(rng.integers(1, 13)), int(rng.integers(1, 29))) for c in cities}
    state_day = {s: (int(rng.integers(1, 13)), int(rng.integers(1, 29))) for s in states}
    for year in range(first.year, last.year + 1):
        for month, day, desc in _FIXED_HOLIDAYS:
            d = date(year, month, day)
            if desc == "Primer Grito de Independencia" and d.weekday() in (1, 2, 3):
                friday = d + timedelta(days=4 - d.weekday())
                add(d, "Holiday", "National", "Ecuador", desc, True)
                add(friday, "Transfer", "National", "Ecuador", f"Traslado {desc}")
            else:
                add(d, "Holiday", "National", "Ecuador", desc)
        easter = _easter(year)
        add(easter - timedelta(days=48), "Holiday", "National", "Ecuador", "Carnaval")
        add(easter - timedelta(days=47), "Holiday", "National", "Ecuador", "Carnaval")
        add(easter - timedelta(days=2), "Holiday", "National", "Ecuador", "Viernes Santo")
        for k in (4, 3, 2, 1):
            add(date(year, 12, 25) - timedelta(days=k), "Additional", "National", "Ecuador", f"Navidad-{k}")
        add(date(year, 12, 26), "Additional", "National", "Ecuador", "Navidad+1")
        add(date(year, 12, 31), "Additional", "National", "Ecuador", "Primer dia del ano-1")
        may1 = date(year, 5, 1)
        mothers = may1 + timedelta(days=(6 - may1.weekday()) % 7 + 7)
        add(mothers - timedelta(days=1), "Additional", "National", "Ecuador", "Dia de la Madre-1")
        add(mothers, "Event", "National", "Ecuador", "Dia de la Madre")
        nov1 = date(year, 11, 1)
        black_friday = nov1 + timedelta(days=(4 - nov1.weekday()) % 7 + 21)
        add(black_friday, "Event", "National", "Ecuador", "Black Friday")
        add(black_friday + timedelta(days=3), "Event", "National", "Ecuador", "Cyber Monday")
        nov2 = date(year, 11, 2)
        if nov2.weekday() == 3:  # a Thursday holiday bridges to Friday, paid back on a Saturday
            add(nov2 + timedelta(days=2), "Bridge", "National", "Ecuador", "Puente Dia de Difuntos")
            add(
                nov2 + timedelta(days=9), "Work Day", "National", "Ecuador", "Recupero Puente Dia de Difuntos"
            )
        for city, (month, dom) in city_day.items():
            add(date(year, month, dom), "Holiday", "Local", city, f"Fundacion de {city}")
        for state, (month, dom) in state_day.items():
            add(date(year, month, dom), "Holiday", "Regional", state, f"Provincializacion de {state}")
    frame = pd.DataFrame(
        rows, columns=["date", "type", "locale", "locale_name", "description", "transferred"]
    )
    frame = frame[(frame["date"] >= first.date().isoformat()) & (frame["date"] <= last.date().isoformat())]
    return frame.sort_values(["date", "locale", "description"], ignore_index=True)


# -- sales -----------------------------------------------------------------------------------------


def _runs(
    rng: np.random.Generator, shape: tuple[int, int], start_prob: np.ndarray, min_len: int, max_len: int
) -> np.ndarray:
    """Boolean runs along axis 1: each start lasts a random ``min_len..max_len`` days."""
    _, d = shape
    starts = rng.random(shape) < start_prob[:, None]
    lengths = rng.integers(min_len, max_len + 1, size=shape)
    end = np.where(starts, np.arange(d)[None, :] + lengths, -1)
    return np.maximum.accumulate(end, axis=1) > np.arange(d)[None, :]


@dataclass
class _HardEffects:
    """One store's extra effects in ``hard`` mode (see :class:`GeneratorConfig`)."""

    fam_code: np.ndarray
    family_members: np.ndarray
    weekday_drift: np.ndarray  # (total_days,) multiplier of the weekly profile
    holiday_gain: float  # multiplier of the family-day (holiday) effects in this store
    alive: np.ndarray  # (1, total_days): False after the store closes for good
    zero_runs: np.ndarray  # (n_items, total_days): weeks without supply for slow movers

    def log_effect(self, on_promo: np.ndarray, weekly: np.ndarray, holidays: np.ndarray) -> np.ndarray:
        """Additive log-mean effects: promotion dips, cannibalisation, weekday drift, holiday strength."""
        promo = on_promo.astype(bool)
        before = np.zeros_like(promo)
        after = np.zeros_like(promo)
        starts = promo & ~np.pad(promo, ((0, 0), (1, 0)))[:, :-1]
        ends = promo & ~np.pad(promo, ((0, 0), (0, 1)))[:, 1:]
        for k in (1, 2):  # the two days before a promotion starts
            before[:, :-k] |= starts[:, k:]
        for k in (1, 2, 3):  # the three days after it ends
            after[:, k:] |= ends[:, :-k]
        dips = -0.15 * (before & ~promo) - 0.30 * (after & ~promo)
        # Share of the other items of the family on promotion in this store, day by day.
        on_by_family = np.zeros((len(self.family_members), promo.shape[1]))
        np.add.at(on_by_family, self.fam_code, promo)
        others = (on_by_family[self.fam_code] - promo) / np.maximum(
            self.family_members[self.fam_code, None] - 1, 1
        )
        cannibalised = -0.5 * others * ~promo
        return (
            dips
            + cannibalised
            + weekly * (self.weekday_drift[None, :] - 1.0)
            + holidays * (self.holiday_gain - 1.0)
        )


def _hard_effects(
    cfg: GeneratorConfig,
    store: int,
    t: np.ndarray,
    dow: np.ndarray,
    fam_code: np.ndarray,
    family_members: np.ndarray,
    item_level: np.ndarray,
) -> _HardEffects:
    rng = np.random.default_rng([cfg.seed, store, 14])  # a stream of its own: hard=False is unchanged
    total_days = len(t)
    phase, amplitude = rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 0.9)
    weekday_drift = 1.0 + amplitude * np.sin(2 * np.pi * t / 365.0 + phase)
    closes = rng.random() < 0.05
    close_day = rng.integers(total_days // 2, total_days) if closes else total_days
    slow = item_level < np.quantile(item_level, 0.3)
    zero_runs = _runs(rng, (len(item_level), total_days), np.where(slow, 0.004, 0.0), 14, 60)
    return _HardEffects(
        fam_code=fam_code,
        family_members=family_members,
        weekday_drift=weekday_drift,
        holiday_gain=float(np.clip(rng.normal(1.0, 0.5), 0.0, 2.5)),
        alive=(t < close_day)[None, :],
        zero_runs=zero_runs,
    )


def _calendar_effects(
    days: pd.DatetimeIndex,
    holidays: pd.DataFrame,
    stores: pd.DataFrame,
    families: list[str],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log effects: per (family, day) national, per (store, day) local, and store closures."""
    ref = Reference.from_frames(
        {
            "items": pd.DataFrame(columns=["item_nbr", "family", "class", "perishable"]),
            "stores": stores,
            "holidays_events": holidays,
        }
    )
    n_days, n_stores = len(days), len(stores)
    grid_days = np.repeat(days.to_numpy(), n_stores)
    grid_stores = np.tile(stores["store_nbr"].to_numpy(), n_days)
    flags = {k: v.reshape(n_days, n_stores).T for k, v in ref.holiday_flags(grid_days, grid_stores).items()}
    fam_holiday = rng.normal(0.0, 0.25, size=len(families))
    fam_xmas = np.clip(rng.normal(0.45, 0.2, size=len(families)), 0.0, None)
    national = flags["holiday_national"][0].astype(np.float64)
    additional = flags["holiday_additional"][0].astype(np.float64)
    events = flags["event_national"][0].astype(np.float64)
    family_day = fam_holiday[:, None] * national[None, :] + fam_xmas[:, None] * additional[None, :]
    family_day += 0.05 * events[None, :]
    dom = days.day.to_numpy()
    last = days.days_in_month.to_numpy()
    payday = (dom == 15) | (dom == 16) | (dom == last) | (dom == 1)
    family_day += 0.08 * payday[None, :]
    doy = days.day_of_year.to_numpy()
    family_day += rng.normal(0.0, 0.08, size=(len(families), 1)) * np.sin(
        2 * np.pi * (doy[None, :] - 30) / 365.25
    )
    store_day = 0.12 * (flags["holiday_local"] + flags["holiday_regional"]) - 0.05 * flags["work_day"]
    closed = np.zeros((n_stores, n_days), dtype=bool)
    closed[:, (days.month == 12) & (days.day == 25)] = True
    new_year = np.flatnonzero((days.month == 1) & (days.day == 1))
    if len(new_year):
        closed[np.ix_(rng.random(n_stores) < 0.85, new_year)] = True
    return family_day, store_day.astype(np.float64), closed


def generate(
    config: GeneratorConfig | None = None,
    reference: Reference | None = None,
    progress: Callable[[int], None] | None = None,
    keep_latents: bool = False,
) -> GeneratedData:
    """Generate one data set in memory.

    Args:
        config: Sizes and seed. Defaults to :class:`GeneratorConfig` defaults.
        reference: Real reference tables to draw stores, items and holidays from (e.g. the
            Favorita ones) instead of inventing them. Defaults to invented ones.
        progress: Called with the number of stores finished, as each store is generated.
        keep_latents: Also return what the sales were drawn from (:class:`GeneratorLatents`),
            for oracle forecasts. The data are the same either way. Defaults to False.
    """
    cfg = config or GeneratorConfig()
    rng = np.random.default_rng(cfg.seed)
    first = pd.Timestamp(cfg.start).normalize()
    total_days = cfg.days + cfg.horizon
    days = pd.date_range(first, periods=total_days, freq="D")
    if reference is not None:
        stores = reference.stores.reset_index(drop=True)
        stores = stores.iloc[
            np.sort(rng.choice(len(stores), size=min(cfg.stores, len(stores)), replace=False))
        ]
        items = reference.items.reset_index(drop=True)
        items = items.iloc[np.sort(rng.choice(len(items), size=min(cfg.items, len(items)), replace=False))]
        stores, items = stores.reset_index(drop=True), items.reset_index(drop=True)
        holidays = reference.holidays.assign(
            date=reference.holidays["date"].dt.strftime("%Y-%m-%d"),
            transferred=np.where(reference.holidays["transferred"], "True", "False"),
        )
    else:
        stores = _make_stores(rng, cfg.stores)
        items = _make_items(rng, cfg.items)
        holidays = _make_holidays(rng, stores, first, days[-1])
    n_stores, n_items = len(stores), len(items)
    families = sorted(set(items["family"]))
    fam_code = pd.Index(families).get_indexer(items["family"])
    fam_param = [_FAMILIES.get(f, (0.0, 0, False, 0, 0.2)) for f in families]
    weekend = np.array([p[4] for p in fam_param])[fam_code]
    fractional = np.array([p[2] for p in fam_param])[fam_code]
    family_day, store_day, closed = _calendar_effects(days, holidays, stores, families, rng)

    # Item-level structure shared by all stores.
    item_level = rng.normal(np.log(1.2), 1.4, size=n_items)
    item_trend = rng.normal(0.0, 0.35, size=n_items) / 365.0
    promo_lift = np.clip(rng.normal(0.6, 0.3, size=n_items), 0.05, None)
    promo_prob = np.where(rng.random(n_items) < 0.45, 0.0, rng.uniform(0.005, 0.05, size=n_items))
    launch = np.where(rng.random(n_items) < 0.10, rng.integers(0, max(1, total_days - 30), size=n_items), 0)
    retire_from = min(60, total_days // 2)
    retire = np.where(
        rng.random(n_items) < 0.04,
        rng.integers(retire_from, retire_from + max(1, total_days - retire_from), size=n_items),
        total_days,
    )
    dispersion = rng.uniform(3.0, 20.0, size=n_items)
    kilo = rng.uniform(0.3, 2.5, size=n_items)
    chain_promo = _runs(rng, (n_items, total_days), promo_prob * 0.6, 3, 14)
    # Weekly profile: Monday..Sunday, weekend-heavy, shaped by the family and the store type.
    dow = days.day_of_week.to_numpy()
    weekday_shape = np.array([-0.10, -0.12, -0.08, -0.05, 0.05, 0.55, 0.45])
    t = np.arange(total_days)

    sales = np.zeros((n_stores * n_items, total_days), dtype=np.float32)
    expected = np.zeros((n_stores * n_items, cfg.horizon), dtype=np.float32)
    promo = np.zeros((n_stores * n_items, total_days), dtype=np.int8)
    store_levels = rng.normal(0.0, 0.45, size=n_stores)
    opening = np.where(rng.random(n_stores) < 0.1, rng.integers(0, max(1, total_days // 2), size=n_stores), 0)
    family_members = np.bincount(fam_code, minlength=len(families)).astype(np.float64)
    latent_mean = np.zeros((n_stores * n_items, total_days)) if keep_latents else None
    latent_drift = np.zeros((n_stores * n_items, total_days)) if keep_latents else None
    latent_potential = np.zeros((n_stores * n_items, total_days)) if keep_latents else None
    for s in range(n_stores):
        srng = np.random.default_rng([cfg.seed, s])
        hard = _hard_effects(cfg, s, t, dow, fam_code, family_members, item_level) if cfg.hard else None
        stype = str(stores["type"].iloc[s])
        weekly_gain = weekend * (1.0 + 0.3 * srng.standard_normal()) * (1.3 if stype in ("A", "D") else 1.0)
        weekly = weekly_gain[:, None] * weekday_shape[dow][None, :] / 0.5
        level = (
            store_levels[s] + _TYPE_LEVEL.get(stype, 0.0) + item_level + srng.normal(0.0, 0.4, size=n_items)
        )
        drift = lfilter(
            [1.0], [1.0, -_DRIFT_AR], srng.normal(0.0, _DRIFT_SD, size=(n_items, total_days)), axis=1
        )
        on_promo = (chain_promo & (srng.random(n_items) < 0.75)[:, None]) | _runs(
            srng, (n_items, total_days), promo_prob * 0.3, 2, 7
        )
        ramp = np.clip((t[None, :] - launch[:, None]) / 28.0, 0.0, 1.0)
        alive = (t[None, :] >= launch[:, None]) & (t[None, :] < retire[:, None]) & (t[None, :] >= opening[s])
        if cfg.assortment < 1.0:  # the items this store never carries
            alive &= (np.random.default_rng([cfg.seed, s, 15]).random(n_items) < cfg.assortment)[:, None]
        log_mean = (
            level[:, None]
            + item_trend[:, None] * (t[None, :] - total_days)
            + weekly
            + drift
            + family_day[fam_code]
            + store_day[s][None, :]
            + promo_lift[:, None] * on_promo
            + np.log(np.maximum(ramp, 1e-3))
        )
        if hard is not None:
            log_mean = log_mean + hard.log_effect(on_promo, weekly, family_day[fam_code])
            alive = alive & hard.alive
        mean = np.exp(log_mean)
        stock_out = _runs(srng, (n_items, total_days), np.full(n_items, 0.006), 2, 10)
        if hard is not None:
            stock_out = stock_out | hard.zero_runs
        potential = mean
        mean = np.where(alive & ~stock_out & ~closed[s][None, :], mean, 0.0)
        gamma = srng.gamma(dispersion[:, None], 1.0 / dispersion[:, None], size=(n_items, total_days))
        counts = srng.poisson(mean * gamma).astype(np.float64)
        kilos = np.round(counts * kilo[:, None] * srng.uniform(0.8, 1.2, size=counts.shape), 3)
        values = np.where(fractional[:, None], kilos, counts)
        returns = (srng.random(values.shape) < RETURN_PROBABILITY) & alive & ~closed[s][None, :]
        values = np.where(returns, -np.ceil(srng.uniform(0.0, 3.0, size=values.shape)), values)
        # Rows exist only for days with non-zero sales, as in Kaggle's train.csv (which has
        # practically no zero rows): promotions on days that sold nothing go unrecorded too.
        has_row = values != 0
        if hard is not None:  # a promotion is known whether or not the item sold (as in test.csv)
            has_row = has_row | (on_promo & alive & ~closed[s][None, :])
        rows = slice(s * n_items, (s + 1) * n_items)
        sales[rows] = np.where(has_row, values, np.nan)
        promo[rows] = on_promo & alive & ~closed[s][None, :]
        scale = np.where(fractional, kilo, 1.0)[:, None]
        expected[rows] = (mean * scale)[:, cfg.days :]
        if latent_mean is not None and latent_potential is not None and latent_drift is not None:
            latent_mean[rows], latent_potential[rows], latent_drift[rows] = mean, potential, drift
        if progress is not None:
            progress(1)

    store_ids = np.repeat(stores["store_nbr"].to_numpy(dtype=np.int32), n_items)
    item_ids = np.tile(items["item_nbr"].to_numpy(dtype=np.int64), n_stores)
    full = SalesPanel(first, store_ids, item_ids, sales, promo)
    panel = full.window(first, cfg.end)
    del full
    train_rows = int(np.count_nonzero(~np.isnan(panel.sales)))
    test_days = pd.date_range(cfg.end + pd.Timedelta(days=1), periods=cfg.horizon, freq="D")
    test = pd.DataFrame(
        {
            "date": np.repeat(test_days.to_numpy(), len(store_ids)),
            "store_nbr": np.tile(store_ids, cfg.horizon),
            "item_nbr": np.tile(item_ids, cfg.horizon),
            "onpromotion": promo[:, cfg.days :].T.reshape(-1).astype(bool),
        }
    )
    test.insert(0, "id", np.arange(train_rows, train_rows + len(test), dtype=np.int64))
    return GeneratedData(
        config=cfg,
        test=test,
        items=items.reset_index(drop=True),
        stores=stores.reset_index(drop=True),
        holidays_events=holidays.reset_index(drop=True),
        panel=panel,
        future_sales=np.nan_to_num(sales[:, cfg.days :], nan=0.0),
        future_mean=expected,
        latents=None
        if latent_mean is None or latent_potential is None or latent_drift is None
        else GeneratorLatents(
            start=first,
            mean=latent_mean,
            potential=latent_potential,
            drift=latent_drift,
            dispersion=np.tile(dispersion, n_stores),
            kilo=np.tile(np.where(fractional, kilo, 1.0), n_stores),
            fractional=np.tile(fractional, n_stores),
        ),
    )


def _write_csv(
    frame: pd.DataFrame,
    path: Path,
    block_rows: int = 1_000_000,
    progress: Callable[[int], None] | None = None,
) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        for lo in range(0, max(len(frame), 1), block_rows):
            part = frame.iloc[lo : lo + block_rows]
            out = (
                part.assign(date=part["date"].dt.strftime("%Y-%m-%d"))
                if "date" in part and part["date"].dtype.kind == "M"
                else part
            )
            if "onpromotion" in out and out["onpromotion"].dtype == bool:
                out = out.assign(onpromotion=np.where(out["onpromotion"].to_numpy(), "True", "False"))
            out.to_csv(fh, index=False, header=lo == 0, lineterminator="\n")
            if progress is not None:
                progress(len(part))


_TRAIN_HEADER = "id,date,store_nbr,item_nbr,unit_sales,onpromotion\n"


def _write_train(
    panel: SalesPanel,
    path: Path,
    block_days: int = 8,
    progress: Callable[[int], None] | None = None,
) -> None:
    """train.csv straight from the panel, byte for byte what ``to_csv`` of :attr:`GeneratedData.train` writes.

    Rows sorted by date, store, item (as Kaggle's), ids counting from 0, sales rounded to 3
    decimals and written as Python's ``repr`` (``7.0``, ``1.234``), as pandas writes them. Built a
    few days at a time from the panel: no 86 M-row frame, no sort of it, and each field is
    formatted once per distinct value (a day, a store, an item, a quantity) rather than once per
    row; writing two years at Favorita's size went from pandas' ~100,000 rows/s to about a million.
    """
    order = np.lexsort((panel.items, panel.stores))
    stores = np.array([str(v) for v in panel.stores[order]], dtype=object)
    items = np.array([str(v) for v in panel.items[order]], dtype=object)
    day_names = np.array(panel.dates.strftime("%Y-%m-%d"), dtype=object)
    flags = np.array(["False", "True"], dtype=object)
    next_id = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(_TRAIN_HEADER)
        for lo in range(0, panel.n_days, block_days):
            hi = min(lo + block_days, panel.n_days)
            sales = panel.sales[order, lo:hi].T  # (days, series): rows come out by date, then series
            days, rows = np.nonzero(~np.isnan(sales))
            values = np.round(sales[days, rows].astype(np.float64), 3)
            distinct, which = np.unique(values, return_inverse=True)
            text = np.array([repr(float(v)) for v in distinct], dtype=object)[which.reshape(-1)]
            promo = flags[(panel.promo[order, lo:hi].T[days, rows] != 0).astype(np.int64)]
            ids = map(str, range(next_id, next_id + len(rows)))
            lines = zip(ids, day_names[lo + days], stores[rows], items[rows], text, promo, strict=True)
            if len(rows):
                fh.write("\n".join(map(",".join, lines)))
                fh.write("\n")
            next_id += len(rows)
            if progress is not None:
                progress(len(rows))


def write_dataset(
    out: str | Path, data: GeneratedData, progress: Callable[[int], None] | None = None
) -> dict[str, Path]:
    """Write ``data`` as train.csv, test.csv, items.csv, stores.csv and holidays_events.csv.

    Args:
        out: Directory to write into (created if missing).
        data: What :func:`generate` returned.
        progress: Called with rows written, block by block (train.csv is the big one).

    Returns:
        Path of each file by table name.
    """
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        name: directory / f"{name}.csv" for name in ("train", "test", "items", "stores", "holidays_events")
    }
    _write_train(data.panel, paths["train"], progress=progress)
    _write_csv(data.test, paths["test"])
    data.items.to_csv(paths["items"], index=False, lineterminator="\n")
    data.stores.to_csv(paths["stores"], index=False, lineterminator="\n")
    data.holidays_events.to_csv(paths["holidays_events"], index=False, lineterminator="\n")
    return paths
