"""Sums that do not depend on how rows were split into chunks.

A float sum rounds differently when a window is summed whole or chunk by chunk, so a streamed
window would store a value a few ulps away from the same window loaded whole. Values are summed
instead as integers on a fixed binary grid (Python ints, so they never overflow): every split
gives the same total, within the grid's step of the float sum."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SLICE = 1 << 16
"""Rows per int64 partial sum: small enough that no partial overflows for the values allowed."""


def grid_sum(values: npt.ArrayLike, bits: int, limit: float) -> int:
    """The sum of ``values`` (clipped to [-limit, limit]) in units of 2**-bits."""
    scaled = np.rint(np.clip(np.asarray(values, dtype=np.float64), -limit, limit) * 2.0**bits)
    units = scaled.astype(np.int64)
    return sum(int(units[i : i + SLICE].sum()) for i in range(0, units.size, SLICE))


def from_grid(total: int, bits: int) -> float:
    return float(total / 2**bits)
