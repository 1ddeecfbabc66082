"""Detecting a small persistent accuracy drop, and estimating quality before labels.

Part 1: a binary model scored on 165 labelled rows a day at accuracy 0.94, dropping
to 0.915 after day 150. For each detector: on how many of 20 seeds it raised a false alarm in
the 150 unchanged days, on how many it caught the drop within 10 days, and the median delay
(days from the drop to the alarm; a detector starts afresh after each alarm, as if the alarm
was handled). On the 20 seeds the CUSUM and the pooled rule run through the real code
(``counts``, ``quality_values``, the policy's CUSUM rule); every detector, vectorised on the
daily error counts, gives the rates over many more seeds (and the vectorised CUSUM and pooled
rule are checked to raise exactly the real code's alarms on the 20 seeds). In-control figures
come from a Markov chain on the CUSUM statistic (Brook and Evans), exact up to its grid.

Part 2: confidence-based performance estimation against realised quality, on unchanged days,
under a covariate shift (the calibration holds) and under a concept shift (it does not).

    .venv/bin/python benchmarks/bench_quality_detection.py \
        --out benchmarks/results/quality_detection.txt
"""

from __future__ import annotations

import argparse
import io
import math
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from scipy.stats import binom

from monitoring_lib.metrics.quality.counts import ClassificationCounts, classification_counts
from monitoring_lib.metrics.quality.estimation import expected_counts, fit_calibration
from monitoring_lib.metrics.quality.values import find, quality_values
from monitoring_lib.policy.cusum import DEFAULT_H, DEFAULT_K, in_control_arl
from monitoring_lib.policy.pooling import pooled_record
from monitoring_lib.policy.rules import RuleState, advance_state, evaluate
from monitoring_lib.records import Metric
from monitoring_lib.spec.policy import PolicySpec, Rule

ROWS, BEFORE, AFTER = 165, 150, 60
GOOD, DROPPED = 0.94, 0.915
FALSE_ALARM_BUDGET = 0.05
"""Calibrated thresholds: the most sensitive one whose chance of a false alarm in 150 days is <=."""
REFERENCE_ROWS = 5000
DAYS_15_YEARS = 15 * 365
START = datetime(2024, 1, 1, tzinfo=UTC)
ACCURACY_RULE = {"metric": "quality.accuracy", "direction": "below", "action": "alert"}
CUSUM_POLICY = PolicySpec.model_validate(
    {"rules": [{**ACCURACY_RULE, "name": "accuracy-cusum", "threshold": "cusum"}]}
)
"""The shipped defaults: ``threshold: cusum`` with k and h left out."""
POOLED_RULE = Rule.model_validate(
    {**ACCURACY_RULE, "name": "weekly-accuracy", "threshold": 0.93, "pool": "7d"}
)


# ---- detectors on daily error counts (seeds x days), vectorised --------------------------------


def cusum_alarms(increments: np.ndarray, h: float) -> np.ndarray:
    """Alarms of S = max(0, S + increment) > h, restarting at 0 after each alarm."""
    statistic, alarms = np.zeros(increments.shape[0]), np.zeros(increments.shape, dtype=bool)
    for day in range(increments.shape[1]):
        statistic = np.maximum(0.0, statistic + increments[:, day])
        alarms[:, day] = statistic > h
        statistic[alarms[:, day]] = 0.0
    return alarms


def z_increments(errors: np.ndarray, baseline: np.ndarray, k: float) -> np.ndarray:
    """Accuracy's score statistic against the baseline (se under the baseline), minus k."""
    accuracy = 1 - errors / ROWS
    se = np.sqrt(baseline * (1 - baseline) / ROWS)[:, None]
    return (baseline[:, None] - accuracy) / se - k


def llr_increments(errors: np.ndarray) -> np.ndarray:
    """Log-likelihood ratio of a day's errors, accuracy 0.915 against 0.94 (the oracle)."""
    up, down = math.log((1 - DROPPED) / (1 - GOOD)), math.log(DROPPED / GOOD)
    return errors * up + (ROWS - errors) * down


