"""Warehouse dock: packages with search, recommendation bars, details, Migrate…."""

from __future__ import annotations

import shutil
from pathlib import Path

from twin.warehouse.store import SAMPLES_DIR
from twin.workshop import load_workshop
from ui.warehouse import QtWarehousePanel


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
    text = panel.details.toPlainText()
    assert "station types the source lacks: washer" in text
    assert "machining13-from-B" in [panel.packages.item(r, 0).text() for r in range(panel.packages.rowCount())]
