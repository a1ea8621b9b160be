"""Backtest entry point: ``python training/backtest.py --sales ... --reference ... --cutoff ...``.

A thin wrapper over ``grocery-forecast backtest``.
"""

from __future__ import annotations

import sys

from grocery_forecast.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["backtest", *sys.argv[1:]]))