def persistence_alarms(errors: np.ndarray, limit: int, breaches: int, windows: int) -> np.ndarray:
    """A day breaches when its errors reach ``limit``; alarm on a breach with ``breaches`` of the
    last ``windows`` days breaching (only days since the last alarm count)."""
    breach, alarms = errors >= limit, np.zeros(errors.shape, dtype=bool)
    running = np.concatenate([np.zeros((len(errors), 1), dtype=int), breach.cumsum(axis=1)], axis=1)
    since, seeds = np.zeros(len(errors), dtype=int), np.arange(len(errors))
    for day in range(errors.shape[1]):
        start = np.maximum(since, day - windows + 1)
        recent = running[:, day + 1] - running[seeds, start]
        alarms[:, day] = breach[:, day] & (recent >= breaches)
        since[alarms[:, day]] = day + 1
    return alarms


def pooled_alarms(errors: np.ndarray, limit: int, days: int = 7) -> np.ndarray:
    """Alarm when the errors of the last ``days`` days (all after the last alarm) reach ``limit``"""
    alarms, since = np.zeros(errors.shape, dtype=bool), np.zeros(errors.shape[0], dtype=int)
    for day in range(days - 1, errors.shape[1]):
        full = day - since + 1 >= days
        total = errors[:, day - days + 1 : day + 1].sum(axis=1)
        alarms[:, day] = full & (total >= limit)
        since[alarms[:, day]] = day + 1
    return alarms


@dataclass(frozen=True)
class Outcome:
    false_alarm: np.ndarray
    delay: np.ndarray

    @classmethod
    def of(cls, alarms: np.ndarray) -> Outcome:
        after = alarms[:, BEFORE:]
        delay = np.where(after.any(axis=1), after.argmax(axis=1) + 1.0, np.inf)
        return cls(alarms[:, :BEFORE].any(axis=1), delay)

    def row(self) -> str:
        median = np.median(self.delay)
        finite = self.delay[np.isfinite(self.delay)]
        return (
            f"{self.false_alarm.mean():6.1%} {np.mean(self.delay <= 10):7.1%} "
            f"{median:6.0f} {finite.mean() if finite.size else math.inf:6.1f}"
        )


def counts_table(o: Outcome) -> str:
    n = len(o.delay)
    return f"{o.false_alarm.sum():3d}/{n} {np.sum(o.delay <= 10):4d}/{n} {np.median(o.delay):6.0f}"


# ---- exact in-control figures by a Markov chain on the CUSUM statistic --------------------------


def markov_in_control(increments: np.ndarray, h: float, grid: int = 1000) -> tuple[float, float]:
    """(ARL0, P(false alarm within 150 days)) of S = max(0, S + inc) > h, inc = increments[x] with
    x ~ Binomial(ROWS, 1 - GOOD), S on a grid of h / grid (Brook and Evans)."""
    pmf = binom.pmf(np.arange(ROWS + 1), ROWS, 1 - GOOD)
    width = h / grid
    moves = np.arange(grid + 1)[:, None] * width + increments[None, :]
    target = np.rint(np.maximum(moves, 0.0) / width).astype(int)
    inside = moves <= h
    stay = np.zeros((grid + 1, grid + 1))
    for x in range(ROWS + 1):
        rows = np.flatnonzero(inside[:, x])
        np.add.at(stay, (rows, target[rows, x]), pmf[x])
    arl = np.linalg.solve(np.eye(grid + 1) - stay, np.ones(grid + 1))[0]
    where = np.zeros(grid + 1)
    where[0] = 1.0
    for _ in range(BEFORE):
        where = where @ stay
    return float(arl), float(1 - where.sum())


