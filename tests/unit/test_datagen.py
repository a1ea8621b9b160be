"""The synthetic Favorita-shaped data: deterministic, realistic in the ways that matter, readable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.contract.cleaning import read_actuals
from grocery_forecast.contract.reference import Reference
from grocery_forecast.forecasting.datagen import GeneratedData, GeneratorConfig, generate, write_dataset
from grocery_forecast.forecasting.panel import SalesPanel

from .conftest import FAVORITA_DIR


def test_same_seed_same_data_other_seed_other_data() -> None:
    config = GeneratorConfig(seed=3, stores=3, items=12, days=60)
    a, b = generate(config), generate(config)
    pd.testing.assert_frame_equal(a.train, b.train)
    pd.testing.assert_frame_equal(a.items, b.items)
    c = generate(GeneratorConfig(seed=4, stores=3, items=12, days=60))
    assert not a.train["unit_sales"].equals(c.train["unit_sales"])


def test_favorita_properties(generated: GeneratedData) -> None:
    panel = generated.panel
    filled = panel.sales_filled()
    zero_share = float((filled <= 0).mean())
    assert 0.3 < zero_share < 0.7, zero_share  # heavy intermittency, like Favorita
    sales = generated.train["unit_sales"]
    assert (sales < 0).any(), "returns (negative sales) occur"
    assert ((sales % 1) != 0).any(), "fractional kilos occur"
    assert generated.train["onpromotion"].any()
    assert set(generated.items["perishable"]) == {0, 1}
    # Weekends sell more than midweek, across all series.
    dow = panel.dates.day_of_week.to_numpy()
    assert filled[:, dow >= 5].mean() > 1.1 * filled[:, (dow >= 1) & (dow <= 3)].mean()
    # Promotions lift sales.
    assert filled[panel.promo == 1].mean() > filled[panel.promo == 0].mean()
    # Christmas Day: stores are closed, no rows at all.
    christmas = panel.day_index("2016-12-25")
    assert np.isnan(panel.sales[:, christmas]).all()
    assert {"Holiday", "Additional", "Event"} <= set(generated.holidays_events["type"])


def test_test_csv_covers_every_series_for_the_horizon(generated: GeneratedData) -> None:
    test = generated.test
    assert list(test.columns) == ["id", "date", "store_nbr", "item_nbr", "onpromotion"]
    assert test["date"].nunique() == 16 and test["date"].min() == generated.panel.end + pd.Timedelta(days=1)
    assert len(test) == 16 * generated.panel.n_series
    assert test["id"].min() == generated.train["id"].max() + 1


def test_written_files_read_back_through_the_kaggle_readers(tmp_path: Path, generated: GeneratedData) -> None:
    small = generate(GeneratorConfig(seed=1, stores=2, items=8, days=40))
    paths = write_dataset(tmp_path, small)
    assert paths["train"].read_text().splitlines()[0] == "id,date,store_nbr,item_nbr,unit_sales,onpromotion"
    frame = read_actuals(str(paths["train"]))
    back = SalesPanel.from_frame(frame, start=small.panel.start, end=small.panel.end)
    order = small.panel.index_of(back.stores, back.items)
    np.testing.assert_allclose(back.sales, small.panel.sales[order], rtol=1e-6)
    ref = Reference.from_dir(tmp_path)
    assert len(ref.items) == 8 and len(ref.stores) == 2


@pytest.mark.skipif(not (FAVORITA_DIR / "items.csv").exists(), reason="real Favorita tables not available")
def test_can_draw_stores_items_and_holidays_from_real_reference_tables() -> None:
    real = Reference.from_dir(FAVORITA_DIR)
    data = generate(GeneratorConfig(stores=3, items=10, days=30), reference=real)
    assert set(data.panel.stores) <= set(real.stores["store_nbr"])
    assert set(data.panel.items) <= set(real.items["item_nbr"])
    assert len(data.reference.holidays) == len(real.holidays)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="stores must be at least 1"):
        GeneratorConfig(stores=0)


def test_hard_mode_is_deterministic_and_poses_promotion_dips() -> None:
    from grocery_forecast.forecasting.datagen import GeneratorConfig, generate

    cfg = GeneratorConfig(seed=3, stores=8, items=60, days=300, hard=True)
    a, b = generate(cfg), generate(cfg)
    np.testing.assert_array_equal(a.panel.sales, b.panel.sales)
    plain = generate(GeneratorConfig(seed=3, stores=8, items=60, days=300))
    assert (a.panel.promo <= plain.panel.promo).all()  # the same promotions (none after a closure)
    assert not np.array_equal(np.nan_to_num(plain.panel.sales), np.nan_to_num(a.panel.sales))

    def post_promo_ratio(data) -> float:
        # Mean log1p sales on the 3 days after a promotion ends over other days off promotion.
        promo = data.panel.promo.astype(bool)
        x = np.log1p(np.clip(data.panel.sales_filled(), 0, None))
        ends = promo & ~np.pad(promo, ((0, 0), (0, 1)))[:, 1:]
        after = np.zeros_like(promo)
        for k in (1, 2, 3):
            after[:, k:] |= ends[:, :-k]
        after &= ~promo
        other = ~promo & ~after
        return float(x[after].mean() / x[other & (promo.any(axis=1))[:, None]].mean())

    assert post_promo_ratio(a) < post_promo_ratio(plain) - 0.05


def test_hard_mode_records_promotions_on_days_without_sales_as_test_csv_gives_them() -> None:
    """A request's ``onpromotion`` is known whatever the day sells; so must a backtest's be, or a
    promotion in the history would imply a sale (no promotion without a row)."""
    from grocery_forecast.forecasting.datagen import GeneratorConfig, generate

    hard = generate(GeneratorConfig(seed=3, stores=4, items=40, days=120, hard=True))
    promo_rows = hard.train[hard.train["onpromotion"].astype(bool)]
    assert (promo_rows["unit_sales"] == 0).any()
    assert (hard.train.loc[hard.train["unit_sales"] == 0, "onpromotion"]).all()  # zero rows only for that
    plain = generate(GeneratorConfig(seed=3, stores=4, items=40, days=120))
    assert not (plain.train["unit_sales"] == 0).any()  # the sample data keeps Favorita's sold-only rows


#: sha256 prefixes of the files the generator wrote before train.csv was written straight from the
#: panel (commit 29c4588, pandas ``to_csv`` of the train frame): the faster writer changes no byte.
_GOLDEN = {
    GeneratorConfig(seed=7, stores=4, items=30, days=120): {
        "train": "3990767535f118e3",
        "test": "ac97f58f655b2939",
        "items": "0159a88b4a14a8d5",
        "stores": "a7175f7d377d267c",
        "holidays_events": "c4b9bf6bda4e156e",
    },
    GeneratorConfig(seed=8, stores=3, items=25, days=90, hard=True): {
        "train": "c447e4bdf4d42a9b",
        "test": "b3900b3301e94ef9",
        "items": "f626c725e05b742e",
        "stores": "bbe19553f0fb8aa5",
        "holidays_events": "c94c0c851ca93dcb",
    },
}


@pytest.mark.parametrize("config", list(_GOLDEN), ids=["plain", "hard"])
def test_written_files_are_byte_for_byte_those_of_the_frame_writer(
    config: GeneratorConfig, tmp_path: Path
) -> None:
    import hashlib

    data = generate(config)
    paths = write_dataset(tmp_path, data)
    digests = {name: hashlib.sha256(path.read_bytes()).hexdigest()[:16] for name, path in paths.items()}
    assert digests == _GOLDEN[config]
    # The same bytes as pandas writes the (lazily built) train frame, as the generator did before.
    frame = data.train.assign(
        date=data.train["date"].dt.strftime("%Y-%m-%d"),
        onpromotion=data.train["onpromotion"].map({True: "True", False: "False"}),
    )
    assert paths["train"].read_text() == frame.to_csv(index=False, lineterminator="\n")
    assert data.train_rows == len(data.train)
    assert data.test["id"].iloc[0] == len(data.train)


def test_keeping_the_latents_changes_no_generated_value() -> None:
    """The oracle's inputs come from the same draws: asking for them must not move the data."""
    config = GeneratorConfig(seed=8, stores=3, items=25, days=90, hard=True)
    plain, kept = generate(config), generate(config, keep_latents=True)
    assert plain.latents is None and kept.latents is not None
    np.testing.assert_array_equal(plain.panel.sales, kept.panel.sales)
    np.testing.assert_array_equal(plain.panel.promo, kept.panel.promo)
    pd.testing.assert_frame_equal(plain.test, kept.test)
    latents = kept.latents
    # The latent mean is what future_mean was cut from (kilos for fractional families).
    unit = np.where(latents.fractional, latents.kilo, 1.0)[:, None]
    np.testing.assert_allclose(
        (latents.mean * unit)[:, config.days :], kept.future_mean, rtol=1e-5, atol=1e-6
    )
    # Nothing sells on a day whose latent mean is 0 (stock-out, closure), except returns.
    sales = np.nan_to_num(kept.panel.sales, nan=0.0)
    assert (sales[latents.mean[:, : config.days] == 0] <= 0).all()
    selling = latents.mean > 0
    np.testing.assert_array_equal(latents.mean[selling], latents.potential[selling])
    assert (latents.potential > 0).all() and 0.02 < 1 - selling.mean() < 0.5


