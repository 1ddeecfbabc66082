"""Evidently's report as a light, safe HTML page.

Evidently's ``save_html`` inlines its 3.5 MB JavaScript bundle and a font into every report and
writes the report's data raw inside a ``<script>`` block, so a category value or column name
``</script><script>...`` from the log would run when the report is opened. This page keeps the
same widgets and the same drawing code, but:

- the data is escaped for a script block (``pages.html.script_json``) and shown as text;
- the bundle and the font are written once per reports folder (``_evidently/``) and linked, so
  a report holds only its own data (tens of kB instead of ~4 MB);
- a ``driftwise-verdict`` block at the top says what driftwise decided, filled in when the run
  knows (``pages.verdict``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import evidently
from evidently.legacy.model.dashboard import DashboardInfo
from evidently.legacy.model.widget import AdditionalGraphInfo, BaseWidgetInfo
from evidently.legacy.renderers.html_widgets import group_widget
from evidently.legacy.utils import NumpyEncoder

from monitoring_lib.pages.html import ASSET_FOLDER, script_json, text, write_atomically
from monitoring_lib.pages.verdict import MARKER

LIBRARY = f"evidently-{evidently.__version__}.js"
FONT = "material-ui-icons.woff2"
_STATIC = Path(evidently.__path__[0]) / "nbextension" / "static"


def ensure_assets(reports_folder: Path) -> Path:
    """Evidently's bundle and icon font beside the reports, once per version; concurrent runs
    may both write, each through a rename, so a reader never sees a partial file."""
    folder = reports_folder / ASSET_FOLDER
    for source, name in ((_STATIC / "index.js", LIBRARY), (_STATIC / FONT, FONT)):
        target = folder / name
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            write_atomically(target, source.read_bytes())
    return folder


def _widgets(snapshot: Any) -> list[BaseWidgetInfo]:
    """The widgets ``Snapshot.get_html_str`` draws (evidently 0.7's private attributes)."""
    return [group_widget(title="", widgets=snapshot._widgets), *snapshot._tests_widgets]


def _dashboard_data(widgets: list[BaseWidgetInfo]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dashboard and its additional graphs, as ``evidently.core.metric_types.render_widgets``
    builds them."""
    graphs: dict[str, Any] = {}
    for widget in widgets:
        for graph in widget.get_additional_graphs():
            info = graph.params if isinstance(graph, AdditionalGraphInfo) else graph
            graphs[str(graph.id)] = info.dict() if isinstance(info, BaseWidgetInfo) else info
    dashboard = DashboardInfo(name="Report", widgets=widgets).dict()
    for widget_data in dashboard["widgets"]:
        widget_data.pop("additionalGraphs", None)
    return dashboard, graphs


_STYLE = """
@font-face { font-family: 'Material Icons'; font-style: normal; font-weight: 400;
  src: url(%(font)s) format('woff2'); }
.material-icons { font-family: 'Material Icons'; font-weight: normal; font-style: normal;
  font-size: 24px; line-height: 1; letter-spacing: normal; text-transform: none;
  display: inline-block; white-space: nowrap; word-wrap: normal; direction: ltr;
  -webkit-font-smoothing: antialiased; }
#driftwise-verdict { font-family: system-ui, sans-serif; margin: 16px 24px; padding: 12px 16px;
  border-left: 6px solid #888; background: #f6f6f6; }
#driftwise-verdict.red { border-color: #c62828; background: #fdecea; }
#driftwise-verdict.amber { border-color: #ef8f00; background: #fff4e0; }
#driftwise-verdict.green { border-color: #2e7d32; background: #edf7ed; }
#driftwise-verdict h2 { margin: 0 0 6px; font-size: 18px; }
#driftwise-verdict p, #driftwise-verdict ul { margin: 4px 0; }
"""


def report_page(snapshot: Any, title: str, note: str = "") -> str:
    """The page of an Evidently snapshot, its bundle and font linked from ``_evidently/``;
    ``note`` (plain text, e.g. how many rows the panels show) stays in the placeholder until the
    run's verdict replaces it."""
    dashboard, graphs = _dashboard_data(_widgets(snapshot))
    assets = f"{ASSET_FOLDER}/"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{text(title)}</title>
<style>{_STYLE % {"font": assets + FONT}}</style>
<script>
var driftwise_dashboard = {script_json(dashboard, encoder=NumpyEncoder, allow_nan=True)};
var driftwise_graphs = {script_json(graphs, encoder=NumpyEncoder, allow_nan=True)};
</script>
</head>
<body>
<div id="driftwise-verdict">{MARKER}<p>driftwise's verdict on this window is added when
its run has evaluated the policy.</p><p>{text(note)}</p></div>
<div id="driftwise-report"></div>
<script>var global = globalThis</script>
<script src="{assets}{LIBRARY}"></script>
<script>
window.drawDashboard(driftwise_dashboard, new Map(Object.entries(driftwise_graphs)),
  "driftwise-report");
</script>
</body>
</html>
"""


def save_report(snapshot: Any, path: Path, title: str, note: str = "") -> Path:
    """Write the page and make sure its assets are beside it."""
    ensure_assets(path.parent)
    return write_atomically(path, report_page(snapshot, title, note))


def set_verdict(path: Path, banner: str) -> bool:
    """Replace the report's verdict block with ``banner`` (already escaped HTML); False when the
    file is not one of these pages. The marker can only be ours: the data holds no raw '<'."""
    if not path.exists():
        return False
    page = path.read_text(encoding="utf-8")
    start = page.find('<div id="driftwise-verdict"')
    end = page.find("</div>", start)
    if start < 0 or end < 0 or MARKER not in page[start:end]:
        return False
    write_atomically(path, page[:start] + banner + page[end + len("</div>") :])
    return True
