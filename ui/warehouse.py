"""Warehouse dock: the model packages, f_predict's recommendation for the open workshop,
package details with a top view of its layout, and Migrate… (in a worker, with progress,
the migration report and the PM's learning curve: migrated vs from scratch).

The panel is a view of a :class:`twin.warehouse.store.Warehouse` folder; what it shows is
read from the warehouse's index (list, search) and from a package (details). Recommending
and migrating run off the GUI thread, each opening its own warehouse connection.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from twin.warehouse.model import PARTS, PackageError
from twin.warehouse.parts import PackageLayout
from twin.warehouse.pm import LearningCurve
from twin.warehouse.store import Warehouse
from twin.workshop import Workshop
from ui.workers import Worker

PACKAGE_COLUMNS = ("id", "type", "stations", "name")
RECOMMEND_COLUMNS = ("id", "f_predict", *(f"T {p}" for p in PARTS))
#: Station-type colours of the layout preview (Okabe–Ito, colour-blind safe), by sorted type.
TYPE_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
SCRATCH_PEN = pg.mkPen("#7F7F7F", width=2, style=Qt.PenStyle.DashLine)
MIGRATED_PEN = pg.mkPen("#0072B2", width=2.5)


class LayoutPreview(pg.PlotWidget):
    """Top view of a package's workshop [m]: floor, aisles (the AGV paths), storage, and one
    square per station coloured by type, labelled with its id."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w")
        self.setAspectLocked(True)
        self.setMenuEnabled(False)
        self.setMinimumHeight(160)
        self.getPlotItem().setLabels(bottom="x [m]", left="y [m]")
        self.floor = QGraphicsRectItem()
        self.floor.setPen(pg.mkPen("#A3A9B0"))
        self.floor.setBrush(QColor("#EEF0F2"))
        self.addItem(self.floor)
        self.aisles = pg.PlotDataItem(pen=pg.mkPen("#A4AAB1", width=4), connect="pairs")
        self.addItem(self.aisles)
        self.buffers = pg.ScatterPlotItem(symbol="t", size=10, brush="#5B6770", pen=None)
        self.addItem(self.buffers)
        self.stations = pg.ScatterPlotItem(symbol="s", size=14, pen=pg.mkPen("#1F2328"), hoverable=True,
                                           tip=lambda x, y, data: f"{data[0]} ({data[1]})")
        self.addItem(self.stations)
        self.labels: list[pg.TextItem] = []
        self.legend = self.getPlotItem().addLegend(offset=(5, 5), labelTextSize="7pt", labelTextColor="#1F2328",
                                                    brush=pg.mkBrush(255, 255, 255, 200))

    def show_layout(self, layout: PackageLayout | None) -> None:
        """Draw ``layout`` (None: clear)."""
        for item in self.labels:
            self.removeItem(item)
        self.labels = []
        self.legend.clear()
        if layout is None:
            self.stations.clear()
            self.buffers.clear()
            self.aisles.setData([], [])
            self.floor.setRect(QRectF())
            return
        w, h = layout.floor
        self.floor.setRect(QRectF(0.0, 0.0, w, h))
        xs = [v for a in layout.aisles for v in (a[0], a[2])]
        ys = [v for a in layout.aisles for v in (a[1], a[3])]
        self.aisles.setData(xs, ys)
        self.buffers.setData([b[1] for b in layout.buffers], [b[2] for b in layout.buffers])
        types = sorted({s[1] for s in layout.stations})
        colour = {t: TYPE_COLOURS[i % len(TYPE_COLOURS)] for i, t in enumerate(types)}
        self.stations.setData([{"pos": (x, y), "brush": colour[t], "data": (sid, t)} for sid, t, x, y in layout.stations])
        for t in types:
            self.legend.addItem(pg.ScatterPlotItem(symbol="s", size=8, brush=colour[t], pen=None), t)
        for sid, _t, x, y in layout.stations:
            label = pg.TextItem(sid, color="#1F2328", anchor=(0.5, 1.3))
            label.setPos(x, y)
            self.addItem(label)
            self.labels.append(label)
        self.getPlotItem().setRange(xRange=(0.0, w), yRange=(0.0, h), padding=0.03)


