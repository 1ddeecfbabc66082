"""`driftwise demo`: the whole loop on a fresh machine, through Prefect, one day at a time."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import delete

from flows.monitor import MonitorParams, monitor_model
from monitoring_lib import demo
from monitoring_lib.actions.registry import CHAMPION
from monitoring_lib.actions.store_registry import StoreRegistry
from monitoring_lib.io.artifacts import model_folder
from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.spec.monitor import load_spec
from monitoring_lib.store.engine import make_engine, session_factory, upgrade
from monitoring_lib.store.models import Model
from monitoring_lib.store.repository import ensure_model


@dataclass
class DemoRun:
    world: demo.DemoWorld
    days: list[dict[str, Any]] = field(default_factory=list)
    store: str = ""
    artifacts: Path = Path()


def _fresh_store(settings: DriftwiseSettings) -> Any:
    """Migrate the store and forget any earlier demo run of the model."""
    engine = make_engine(settings.store_url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        session.execute(delete(Model).where(Model.name == demo.MODEL))
    shutil.rmtree(model_folder(settings.artifacts, demo.MODEL), ignore_errors=True)
    return sessions


def run_demo(
    *,
    days: int,
    change_after: int,
    rows_per_day: int,
    on_day: Callable[[int, dict[str, Any]], None] = lambda _i, _r: None,
) -> DemoRun:
    """Simulate ``days`` days of a credit model in production and monitor each through Prefect."""
    settings = DriftwiseSettings()
    world = demo.DemoWorld(
        settings.home.resolve() / "demo", date(2024, 3, 1), days, change_after, rows_per_day
    )
    shutil.rmtree(world.folder, ignore_errors=True)
    sessions = _fresh_store(settings)
    spec = load_spec(demo.write_spec(world))
    model, scores = demo.first_model(world, spec)
    with sessions.begin() as session:
        ensure_model(session, spec.name, spec.task.value)
        registry = StoreRegistry(session, settings.artifacts)
        version = registry.register(spec.name, model, scores, {"source": "demo: first model"})
        registry.set_alias(spec.name, CHAMPION, version)
        registry.mark_good(spec.name, version, True)

    run = DemoRun(
        world,
        store=settings.store_url.render_as_string(hide_password=True),
        artifacts=settings.artifacts,
    )
    champion_version, champion = version, model
    for index in range(days):
        day = world.day(index)
        demo.simulate_day(world, index, champion)
        params = MonitorParams(
            spec_path=str(world.spec_path),
            window_date=day,
            labels_as_of=world.run_time(day),
        )
        result = monitor_model(params)
        with sessions() as session:
            registry = StoreRegistry(session, settings.artifacts)
            current = registry.get_alias(spec.name, CHAMPION)
            if current is not None and current != champion_version:
                champion_version, champion = current, registry.load(spec.name, current)
                result["reasons"].append(f"champion is now v{current}")
                demo.adopt_reference(world, 7, world.run_time(day), champion)
        result["champion"] = champion_version
        result["world"] = world.phase(index)
        run.days.append(result)
        on_day(index, result)
    return run
