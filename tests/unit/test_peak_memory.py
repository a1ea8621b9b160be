"""The peak memory a manifest records is the invocation's, not a warm container's whole life's."""

from __future__ import annotations

import os

import numpy as np
import pytest

from grocery_forecast.pipeline import manifest as mf


@pytest.mark.skipif(
    not os.access("/proc/self/clear_refs", os.W_OK),
    reason="no /proc/self/clear_refs to reset VmHWM with (Linux only)",
)
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
