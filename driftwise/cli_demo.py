"""What `driftwise demo` prints: every day as its run saw it, then the days before the change
where per-column drift stays quiet while the joint distribution and the service do not."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from driftwise.output import console, table


def _multivariate(row: dict[str, Any] | None) -> str:
    """The window's reconstruction error over the reference's, marked when it drifted."""
    if not row or row.get("value") is None:
        return "—"
    ratio = f"{row['error_ratio']:.2f}x"
    return f"{ratio} drift" if row.get("status") == "drift" else ratio


def _percent(value: float | None, digits: int = 1) -> str:
    from monitoring_lib.pipeline.summary import shown

    return "—" if value is None else f"{shown(value * 100, digits)}%"


def _budgets(day: dict[str, Any]) -> str:
    """Each SLO's error budget left, in the spec's order: '80% / 78%'."""
    slos = day.get("service_figures", {}).get("slos", {})
    return " / ".join(_percent(row["budget_remaining"], 0) for row in slos.values()) or "—"


def event_days(run: Any) -> list[dict[str, Any]]:
    """The days from just before the correlation flip to just after the service incident."""
    marked = [*run.world.flip_days, *run.world.incident_days]
    if not marked:
        return []
    first, last = max(min(marked) - 1, 0), min(max(marked) + 1, len(run.days) - 1)
    return run.days[first : last + 1]


def print_demo(run: Any) -> None:
    from monitoring_lib.pipeline.summary import shown

    days = table(
        "day", "world", "labels", "drift share", "multivariate", "accuracy", "ROC AUC",
        "decision", "champion",
        title="Each day as its run saw it (labels: the share known at run time)",
    )  # fmt: skip
    events = []
    for day in run.days:
        quality = day["quality"]
        days.add_row(
            day["window"],
            day["world"],
            shown(day["label_coverage"], 2),
            shown(day["drift_share"], 2),
            _multivariate(day.get("signals", {}).get("multivariate")),
            shown(quality.get("accuracy")),
            shown(quality.get("roc_auc")),
            day["decision"],
            f"v{day['champion']}",
        )
        if day["decision"] != "none":
            events += [f"{day['window']}: {reason}" for reason in day["reasons"]]
    console.print(days)
    _print_signals(event_days(run))
    console.print("[bold]What the policy did[/]")
    for event in events or ["nothing fired"]:
        console.print(f"  {escape(event)}", highlight=False, soft_wrap=True)  # '[high]' is text
    console.print(f"monitor spec: {run.world.spec_path}", highlight=False)
    console.print(f"metric store: {run.store}", highlight=False)
    console.print(f"HTML reports and profiles: {run.artifacts}", highlight=False)
    console.print(
        "see the runs and artifacts: `prefect server start`, then open http://127.0.0.1:4200",
        highlight=False,
    )


def _print_signals(days: list[dict[str, Any]]) -> None:
    """Per-column drift next to the multivariate verdict and the service's figures."""
    if not days:
        return
    shown_days = table(
        "day", "world", "drift share", "multivariate", "error share", "p95 ms",
        "SLO budget left",
        title="Before the change: a correlation flip and a service incident, which per-column "
        "drift does not show (SLO budget left: of the availability / fast SLOs' 30-day error "
        "budgets)",
    )  # fmt: skip
    for day in days:
        service = day.get("service_figures", {})
        p95 = service.get("latency_p95")
        shown_days.add_row(
            day["window"],
            day["world"],
            "—" if day["drift_share"] is None else f"{day['drift_share']:.2f}",
            _multivariate(day.get("signals", {}).get("multivariate")),
            _percent(service.get("error_share")),
            "—" if p95 is None else f"{p95:.0f}",
            _budgets(day),
        )
    console.print(shown_days)