class LearningCurveChart(pg.PlotWidget):
    """PM test accuracy vs share of the target's data: migrated, from scratch and no model
    (the share's mean output predicted every time; absent in curves of older packages)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w")
        self.setMenuEnabled(False)
        self.setMinimumHeight(160)
        pi = self.getPlotItem()
        pi.setLabels(bottom="share of the target's data [%]", left="PM test accuracy")
        pi.showGrid(x=True, y=True, alpha=0.25)
        pi.getAxis("left").enableAutoSIPrefix(False)
        pi.addLegend(offset=(-5, -5), labelTextSize="8pt", labelTextColor="#1F2328", brush=pg.mkBrush(255, 255, 255, 200))
        self.from_scratch = pi.plot([], [], pen=SCRATCH_PEN, symbol="o", symbolSize=6, symbolBrush="#7F7F7F",
                                    name="from scratch")
        self.migrated = pi.plot([], [], pen=MIGRATED_PEN, symbol="s", symbolSize=6, symbolBrush="#0072B2",
                                name="migrated + fine-tuned")
        self.level = pi.plot([], [], pen=pg.mkPen("#E69F00", width=1, style=Qt.PenStyle.DashDotLine),
                             name="no model (mean)")
        self.target = pg.InfiniteLine(angle=0, pen=pg.mkPen("#7F7F7F", width=1, style=Qt.PenStyle.DotLine))
        self.target.setVisible(False)
        self.addItem(self.target)

    def show_curve(self, curve: LearningCurve | None) -> None:
        """Plot ``curve`` (None: clear)."""
        pi = self.getPlotItem()
        if curve is None:
            self.from_scratch.setData([], [])
            self.migrated.setData([], [])
            self.level.setData([], [])
            self.target.setVisible(False)
            pi.setTitle("")
            return
        x = [100.0 * s for s in curve.shares]
        self.from_scratch.setData(x, list(curve.from_scratch))
        self.migrated.setData(x, list(curve.migrated))
        has_level = len(curve.level) == len(x)  # curves of older packages have none
        self.level.setData(x if has_level else [], list(curve.level) if has_level else [])
        self.target.setPos(curve.from_scratch[-1])
        self.target.setVisible(True)
        r = curve.reach()
        pi.setTitle(f"migrated reaches from-scratch-on-all with {r:.0%} of the data" if r is not None
                    else "migrated does not reach from-scratch-on-all", size="9pt")
        pi.setXRange(0.0, 100.0, padding=0.04)


class QtWarehousePanel(QWidget):
    """Packages (with search), recommendation (per-part bars), details, Migrate….

    Args:
        workshop: returns the workshop the window shows (None: nothing open).
        recording: returns the recording of that shop (replay or live), for fine-tuning.
        root: warehouse folder (default: the user's).
    """

    migrated = Signal(str)  # id of the new package

    def __init__(self, workshop: Callable[[], Workshop | None], recording: Callable[[], Path | None],
                 root: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._workshop, self._recording = workshop, recording
        try:
            self.warehouse: Warehouse | None = Warehouse(root)
        except PackageError as exc:  # e.g. a read-only data folder: the app keeps running
            self.warehouse, self._error = None, str(exc)
        self.root = self.warehouse.root if self.warehouse is not None else root
        self.worker: Worker | None = None
        lay = QVBoxLayout(self)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("search: text, machining, assembly …")
        self.search.textChanged.connect(self.refresh)
        lay.addWidget(self.search)
        self.packages = QTableWidget(0, len(PACKAGE_COLUMNS), self)
        self.packages.setHorizontalHeaderLabels(PACKAGE_COLUMNS)
        self.packages.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.packages.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.packages.itemSelectionChanged.connect(self._show_selected)
        lay.addWidget(self.packages, 2)
        row = QHBoxLayout()
        row.addWidget(QLabel("GM,BM,LM,PM", self))
        self.requirement = QLineEdit("0.1,0.1,0.3,0.5", self)
        row.addWidget(self.requirement)
        self.recommend_button = QPushButton("Recommend", self)
        self.recommend_button.clicked.connect(self.recommend)
        row.addWidget(self.recommend_button)
        self.migrate_button = QPushButton("Migrate…", self)
        self.migrate_button.clicked.connect(self.migrate)
        row.addWidget(self.migrate_button)
        lay.addLayout(row)
        self.recommendations = QTableWidget(0, len(RECOMMEND_COLUMNS), self)
        self.recommendations.setHorizontalHeaderLabels(RECOMMEND_COLUMNS)
        self.recommendations.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        lay.addWidget(self.recommendations, 2)
        self.progress = QProgressBar(self)
        self.progress.setVisible(False)
        lay.addWidget(self.progress)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.tabs = QTabWidget(self)
        self.details = QTextBrowser(self)
        self.tabs.addTab(self.details, "Package")
        self.preview = LayoutPreview(self)
        self.tabs.addTab(self.preview, "Layout")
        migration = QWidget(self)
        mlay = QVBoxLayout(migration)
        mlay.setContentsMargins(0, 0, 0, 0)
        self.report = QTextBrowser(migration)
        self.report.setPlaceholderText("Migrate… a package to the open workshop: its report and the PM's "
                                       "learning curve appear here.")
        mlay.addWidget(self.report, 1)
        self.curve = LearningCurveChart(migration)
        mlay.addWidget(self.curve, 1)
        self.tabs.addTab(migration, "Migration")
        lay.addWidget(self.tabs, 3)
        if self.warehouse is None:
            self.status.setText(self._error)
            for w in (self.search, self.recommend_button, self.migrate_button):
                w.setEnabled(False)
        self.refresh()

    # -- list ------------------------------------------------------------------------
    def refresh(self) -> None:
        if self.warehouse is None:
            return
        text = self.search.text().strip()
        kind = text if text in ("machining", "assembly") else None
        entries = self.warehouse.search(shop_type=kind, text=None if kind else (text or None))
        self.packages.setRowCount(len(entries))
        for r, e in enumerate(entries):
            for c, v in enumerate((e.id, e.meta.shop_type, str(e.meta.size), e.meta.name)):
                self.packages.setItem(r, c, QTableWidgetItem(v))
        self.packages.resizeColumnsToContents()

    def selected_id(self) -> str | None:
        rows = self.packages.selectionModel().selectedRows()
        if rows:
            item = self.packages.item(rows[0].row(), 0)
            return item.text() if item else None
        item = self.recommendations.item(0, 0)
        return item.text() if item else None

    def _show_selected(self) -> None:
        pid = self.selected_id()
        if pid:
            self.show_details(pid)

    def show_details(self, pid: str) -> None:
        from twin.warehouse import kg
        from twin.warehouse.parts import package_layout

        if self.warehouse is None:
            return
        try:
            pkg = self.warehouse.load(pid)
            summary = kg.summary(kg.parse_turtle(pkg.file("kg/graph.ttl").data, f"{pid}: kg/graph.ttl"))
            layout = package_layout(pkg)
        except ValueError as exc:
            self.details.setPlainText(str(exc))
            self.preview.show_layout(None)
            return
        self.preview.show_layout(layout)
        m = pkg.meta
        rows = "".join(f"<tr><td><b>{p}</b></td><td>{html.escape(', '.join(f'{k}: {v}' for k, v in m.attributes[p].items()))}</td></tr>"
                       for p in PARTS)
        graph = ", ".join(f"{k} {v}" for k, v in summary.items())
        self.details.setHtml(
            f"<h3>{html.escape(m.id)}: {html.escape(m.name)}</h3>"
            f"<p>{m.shop_type}, {m.size} stations, levels {', '.join(m.levels)}; by {html.escape(m.creator)}"
            f" {html.escape(m.position)}; parent {html.escape(str(m.provenance.get('parent') or '—'))}</p>"
            f"<table>{rows}</table><p><b>Knowledge graph</b>: {html.escape(graph)}</p>")

    # -- recommend -------------------------------------------------------------------
    def recommend(self) -> None:
        ws = self._workshop()
        if ws is None:
            self.status.setText("Open a workshop to get a recommendation for it.")
            return
        from twin.warehouse.recommender import parse_requirement

        try:
            weights = parse_requirement(self.requirement.text())
        except ValueError as exc:
            self.status.setText(str(exc))
            return
        root = self.root

        def job(should_abort: Callable[[], bool]) -> Any:
            from twin.warehouse.attributes import Descriptor
            from twin.warehouse.recommender import recommend

            with Warehouse(root) as wh:
                return recommend(wh, weights, Descriptor.of_workshop(ws))

        self._run(job, "recommend", self._show_recommendations, f"recommending for {ws.name} …")

    def _show_recommendations(self, recs: Any) -> None:
        self.recommendations.setRowCount(len(recs))
        for r, rec in enumerate(recs):
            self.recommendations.setItem(r, 0, QTableWidgetItem(rec.id))
            self.recommendations.setItem(r, 1, QTableWidgetItem(f"{rec.probability:.3f}"))
            for c, part in enumerate(PARTS, start=2):
                bar = QProgressBar(self.recommendations)
                bar.setRange(0, 100)
                bar.setValue(round(rec.transfer[part] * 100))
                bar.setFormat(f"{rec.transfer[part]:.2f}")
                self.recommendations.setCellWidget(r, c, bar)
        self.status.setText(f"best: {recs[0].id} ({recs[0].name})" if recs else "the warehouse is empty")

    # -- migrate ---------------------------------------------------------------------
    def migrate(self) -> None:
        ws, rec_path, src = self._workshop(), self._recording(), self.selected_id()
        if ws is None or rec_path is None or src is None:
            self.status.setText("Migrate needs an open workshop with its recording and a package "
                                "(select one, or recommend first).")
            return
        root, new_id = self.root, f"{ws.name}-from-{src}"

        def job(should_abort: Callable[[], bool]) -> Any:
            from twin.recording import open_recording
            from twin.warehouse.migrate import migrate

            yield 0.1, f"reading {src}"
            with Warehouse(root) as wh:
                source = wh.load(src)
                yield 0.3, "migrating GM/BM/LM, fine-tuning the PM"
                with open_recording(rec_path) as rec:
                    pkg, report = migrate(source, ws, rec, new_id=new_id)
                yield 0.9, "writing the package"
                wh.add(pkg, replace=True)
            return report

        self._run(job, "migrate", self._show_report, f"migrating {src} to {ws.name} …")

    def _show_report(self, report: Any) -> None:
        self.refresh()
        self.report.setPlainText(report.to_text())
        self.curve.show_curve(report.learning_curve)
        self.tabs.setCurrentIndex(self.tabs.indexOf(self.report.parentWidget()))
        acc = report.pm_accuracy
        self.status.setText(f"{report.target} is in the warehouse (PM accuracy {acc.get('before_fine_tune')} "
                            f"before, {acc.get('after')} after fine-tuning)")
        self.migrated.emit(report.target)

    # -- worker ----------------------------------------------------------------------
    def _run(self, job: Any, name: str, on_done: Callable[[Any], None], message: str) -> None:
        if self.worker is not None and self.worker.running:
            return
        self.worker = w = Worker(job, name, self)
        self.progress.setVisible(True)
        self.progress.setValue(0)
        self.status.setText(message)
        self.recommend_button.setEnabled(False)
        self.migrate_button.setEnabled(False)
        w.progress.connect(lambda f, m: (self.progress.setValue(round(f * 100)), self.status.setText(m)))
        w.done.connect(on_done)
        w.failed.connect(self.status.setText)
        w.finished.connect(self._idle)
        w.start()

    def _idle(self) -> None:
        self.progress.setVisible(False)
        self.recommend_button.setEnabled(True)
        self.migrate_button.setEnabled(True)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt name
        if self.worker is not None:
            self.worker.abort()
        if self.warehouse is not None:
            self.warehouse.close()
        super().closeEvent(event)