def oracle_h(target: float, figure: int) -> float:
    """The oracle's h whose in-control ARL (figure 0) or false-alarm chance in 150 days
    (figure 1) equals ``target``."""
    increments = llr_increments(np.arange(ROWS + 1))
    low, high = 0.5, 15.0
    for _ in range(20):
        middle = (low + high) / 2
        value = markov_in_control(increments, middle)[figure]
        too_low = value < target if figure == 0 else value > target
        low, high = (middle, high) if too_low else (low, middle)
    return high


# ---- the 20 seeds through the real code ---------------------------------------------------------


def daily_rows(rng: np.random.Generator, accuracy: float) -> ClassificationCounts:
    truth = (rng.random(ROWS) < 0.3).astype(int)
    correct = rng.random(ROWS) < accuracy
    return classification_counts(truth, np.where(correct, truth, 1 - truth), positive=1)


def pipeline_seed(
    seed: int, baseline: float, pooled_limit: float
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One seed's daily counts, and the alarms of the shipped CUSUM rule (``threshold: cusum``,
    evaluated by the policy day by day) and of 7-day pooled values (``policy.pooling``)."""
    rng = np.random.default_rng([13, seed])
    days = [daily_rows(rng, GOOD if d < BEFORE else DROPPED) for d in range(BEFORE + AFTER)]
    errors = np.array([c.rows - np.trace(c.confusion) for c in days])
    starts = [START + d * timedelta(days=1) for d in range(len(days))]
    state: dict[str, RuleState] = {}
    champion, cusum, pooled, since = 0, [], [], 0
    for day, counts in enumerate(days):
        records = [value.record() for value in quality_values(counts)]
        evaluation = evaluate(
            CUSUM_POLICY, window_start=starts[day], current={r.key: r for r in records},
            history=[], baseline={Metric.ACCURACY.value: baseline}, state=state,
            baseline_version=champion,
        )  # fmt: skip
        fired = evaluation.result("accuracy-cusum").firing_since == starts[day]
        state = advance_state(state, evaluation)
        champion += fired  # the alarm is handled (a new champion): the CUSUM starts afresh
        cusum.append(fired)
        span = {starts[d]: days[d] for d in range(max(since, day - 6), day + 1)}
        value = pooled_record(POOLED_RULE, starts[day], span).value if len(span) == 7 else None
        pooled.append(value is not None and value <= pooled_limit + 1e-12)  # 1 - limit / rows
        since = day + 1 if pooled[-1] else since
    return errors, {"cusum": np.array(cusum), "pooled": np.array(pooled)}


def calibrated_limit(alarms_for: Callable[[int], np.ndarray], candidates: range) -> int:
    """The lowest error limit whose false-alarm chance in 150 unchanged days is in budget."""
    for limit in candidates:
        if alarms_for(limit)[:, :BEFORE].any(axis=1).mean() <= FALSE_ALARM_BUDGET:
            return limit
    raise RuntimeError("no limit keeps false alarms in budget")


def cusum_z_increments() -> np.ndarray:
    """The default CUSUM's increment for each possible error count of an unchanged day."""
    errors = np.arange(ROWS + 1)
    return (errors - ROWS * (1 - GOOD)) / math.sqrt(ROWS * GOOD * (1 - GOOD)) - DEFAULT_K


