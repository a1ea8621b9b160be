"""Reference tables: validation, attribute look-ups, weights and holiday flags."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.contract.cleaning import CsvContractError, read_reference
from grocery_forecast.contract.reference import HOLIDAY_FLAGS, Reference, ReferenceTableError

from .conftest import FAVORITA_DIR, tiny_reference


def test_unknown_items_and_stores_get_missing_attributes_and_weight_one() -> None:
    ref = tiny_reference()
    attrs = ref.item_attributes(np.array([20, 99]))
    assert attrs["family"].tolist()[0] == "PRODUCE" and pd.isna(attrs["family"].tolist()[1])
    assert ref.perishable_weights(np.array([10, 20, 99])).tolist() == [1.0, 1.25, 1.0]
    assert ref.store_attributes(np.array([7]))["city"].isna().all()


def test_missing_column_and_missing_table_are_named() -> None:
    frames = {
        "items": pd.DataFrame({"item_nbr": [1], "family": ["X"], "perishable": [0]}),
        "stores": tiny_reference().stores,
        "holidays_events": tiny_reference().holidays,
    }
    with pytest.raises(ReferenceTableError, match=r"(?s)items\.csv: .*column 'class': missing column"):
        Reference.from_frames(frames)
    with pytest.raises(ReferenceTableError, match=r"missing reference table.*holidays_events"):
        Reference.from_frames({"items": frames["items"], "stores": frames["stores"]})


def test_malformed_values_and_duplicates_raise() -> None:
    ref = tiny_reference()
    items = ref.items.reset_index(drop=True).astype({"class": object})
    items.loc[0, "class"] = "abc"
    with pytest.raises(ReferenceTableError, match=r"line 2, column 'class': not a whole number.*found 'abc'"):
        Reference.from_frames({"items": items, "stores": ref.stores, "holidays_events": ref.holidays})
    dup = pd.concat([ref.items, ref.items.iloc[[0]]]).reset_index(drop=True)
    with pytest.raises(
        ReferenceTableError, match="line 5, column 'item_nbr': item_nbr appears more than once"
    ):
        Reference.from_frames({"items": dup, "stores": ref.stores, "holidays_events": ref.holidays})


def test_a_table_means_the_same_whether_uploaded_or_read_from_a_directory(tmp_path: Path) -> None:
    # GIVEN one holidays table with every accepted spelling of true and false
    text = "date,type,locale,locale_name,description,transferred\n" + "".join(
        f"2017-01-{i + 1:02d},Holiday,National,Ecuador,d{i},{value}\n"
        for i, value in enumerate(["True", "t", "YES", "1", "False", "f", "no", "0"])
    )
    ref = tiny_reference()
    (tmp_path / "holidays_events.csv").write_text(text)
    ref.items.to_csv(tmp_path / "items.csv", index=False)
    ref.stores.to_csv(tmp_path / "stores.csv", index=False)
    # WHEN the ETL validates it as an upload and training reads it from a directory
    uploaded = read_reference(io.BytesIO(text.encode()), "holidays_events", "holidays_events.csv")
    from_dir = Reference.from_dir(tmp_path).holidays
    # THEN both read the same truth values
    expected = [True] * 4 + [False] * 4
    assert uploaded["transferred"].tolist() == from_dir["transferred"].tolist() == expected
    # AND a value neither accepts is an error in both
    bad = text.replace(",no\n", ",maybe\n")
    with pytest.raises(CsvContractError, match="maybe"):
        read_reference(io.BytesIO(bad.encode()), "holidays_events", "holidays_events.csv")
    (tmp_path / "holidays_events.csv").write_text(bad)
    with pytest.raises(ReferenceTableError, match="maybe"):
        Reference.from_dir(tmp_path)


def test_the_etl_rejects_what_the_forecast_could_not_use() -> None:
    with pytest.raises(CsvContractError, match="item_nbr appears more than once"):
        read_reference(
            io.BytesIO(b"item_nbr,family,class,perishable\n1,A,2,0\n1,B,3,1\n"), "items", "items.csv"
        )


def test_local_holiday_applies_only_to_the_stores_city() -> None:
    ref = tiny_reference()
    flags = ref.holiday_flags(np.array(["2017-03-02", "2017-03-03", "2017-03-03"]), np.array([1, 1, 2]))
    assert list(flags) == list(HOLIDAY_FLAGS)
    assert flags["holiday_national"].tolist() == [1, 0, 0]
    assert flags["holiday_local"].tolist() == [0, 0, 1]


@pytest.mark.skipif(not (FAVORITA_DIR / "items.csv").exists(), reason="real Favorita tables not available")
def test_real_favorita_tables_and_their_holiday_rules() -> None:
    ref = Reference.from_dir(FAVORITA_DIR)
    assert len(ref.items) == 4100 and len(ref.stores) == 54
    days = ["2016-05-24", "2016-05-27", "2016-12-24", "2016-12-25", "2016-04-16", "2016-11-12", "2016-07-24"]
    # Store 24 is in Guayaquil (Guayas).
    flags = ref.holiday_flags(np.array(days), np.full(len(days), 24))
    assert flags["holiday_national"].tolist() == [0, 1, 0, 1, 0, 0, 0]  # 05-24 was transferred to 05-27
    assert flags["holiday_additional"].tolist() == [0, 0, 1, 0, 0, 0, 0]
    assert flags["event_national"].tolist() == [0, 0, 0, 0, 1, 0, 0]  # the earthquake
    assert flags["work_day"].tolist() == [0, 0, 0, 0, 0, 1, 0]
    assert flags["holiday_local"].tolist() == [0, 0, 0, 0, 0, 0, 1]  # Guayaquil's foundation, moved
    quito = ref.holiday_flags(np.array(["2016-07-24"]), np.array([1]))
    assert quito["holiday_local"].tolist() == [0]


def test_from_dir_reports_a_missing_file(tmp_path: Path) -> None:
    tiny_reference().items.to_csv(tmp_path / "items.csv", index=False)
    with pytest.raises(ReferenceTableError, match=r"missing stores\.csv"):
        Reference.from_dir(tmp_path)


def test_a_reference_csv_with_one_extra_trailing_field_is_not_read_shifted(tmp_path) -> None:
    """A trailing comma on every row is dropped; a value beyond the header is rejected, never shifted."""
    import io

    from grocery_forecast.contract.cleaning import CsvContractError, read_reference

    trailing = b"item_nbr,family,class,perishable\n10,DAIRY,1,1,\n20,BREAD,2,0,\n"
    frame = read_reference(io.BytesIO(trailing), "items", "items.csv")
    assert frame["item_nbr"].tolist() == [10, 20] and frame["family"].tolist() == ["DAIRY", "BREAD"]
    extra = b"item_nbr,family,class,perishable\n10,DAIRY,1,1,x\n20,BREAD,2,0,y\n"
    with pytest.raises(CsvContractError, match="more fields than the header") as caught:
        read_reference(io.BytesIO(extra), "items", "items.csv")
    assert caught.value.problems[0].line == 2 and caught.value.total == 2
    # The CLI's reader (training, generate --reference) follows the same rule.
    from grocery_forecast.contract.reference import Reference, ReferenceTableError

    for name, body in {
        "items": "item_nbr,family,class,perishable\n10,DAIRY,1,1,x\n",
        "stores": "store_nbr,city,state,type,cluster\n1,Quito,P,D,13\n",
        "holidays_events": "date,type,locale,locale_name,description,transferred\n",
    }.items():
        (tmp_path / f"{name}.csv").write_text(body)
    with pytest.raises(ReferenceTableError, match="more fields than the header"):
        Reference.from_dir(tmp_path)