def test_the_oracle_is_the_expected_log1p_of_the_noise_it_was_drawn_with() -> None:
    """Against a Monte Carlo of the generator's own noise (negative binomial, kilos, returns)."""
    from grocery_forecast.forecasting.datagen import RETURN_PROBABILITY, GeneratorLatents

    rng = np.random.default_rng(0)
    mean = np.array([0.0, 0.05, 0.8, 3.0, 40.0, 900.0, 2.0])
    dispersion = np.array([5.0, 3.0, 20.0, 3.0, 8.0, 4.0, 6.0])
    kilo = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.7])
    fractional = np.array([False] * 6 + [True])
    latents = GeneratorLatents(
        start=pd.Timestamp("2017-01-01"),
        mean=mean[:, None].repeat(3, axis=1),
        potential=mean[:, None].repeat(3, axis=1),
        drift=np.zeros((7, 3)),
        dispersion=dispersion,
        kilo=kilo,
        fractional=fractional,
    )
    oracle = latents.oracle_log1p("2017-01-02")
    draws = 400_000
    counts = rng.poisson(mean[:, None] * rng.gamma(dispersion[:, None], 1 / dispersion[:, None], (7, draws)))
    values = np.where(
        fractional[:, None], counts * kilo[:, None] * rng.uniform(0.8, 1.2, counts.shape), counts
    )
    values = np.where(rng.random(values.shape) < RETURN_PROBABILITY, -1.0, values)
    monte_carlo = np.log1p(np.clip(values, 0, None)).mean(axis=1)
    np.testing.assert_allclose(oracle, monte_carlo, atol=4e-3)
    assert oracle[0] == 0.0
    # Below log1p of the mean (Jensen): forecasting the expected sales is not the best forecast.
    assert (oracle[1:] < np.log1p(mean[1:] * kilo[1:])).all()
    # From an origin, the drift after it is unknown: the oracle averages over its AR(1) innovations.
    drift = np.zeros((7, 3))
    drift[:, 0], drift[:, 2] = 0.5, 0.3  # the known drift at the origin, the realised one two days on
    from_origin = GeneratorLatents(
        latents.start, latents.mean, latents.mean, drift, dispersion, kilo, fractional
    )
    sd = 0.04 * np.sqrt((1 - 0.97**4) / (1 - 0.97**2))
    level = mean[:, None] * np.exp(0.97**2 * 0.5 - 0.3 + sd * rng.standard_normal((7, draws)))
    counts = rng.poisson(level * rng.gamma(dispersion[:, None], 1 / dispersion[:, None], (7, draws)))
    values = np.where(
        fractional[:, None], counts * kilo[:, None] * rng.uniform(0.8, 1.2, counts.shape), counts
    )
    expected = (1 - RETURN_PROBABILITY) * np.log1p(values).mean(axis=1)
    np.testing.assert_allclose(
        from_origin.oracle_log1p("2017-01-03", origin="2017-01-01"), expected, atol=4e-3
    )
    # Outages after the origin unknown: the chance of selling, over series in the origin's state.
    outage = GeneratorLatents(
        latents.start,
        np.array([[1.0, 0.0, 0.0], [1.0, 2.0, 2.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]]),
        np.array([[1.0, 4.0, 4.0], [1.0, 2.0, 2.0], [3.0, 3.0, 3.0], [5.0, 5.0, 5.0]]),
        np.zeros((4, 3)),
        np.full(4, 5.0),
        np.ones(4),
        np.zeros(4, bool),
    )
    known = outage.oracle_log1p("2017-01-03", origin="2017-01-01")
    hidden = outage.oracle_log1p("2017-01-03", origin="2017-01-01", outages_known=False)
    assert known[0] == 0.0 and known[3] == 0.0
    full = GeneratorLatents(
        outage.start,
        outage.potential,
        outage.potential,
        *(getattr(outage, f) for f in ("drift", "dispersion", "kilo", "fractional")),
    ).oracle_log1p("2017-01-03", origin="2017-01-01")
    # Half the series selling at the origin sell two days on, half of those out at it do.
    np.testing.assert_allclose(hidden, 0.5 * full)
    with pytest.raises(ValueError, match="not after the origin"):
        latents.oracle_log1p("2017-01-01", origin="2017-01-01")


