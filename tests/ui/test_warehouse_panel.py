"""Warehouse dock: packages with search, recommendation bars, details, Migrate…."""

from __future__ import annotations

import shutil
from pathlib import Path

from twin.warehouse.store import SAMPLES_DIR, Warehouse
from twin.workshop import load_workshop
from ui.warehouse import QtWarehousePanel

ROOT = Path(__file__).resolve().parents[2]


def _panel(qtbot, tmp_path: Path, workshop, recording) -> QtWarehousePanel:  # noqa: ANN001
    root = tmp_path / "wh"
    (root / "packages").mkdir(parents=True)
    for f in SAMPLES_DIR.glob("packages/*.aasx"):
        shutil.copyfile(f, root / "packages" / f.name)  # a folder without index: rebuilt on open
    panel = QtWarehousePanel(lambda: workshop, lambda: recording, root=root)
    qtbot.addWidget(panel)
    return panel


def test_list_search_recommend_and_details(qtbot, tmp_path: Path, machining13_path: Path) -> None:  # noqa: ANN001
    panel = _panel(qtbot, tmp_path, load_workshop(machining13_path), None)
    ids = lambda: [panel.packages.item(r, 0).text() for r in range(panel.packages.rowCount())]  # noqa: E731
    assert ids() == ["B", "C", "D", "E", "F"]
    panel.search.setText("assembly")
    assert ids() == ["D", "E", "F"]
    panel.search.setText("")
    panel.recommend()
    qtbot.waitUntil(lambda: panel.recommendations.rowCount() == 5, timeout=120_000)
    assert panel.recommendations.item(0, 0).text() in ("B", "C")
    bars = [panel.recommendations.cellWidget(0, c) for c in range(2, 6)]
    assert all(0 <= b.value() <= 100 for b in bars) and bars[2].value() > 50  # LM of a machining model
    assert panel.status.text().startswith("best: ")
    panel.packages.selectRow(3)  # E
    assert "Knowledge graph" in panel.details.toPlainText() and "E: Model E" in panel.details.toPlainText()


def test_migrate_reports_and_adds_the_package(qtbot, tmp_path: Path, machining13_path: Path,  # noqa: ANN001
                                              shift_recording: Path) -> None:
    panel = _panel(qtbot, tmp_path, load_workshop(machining13_path), shift_recording)
    panel.packages.selectRow(0)  # B
    with qtbot.waitSignal(panel.migrated, timeout=180_000) as sig:
        panel.migrate()
    assert sig.args == ["machining13-from-B"]
    text = panel.report.toPlainText()
    assert "station types the source lacks: washer" in text
    assert "machining13-from-B" in [panel.packages.item(r, 0).text() for r in range(panel.packages.rowCount())]
    # the learning curve a person sees: two series, the values the migration measured
    assert panel.tabs.currentWidget() is panel.report.parentWidget()
    with Warehouse(tmp_path / "wh") as wh:
        curve = wh.load("machining13-from-B").meta.provenance["migration"]["learning_curve"]
    assert len(curve["shares"]) == 5 and curve["samples"] == sorted(curve["samples"])
    for series, key in ((panel.curve.from_scratch, "from_scratch"), (panel.curve.migrated, "migrated"),
                        (panel.curve.level, "level")):
        x, y = series.getData()
        assert list(x) == [100.0 * s for s in curve["shares"]]
        assert [round(float(v), 4) for v in y] == curve[key]
    assert panel.curve.from_scratch.name() == "from scratch" and panel.curve.migrated.name().startswith("migrated")
    assert round(panel.curve.target.value(), 4) == curve["from_scratch"][-1]  # the line to reach
    assert "PM learning curve" in text and f"migrated {curve['migrated'][0]:.3f}" in text


def test_layout_preview_draws_the_selected_package(qtbot, tmp_path: Path, machining13_path: Path) -> None:  # noqa: ANN001
    panel = _panel(qtbot, tmp_path, load_workshop(machining13_path), None)
    for row, workshop in ((0, "machining8"), (3, "assembly4")):  # B, E
        panel.packages.selectRow(row)
        ws = load_workshop(ROOT / f"assets/workshops/{workshop}.toml")
        spots = panel.preview.stations.points()
        assert len(spots) == len(ws.stations)  # one square per station of this package
        drawn = {p.data()[0]: (round(p.pos().x(), 3), round(p.pos().y(), 3)) for p in spots}
        assert drawn == {s.id: (round(s.x, 3), round(s.y, 3)) for s in ws.stations.values()}
        assert sorted(label.toPlainText() for label in panel.preview.labels) == sorted(ws.stations)
        x, _ = panel.preview.aisles.getData()
        assert len(x) == 2 * len(ws.edges)  # every aisle segment (AGV path) drawn
        types = {p.data()[1] for p in spots}
        assert len({p.brush().color().name() for p in spots}) == len(types)  # a colour per station type
