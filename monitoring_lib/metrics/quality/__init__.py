"""Model quality of a window: today's Evidently-backed records, and the mergeable counts (confusion
counts, score histograms, regression error sums) that give every metric an interval, pool exactly
over several windows, and estimate quality before labels arrive."""

from monitoring_lib.metrics.quality.compute import compute_quality

__all__ = ["compute_quality"]