def test_a_partial_assortment_leaves_store_items_that_never_sell_which_test_csv_still_asks_for() -> None:
    config = GeneratorConfig(seed=3, stores=6, items=40, days=60, assortment=0.7)
    data = generate(config)
    sold = ~np.all(np.isnan(data.panel.sales), axis=1)
    assert 0.55 < sold.mean() < 0.85  # about 70% of the 240 store-items sell
    # Every store and every item still sells somewhere: the unsold pairs are the store x item grid's.
    assert set(data.panel.stores[sold]) == set(data.panel.stores) and len(set(data.panel.items[sold])) == 40
    # test.csv asks for all of them, and the answers for the store-items never carried are zero.
    assert len(data.test) == 6 * 40 * config.horizon
    # (nearly all zero: a pair carried but launched after train.csv's last day sells only later)
    assert (data.future_sales[~sold] != 0).any(axis=1).mean() < 0.05 and (data.future_sales[sold] > 0).any()
    with pytest.raises(ValueError, match="assortment"):
        GeneratorConfig(assortment=0.0)
    # The default carries everything (and draws nothing: the golden-file tests above pin its bytes).
    full = generate(GeneratorConfig(seed=3, stores=6, items=40, days=60))
    assert (~np.all(np.isnan(full.panel.sales), axis=1)).mean() > 0.97
