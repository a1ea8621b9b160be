"""The peak memory a manifest records is the invocation's, not a warm container's whole life's."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from grocery_forecast.pipeline import manifest as mf


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM and clear_refs are Linux's")
def test_a_reset_forgets_an_earlier_invocations_peak() -> None:
    # GIVEN a warm process that once held 400 MB more than it holds now
    big = np.ones(400 * 2**20 // 8)
    before = mf.invocation_peak_memory_mb()
    del big
    # WHEN the next invocation starts
    mf.reset_peak_memory()
    # THEN its peak is what it holds now
    now = mf.invocation_peak_memory_mb()
    assert now < before - 300
    # AND what it allocates from there counts
    again = np.ones(200 * 2**20 // 8)
    assert mf.invocation_peak_memory_mb() > now + 150
    del again
