"""Pages people open in a browser: Evidently's report written safely and lightly, the verdict
banner, the per-model time-series page, their URLs, and the small server of ``driftwise ui``."""