Alarms = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(daily errors, per-seed baselines) -> alarms, seeds x days."""


def make_detectors(tune: np.ndarray, cusum_false_alarm: float) -> tuple[dict[str, Alarms], float]:
    """The detectors by name, and the calibrated pooled rule's accuracy threshold."""
    day_limit = calibrated_limit(lambda e: persistence_alarms(tune, e, 4, 7), range(10, 40))
    pool_limit = calibrated_limit(lambda e: pooled_alarms(tune, e), range(60, 140))
    naive_day = math.floor(ROWS * (1 - 0.92)) + 1  # errors of a day with accuracy < 0.92
    naive_pool = math.floor(7 * ROWS * (1 - 0.93)) + 1  # of a week with accuracy < 0.93
    h15, h_same, h1 = (
        oracle_h(DAYS_15_YEARS, 0),
        oracle_h(cusum_false_alarm, 1),
        oracle_h(365, 0),
    )

    def cusum(errors: np.ndarray, baselines: np.ndarray) -> np.ndarray:
        return cusum_alarms(z_increments(errors, baselines, DEFAULT_K), DEFAULT_H)

    def oracle(h: float) -> Alarms:
        return lambda errors, _: cusum_alarms(llr_increments(errors), h)

    day_threshold, pool_threshold = 1 - day_limit / ROWS, 1 - pool_limit / (7 * ROWS)
    return {
        f"CUSUM k={DEFAULT_K} h={DEFAULT_H} (defaults), baseline 0.94": lambda e, _: cusum(
            e, np.full(len(e), GOOD)
        ),
        f"  same, baseline from {REFERENCE_ROWS} reference rows": cusum,
        "per-day accuracy < 0.92, 4 of 7 days": lambda e, _: persistence_alarms(e, naive_day, 4, 7),
        f"per-day accuracy <= {day_threshold:.4f}, 4 of 7 (calibrated)": lambda e, _: (
            persistence_alarms(e, day_limit, 4, 7)
        ),
        "pooled 7-day accuracy < 0.93": lambda e, _: pooled_alarms(e, naive_pool),
        f"pooled 7-day accuracy <= {pool_threshold:.4f} (calibrated)": lambda e, _: pooled_alarms(
            e, pool_limit
        ),
        f"oracle LR CUSUM, ARL0 15 years (h={h15:.2f})": oracle(h15),
        f"oracle LR CUSUM, the CUSUM's P(FA) (h={h_same:.2f})": oracle(h_same),
        f"oracle LR CUSUM, ARL0 1 year (h={h1:.2f})": oracle(h1),
    }, pool_threshold


def pipeline_check(
    args: argparse.Namespace, detectors: dict[str, Alarms], pool_threshold: float
) -> np.ndarray:
    """Run the 20 seeds through the real code; check the vectorised twins raise the same alarms."""
    names = list(detectors)
    runs = [pipeline_seed(s, GOOD, pool_threshold) for s in range(args.seeds)]
    errors = np.array([r[0] for r in runs])
    known = np.full(args.seeds, GOOD)
    for name, kind in ((names[0], "cusum"), (names[5], "pooled")):
        real = np.array([r[1][kind] for r in runs])
        if not np.array_equal(real, detectors[name](errors, known)):
            raise AssertionError(f"the real code's {kind} alarms differ from the vectorised ones")
    return errors


def print_in_control(cusum_arl: float, cusum_fa: float, detectors: dict[str, Alarms]) -> None:
    print(
        f"\nIn-control run length of the CUSUM defaults: {in_control_arl():.0f} windows for "
        f"normal z (Siegmund);\non this binomial accuracy (Markov chain): {cusum_arl:.0f} days "
        f"({cusum_arl / 365:.1f} years), P(false alarm in {BEFORE} days) = {cusum_fa:.1%}."
    )
    for name in detectors:
        if name.startswith("oracle"):
            h = float(name.split("h=")[1].rstrip(")"))
            arl, fa = markov_in_control(llr_increments(np.arange(ROWS + 1)), h)
            print(f"{name}: ARL0 {arl:.0f} days, P(false alarm in {BEFORE} days) = {fa:.1%}.")


