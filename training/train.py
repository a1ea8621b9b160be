"""Training entry point: ``python training/train.py --sales ... --reference ... --out ...``.

A thin wrapper over ``grocery-forecast train`` so schedulers and notebooks can call a script.
"""

from __future__ import annotations

import sys

from grocery_forecast.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["train", *sys.argv[1:]]))
