"""A realistic synthetic credit-risk world: applicants, their default risk, and how both change.

The data has a stationary period, then on ``change_day`` a real change: a covariate shift
(incomes fall, debt rises, a new loan purpose appears) and a concept shift (debt and contract work
become riskier than the model learned). Labels (did the loan default?) arrive days after scoring.
Nothing is downloaded: everything comes from a seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from scipy import stats

NUMERICAL = ["income", "loan_amount", "age", "debt_to_income", "credit_history_months"]
CATEGORICAL = ["employment_type", "region", "loan_purpose"]
EMPLOYMENT = ["salaried", "self_employed", "contract", "unemployed"]
REGIONS = ["north", "south", "east", "west"]
PURPOSES = ["home", "car", "education", "business", "other"]
COLUMNS = {
    "timestamp": "scored_at",
    "id": "application_id",
    "numerical": NUMERICAL,
    "categorical": CATEGORICAL,
    "prediction": "predicted_default",
    "probability": "default_probability",
    "target": "defaulted",
    "segments": ["region"],
}
"""The column roles of a monitor spec over this world's prediction log."""


@dataclass(frozen=True)
class World:
    """How applicants look and how risky they are, before or after the change."""

    income_scale: float = 1.0
    debt_shift: float = 0.0
    new_purpose_share: float = 0.0
    debt_weight: float = 4.0
    contract_weight: float = 0.4
    east_weight: float = 0.0
    """A regional downturn: extra risk the stationary model never saw."""
    history_weight: float = 0.012
    history_link: float = 0.0
    """Correlation of age and credit-history length (a Gaussian copula: each column's own
    distribution does not depend on it); 0 draws them independently."""


STATIONARY = World()
CHANGED = World(
    income_scale=0.8,
    debt_shift=0.08,
    new_purpose_share=0.12,
    debt_weight=2.0,
    contract_weight=1.8,
    east_weight=1.8,
    history_weight=-0.01,
)


def applicants(rows: int, world: World, rng: np.random.Generator) -> pd.DataFrame:
    """Feature rows of ``rows`` loan applications in ``world``."""
    purposes = [*PURPOSES, "crypto"]
    purpose_p = np.array([0.3, 0.25, 0.15, 0.15, 0.15]) * (1 - world.new_purpose_share)
    income = rng.lognormal(10.8, 0.45, rows) * world.income_scale
    loan_amount = rng.lognormal(9.6, 0.6, rows)
    age = rng.normal(41, 12, rows)
    debt_to_income = np.clip(rng.beta(2.2, 6.0, rows) + world.debt_shift, 0, 1.5)
    if world.history_link:
        link = world.history_link
        score = link * (age - 41) / 12 + np.sqrt(1 - link**2) * rng.standard_normal(rows)
        history = stats.gamma.ppf(stats.norm.cdf(score), 3.0, scale=30.0)
    else:
        history = rng.gamma(3.0, 30.0, rows)
    return pd.DataFrame(
        {
            "income": income,
            "loan_amount": loan_amount,
            "age": np.clip(age, 18, 85).round(),
            "debt_to_income": debt_to_income,
            "credit_history_months": history.round(),
            "employment_type": rng.choice(EMPLOYMENT, rows, p=[0.6, 0.18, 0.15, 0.07]),
            "region": rng.choice(REGIONS, rows, p=[0.3, 0.3, 0.2, 0.2]),
            "loan_purpose": rng.choice(purposes, rows, p=[*purpose_p, world.new_purpose_share]),
        }
    )


def default_probability(features: pd.DataFrame, world: World) -> np.ndarray:
    """The true (unknown to the model) chance that each applicant defaults."""
    burden = np.log(features["loan_amount"] / features["income"].clip(lower=1))
    logit = (
        -2.4
        + world.debt_weight * (features["debt_to_income"] - 0.27)
        + 0.9 * (burden + 1.2)
        - world.history_weight * (features["credit_history_months"] - 90) / 3
        - 0.015 * (features["age"] - 41)
        + np.where(features["employment_type"] == "contract", world.contract_weight, 0.0)
        + np.where(features["employment_type"] == "unemployed", 1.2, 0.0)
        + np.where(features["loan_purpose"] == "crypto", 1.0, 0.0)
        + np.where(features["region"] == "east", world.east_weight, 0.0)
    )
    probability: np.ndarray = 1.0 / (1.0 + np.exp(-logit.to_numpy()))
    return probability


def reference_set(rows: int, seed: int, world: World = STATIONARY) -> pd.DataFrame:
    """Training data: features and the realised outcome, from the stationary world."""
    rng = np.random.default_rng(seed)
    features = applicants(rows, world, rng)
    outcome = rng.random(rows) < default_probability(features, world)
    return features.assign(defaulted=outcome.astype(int))


def traffic_day(
    day: date, rows: int, world: World, timezone: str, rng: np.random.Generator, first_id: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """One day of scored applications (without predictions) and their true outcomes."""
    features = applicants(rows, world, rng)
    midnight = pd.Timestamp(day, tz=ZoneInfo(timezone))
    seconds = np.sort(rng.uniform(0, 86_400, rows))
    stamps = (midnight + pd.to_timedelta(seconds, unit="s")).tz_convert("UTC")
    outcome = (rng.random(rows) < default_probability(features, world)).astype(int)
    frame = features.assign(application_id=np.arange(first_id, first_id + rows), scored_at=stamps)
    return frame, outcome


SERVICE_COLUMNS = {"latency": "latency_ms", "status": "http_status"}
"""The column roles of the log's service-health columns (``with_service``)."""
SERVICE = {
    "errors": {"at_least": 500},
    "slos": [
        {"name": "availability", "objective": 0.995, "period": "30d"},
        {"name": "fast", "objective": 0.95, "latency_below_ms": 250, "period": "30d"},
    ],
}
"""The ``service:`` section of a spec over a log ``with_service``."""


def with_service(
    frame: pd.DataFrame, day: date, error_rate: float = 0.001, slowdown: float = 1.0
) -> pd.DataFrame:
    """The log with each request's latency (ms, log-normal around 80, times ``slowdown``) and
    HTTP status, drawn from a generator of the day's own, so the other columns' draws stay as
    they were."""
    rng = np.random.default_rng(day.toordinal())
    rows = len(frame)
    errors = rng.random(rows) < error_rate
    return frame.assign(
        latency_ms=rng.lognormal(np.log(80), 0.5, rows) * slowdown,
        http_status=np.where(errors, 503, 200),
    )


def label_rows(
    frame: pd.DataFrame, outcome: np.ndarray, rng: np.random.Generator, delay_days: tuple[int, int]
) -> pd.DataFrame:
    """Outcomes that become known ``delay_days`` after scoring (inclusive range)."""
    delay = pd.to_timedelta(rng.integers(delay_days[0], delay_days[1] + 1, len(frame)), unit="D")
    return pd.DataFrame(
        {
            "application_id": frame["application_id"].to_numpy(),
            "defaulted": outcome,
            "labelled_at": (frame["scored_at"] + delay + pd.Timedelta(hours=6)).to_numpy(),
        }
    )


def world_on(day: date, change_day: date | None) -> World:
    return CHANGED if change_day is not None and day >= change_day else STATIONARY


def days(first: date, count: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(count)]