def detection(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    good = rng.binomial(ROWS, 1 - GOOD, (args.many, BEFORE))
    many = np.concatenate([good, rng.binomial(ROWS, 1 - DROPPED, (args.many, AFTER))], axis=1)
    tune = rng.binomial(ROWS, 1 - GOOD, (args.many, BEFORE))
    reference = rng.binomial(REFERENCE_ROWS, GOOD, args.many + args.seeds) / REFERENCE_ROWS
    cusum_arl, cusum_fa = markov_in_control(cusum_z_increments(), DEFAULT_H)
    detectors, pool_threshold = make_detectors(tune, cusum_fa)
    started = time.perf_counter()
    errors = pipeline_check(args, detectors, pool_threshold)
    seconds = time.perf_counter() - started
    sd = math.sqrt(GOOD * (1 - GOOD) / ROWS)
    print(
        f"Daily windows of {ROWS} labelled rows, accuracy {GOOD} for {BEFORE} days, then "
        f"{DROPPED} for {AFTER}: a day's accuracy has sd {sd:.4f}, the drop is "
        f"{(GOOD - DROPPED) / sd:.2f} sd."
    )
    print(
        f"Calibrated thresholds: the most sensitive with P(false alarm in {BEFORE} days) <= "
        f"{FALSE_ALARM_BUDGET:.0%} on {args.many} other unchanged runs. The {args.seeds} seeds' "
        f"CUSUM and pooled rule ran through the real code ({seconds:.1f} s) and raised exactly the "
        "vectorised detectors' alarms."
    )
    print(
        f"FA: seeds with a false alarm in days 1-{BEFORE}; <=10d: drop caught within 10 days; "
        "median/mean: days from the drop to the alarm.\n"
    )
    header = (
        f"{'detector':<55} {args.seeds} seeds: {'FA':>5} {'<=10d':>6} {'median':>6} | "
        f"{args.many} seeds: {'P(FA)':>6} {'<=10d':>7} {'median':>6} {'mean':>6}"
    )
    print(header)
    print("-" * len(header))
    for name, run in detectors.items():
        small = Outcome.of(run(errors, reference[args.many :]))
        large = Outcome.of(run(many, reference[: args.many]))
        print(f"{name:<55} {'':>9}{counts_table(small)} | {'':>11}{large.row()}")
    print_in_control(cusum_arl, cusum_fa, detectors)


# ---- part 2: estimated against realised quality -------------------------------------------------

ESTIMATED_METRICS = (Metric.ACCURACY, Metric.PRECISION, Metric.RECALL, Metric.F1, Metric.ROC_AUC)
BINARY_SCENARIOS = {
    "unchanged": {"spread": 1.0, "boundary": 0.0},
    "covariate shift": {"spread": 0.5, "boundary": 0.0},
    "concept shift": {"spread": 1.0, "boundary": 0.15},
}
MULTICLASS_SCENARIOS = {
    "unchanged": {"shift": 0.0, "prior": 0.0},
    "covariate shift": {"shift": 0.8, "prior": 0.0},
    "concept shift": {"shift": 0.0, "prior": 0.8},
}
LABELS = np.array(["a", "b", "c"])


def binary_world(n: int, rng: np.random.Generator, spread: float, boundary: float):
    """P(y = 1 | x) = sigmoid(10 (x - boundary)); the model scores sigmoid(14 x + 0.5), an
    overconfident score that calibration has to repair. A covariate shift narrows x around the
    decision boundary; a concept shift moves the boundary under the model."""
    x = rng.normal(0.0, spread, n)
    truth = (rng.random(n) < 1 / (1 + np.exp(-10 * (x - boundary)))).astype(int)
    score = 1 / (1 + np.exp(-(14 * x + 0.5)))
    return truth, score, (score > 0.5).astype(int)


def multiclass_world(n: int, rng: np.random.Generator, shift: float, prior: float):
    """P(y | x) = softmax(2 x + prior on class a); the model scores softmax(3 x) (overconfident)."""
    x = rng.normal(0.0, 1.0, (n, 3))
    x[:, 0] += shift
    logits = 2 * x
    logits[:, 0] += prior
    true_p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = LABELS[(rng.random((n, 1)) > true_p.cumsum(axis=1)).sum(axis=1)]
    raw = np.exp(3 * x) / np.exp(3 * x).sum(axis=1, keepdims=True)
    return truth, {label: raw[:, i] for i, label in enumerate(LABELS)}, LABELS[raw.argmax(axis=1)]


def estimation_rows(
    task: str, world: Callable, scenarios: dict, args: argparse.Namespace
) -> list[str]:
    lines = []
    positive = 1 if task == "binary" else None
    calibrations = []
    for seed in range(args.seeds):
        truth, scores, _ = world(
            REFERENCE_ROWS, np.random.default_rng([16, seed]), **scenarios["unchanged"]
        )
        calibrations.append(fit_calibration(truth, scores, positive=positive))
    for scenario, settings in scenarios.items():
        gaps: dict[Metric, list[tuple[float, float, bool, float, float]]] = {
            m: [] for m in ESTIMATED_METRICS
        }
        methods: set[str] = set()
        for seed in range(args.seeds):
            rng = np.random.default_rng([15, seed])
            calibration = calibrations[seed]
            methods |= {m.method for m in calibration.maps}
            for _ in range(args.estimation_days):
                truth, scores, predicted = world(ROWS, rng, **settings)
                estimated = quality_values(expected_counts(predicted, scores, calibration))
                realised = quality_values(
                    classification_counts(truth, predicted, scores, positive=positive)
                )
                for metric in ESTIMATED_METRICS:
                    e = find(estimated, metric.value.replace("quality.", "estimated."))
                    r = find(realised, metric)
                    if e.value is None or r.value is None:
                        continue
                    covered = (
                        e.lower is not None
                        and e.upper is not None
                        and e.lower <= r.value <= e.upper
                    )
                    gaps[metric].append((e.value, r.value, covered, e.se or 0.0, r.se or 0.0))
        for metric, rows in gaps.items():
            est, real, cover, se_e, se_r = (np.array(column) for column in zip(*rows, strict=True))
            lines.append(
                f"{task:<10} {scenario:<16} {metric.value.removeprefix('quality.'):<10} "
                f"{real.mean():8.4f} {est.mean():9.4f} {np.mean(np.abs(est - real)):7.4f} "
                f"{np.mean(est - real):+8.4f} {cover.mean():6.1%} "
                f"{np.mean(se_e) / np.mean(se_r):8.2f}"
                f"   {','.join(sorted(methods))}"
            )
    return lines


def estimation(args: argparse.Namespace) -> None:
    print(
        f"\nEstimated (CBPE) against realised quality: {args.seeds} seeds x {args.estimation_days} "
        f"days of {ROWS} rows per scenario; calibration fitted per seed on {REFERENCE_ROWS} "
        "unchanged reference rows (overconfident raw scores)."
    )
    print(
        "MAE and bias: estimated - realised per day. cover: share of days whose realised value "
        "lies in the estimate's 95% interval. se ratio: mean se of the estimate (its spread "
        "between windows, what a CUSUM divides by) over the realised value's."
    )
    header = (
        f"{'task':<10} {'scenario':<16} {'metric':<10} {'realised':>8} {'estimated':>9} "
        f"{'MAE':>7} {'bias':>8} {'cover':>6} {'se ratio':>8}   calibration"
    )
    print(header)
    print("-" * len(header))
    for line in estimation_rows("binary", binary_world, BINARY_SCENARIOS, args):
        print(line)
    for line in estimation_rows("multiclass", multiclass_world, MULTICLASS_SCENARIOS, args):
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--many", type=int, default=4000, help="seeds for the vectorised rates")
    parser.add_argument("--estimation-days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", help="also write the printed figures to this file")
    args = parser.parse_args()
    started = time.perf_counter()
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        detection(args)
        estimation(args)
        print(f"\nTotal {time.perf_counter() - started:.0f} s.")
    print(buffer.getvalue(), end="")
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(buffer.getvalue())


if __name__ == "__main__":
    main()
