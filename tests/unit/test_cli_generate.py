"""``generate --out DIR`` never overwrites files silently."""

from __future__ import annotations

from grocery_forecast.cli import main


def test_generate_refuses_to_overwrite_existing_files_without_force(tmp_path, capsys) -> None:
    kaggle = tmp_path / "train.csv"
    kaggle.write_text("my precious Kaggle data\n")
    small = ["--stores", "1", "--items", "2", "--days", "30"]
    assert main(["generate", "--out", str(tmp_path), *small]) == 2
    err = capsys.readouterr().err
    assert "train.csv" in err and "--force" in err
    assert kaggle.read_text() == "my precious Kaggle data\n"
    assert main(["generate", "--out", str(tmp_path), *small, "--force"]) == 0
    assert kaggle.read_text().startswith("id,date,store_nbr,item_nbr")
