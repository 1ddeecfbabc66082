"""The one module that imports whylogs: every whylogs name driftwise uses comes from here.

whylogs 1.6.4 (its last release) calls ``np.unicode_``, which NumPy 2 removed; the alias below
must exist before whylogs runs, so nothing else imports whylogs directly. Internal names used by
the vectorised column path (``fast``) are re-exported here too, pinned to that release.
"""

from __future__ import annotations

import os

import numpy as np

if not hasattr(np, "unicode_"):
    np.unicode_ = np.str_  # type: ignore[attr-defined]  # whylogs 1.6.4 uses np.unicode_, gone in NumPy 2

# whylogs otherwise reports usage to its servers from a background thread at import time.
os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "1")

from whylogs import __version__ as whylogs_version
from whylogs.core import DatasetProfile as DatasetProfile
from whylogs.core import DatasetProfileView as DatasetProfileView
from whylogs.core.column_profile import ColumnProfile as ColumnProfile
from whylogs.core.configs import FrequentItemsErrorType as FrequentItemsErrorType
from whylogs.core.configs import SummaryConfig as SummaryConfig
from whylogs.core.constraints import MetricConstraint as MetricConstraint
from whylogs.core.constraints import factories as factories
from whylogs.core.datatypes import DataType as DataType
from whylogs.core.errors import DeserializationError as DeserializationError
from whylogs.core.metrics import StandardMetric as StandardMetric
from whylogs.core.metrics.maths import VarianceM2Result as VarianceM2Result
from whylogs.core.metrics.maths import parallel_variance_m2 as parallel_variance_m2
from whylogs.core.metrics.maths import (
    welford_online_variance_m2 as welford_online_variance_m2,
)
from whylogs.core.metrics.metrics import _BOOL_LIST_CHUNK_SIZE
from whylogs.core.metrics.metrics import DistributionMetric as DistributionMetric
from whylogs.core.metrics.metrics import FrequentItem as FrequentItem
from whylogs.core.metrics.metrics import OperationResult as OperationResult
from whylogs.core.preprocessing import NumpyView as NumpyView
from whylogs.core.preprocessing import PreprocessedColumn as PreprocessedColumn
from whylogs.core.resolvers import MetricSpec as MetricSpec
from whylogs.core.resolvers import ResolverSpec as ResolverSpec
from whylogs.core.schema import DeclarativeSchema as DeclarativeSchema
from whylogs.core.view.column_profile_view import ColumnProfileView as ColumnProfileView

WHYLOGS_VERSION: str = whylogs_version
BOOL_LIST_CHUNK_SIZE: int = _BOOL_LIST_CHUNK_SIZE
"""whylogs updates boolean distributions in chunks of this many values; ``fast`` does the same."""
