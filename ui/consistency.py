"""Consistency dock: does the virtual shop still behave like the physical one, and where not?

The physical data is what the window shows (the open recording, or the live session so
far); the virtual data is the DT model's own run of the same shop (the workshop
simulated without disturbances, same length) or a recording the user picks. The
verification (:func:`twin.verification.verify`, GCN + TCN) runs in a worker with
progress and can be aborted. Results: Δ_SF and Δ_TF against their thresholds with
pass/fail, a sortable per-station table, and the paper's characteristic bar charts
(physical vs virtual with the threshold band) for the selected station.

The panel observes the session's store, selection and verification result; a finished
verification is written into the session (:meth:`twin.session.Session.set_verification`,
which turns the 3D consistency overlay on); a station to look at is reported through
``station_activated`` (the window moves the camera). The result shown is the session's.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from scene.palette import consistency_colour
from twin.session import Session
from twin.workshop import Workshop
from ui.workers import Worker

PASS = "#1A7F37"
FAIL = "#CF222E"
PHYSICAL_BRUSH = QColor("#0072B2")
VIRTUAL_BRUSH = QColor("#E69F00")
BAND_BRUSH = QColor(0, 114, 178, 45)
VIRTUAL_SIMULATED = "simulated"
VIRTUAL_FILE = "file"


class _NumberItem(QTableWidgetItem):
    """A table cell that sorts by its number, not its text."""

    def __init__(self, value: float, text: str) -> None:
        super().__init__(text)
        self.value = value
        self.setData(Qt.ItemDataRole.UserRole, value)
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        v = other.data(Qt.ItemDataRole.UserRole)
        return self.value < v if isinstance(v, (int, float)) else super().__lt__(other)


def virtual_run_job(workshop: Workshop, duration_s: float, seed: int) -> list[Any]:
    """The DT model's own run: the workshop without disturbances, ``duration_s`` long."""
    from twin.simulator import Simulator

    return Simulator(workshop, None, seed=seed).step_until(duration_s)


class QtConsistencyPanel(QWidget):
    """Run a verification and show its result (see the module docstring).

    Signals:
        station_activated(station: str): the user picked a station in the table.
        finished(report: object): the ConsistencyReport of a finished verification.
    """

    station_activated = Signal(str)
    finished = Signal(object)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.store, self.selection = session.store, session.selection
        self.setObjectName("consistencyPanel")
        self.workshop: Workshop | None = None
        self.worker: Worker | None = None
        self.virtual_path: Path | None = None
        self.error = ""
        self._last_progress = 0.0

        self.physical_label = QLabel("—", self)
        self.physical_label.setWordWrap(True)
        self.virtual_box = QComboBox(self)
        self.virtual_box.addItem("DT model: simulated, no disturbances", VIRTUAL_SIMULATED)
        self.virtual_box.addItem("Recording…", VIRTUAL_FILE)
        self.virtual_box.setToolTip("The virtual shop to compare with the physical data")
        self.virtual_box.activated.connect(self._on_virtual_picked)
        self.mode_box = QComboBox(self)
        self.mode_box.addItem("calibrated (thresholds from physical variation)", "calibrated")
        self.mode_box.addItem("paper (0.05 / 0.1, 90 %)", "paper")
        self.window_box = QDoubleSpinBox(self)
        self.window_box.setRange(5.0, 240.0)
        self.window_box.setValue(30.0)
        self.window_box.setSuffix(" min")
        self.window_box.setDecimals(0)
        self.window_box.setToolTip("Length of a graph window of the verification")
        self.run_button = QPushButton("Verify", self)
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run)
        self.abort_button = QPushButton("Abort", self)
        self.abort_button.setEnabled(False)
        self.abort_button.clicked.connect(self.abort)
        self.save_button = QPushButton("Save result…", self)
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._save)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 100)
        self.progress.setTextVisible(True)
        self.progress.setFormat("%p %")
        self.progress.hide()
        self.stage = QLabel("", self)
        self.stage.setStyleSheet("color: #57606A;")

        self.verdict = QLabel("Not verified yet", self)
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() + 2)
        f.setBold(True)
        self.verdict.setFont(f)
        self.spatial_label = QLabel("Δ_SF —", self)
        self.temporal_label = QLabel("Δ_TF —", self)
        for lab in (self.spatial_label, self.temporal_label):
            lab.setTextFormat(Qt.TextFormat.RichText)

        self.table = QTableWidget(0, 4, self)
        self.table.setHorizontalHeaderLabels(["Station", "Score", "Spatial", "Temporal"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.setSortingEnabled(True)
        self.table.itemSelectionChanged.connect(self._on_row)
        self.table.setMinimumHeight(120)

        self.charts = pg.GraphicsLayoutWidget(self)
        self.charts.setBackground("w")
        self.charts.setMinimumHeight(220)
        self.spatial_plot = self.charts.addPlot(row=0, col=0)
        self.temporal_plot = self.charts.addPlot(row=1, col=0)
        for plot, title in ((self.spatial_plot, "Spatial characteristics £ / £* (GCN)"),
                            (self.temporal_plot, "Temporal characteristics λ / λ* (TCN)")):
            plot.setTitle(title, size="9pt")
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.showGrid(y=True, alpha=0.15)
        legend = QLabel(
            f"<span style='color:{PHYSICAL_BRUSH.name()}'>■</span> physical&nbsp;&nbsp;"
            f"<span style='color:{VIRTUAL_BRUSH.name()}'>■</span> virtual&nbsp;&nbsp;"
            "<span style='color:#9DB7D3'>■</span> threshold band around physical", self)
        legend.setAlignment(Qt.AlignmentFlag.AlignCenter)

        form = QFormLayout()
        form.addRow("Physical", self.physical_label)
        form.addRow("Virtual", self.virtual_box)
        form.addRow("Mode", self.mode_box)
        form.addRow("Window", self.window_box)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.abort_button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        summary = QHBoxLayout()
        summary.addWidget(self.spatial_label)
        summary.addSpacing(16)
        summary.addWidget(self.temporal_label)
        summary.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.addLayout(form)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.stage)
        lay.addWidget(self.verdict)
        lay.addLayout(summary)
        lay.addWidget(self.table, 2)
        lay.addWidget(self.charts, 3)
        lay.addWidget(legend)

        self.store.reset.connect(self._on_source)
        self.selection.changed.connect(self._on_selection)
        session.workshop_changed.connect(self.set_workshop)
        session.verification_changed.connect(self._on_verification)
        self._on_source()

    @property
    def report(self) -> Any:
        """The verification result shown: the session's latest (None before the first)."""
        return self.session.verification

    def _on_verification(self, report: Any) -> None:
        if report is not None:
            self.show_report(report)

    # -- inputs ----------------------------------------------------------------------
    def set_workshop(self, workshop: Workshop) -> None:
        self.workshop = workshop
        self._on_source()

    def _on_source(self) -> None:
        src = self.store.source or "nothing open"
        t0, t1 = self.store.time_range
        hours = max(t1 - t0, 0.0) / 3600.0
        kind = "live session so far" if self.store.live else "recording"
        self.physical_label.setText(f"{kind}: {Path(src).name if '://' not in src else src}"
                                    f" ({hours:.1f} h)")

    def _on_virtual_picked(self, index: int) -> None:
        if self.virtual_box.itemData(index) != VIRTUAL_FILE:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Virtual shop recording", "",
                                              "DMW Twin recordings (*.twinlog)")
        if path:
            self.set_virtual_recording(path)
        else:
            self.virtual_box.setCurrentIndex(0)

    def set_virtual_recording(self, path: str | Path | None) -> None:
        """Compare with this recording (None: with the simulated DT model)."""
        self.virtual_path = Path(path) if path else None
        if self.virtual_path is None:
            self.virtual_box.setCurrentIndex(0)
            return
        i = self.virtual_box.findData(VIRTUAL_FILE)
        self.virtual_box.setItemText(i, f"Recording: {self.virtual_path.name}")
        self.virtual_box.setCurrentIndex(i)

    def physical_data(self) -> Any:
        """What verify() gets as the physical run: the recording file, or live events."""
        return self.session.recorded_data()

    # -- running ---------------------------------------------------------------------
    def run(self) -> bool:
        """Start a verification in the background; False (with a message) if not possible."""
        if self.worker is not None and self.worker.running:
            return False
        if self.workshop is None:
            self._show_error("Open a recording or start a live session first.")
            return False
        physical = self.physical_data()
        virtual_path = self.virtual_path if self.virtual_box.currentData() == VIRTUAL_FILE \
            else None
        t0, t1 = self.store.time_range
        workshop = self.workshop
        seed = int(self.store.meta.get("seed", 0) or 0) + 1000
        mode = str(self.mode_box.currentData())
        window = float(self.window_box.value())
        self.error = ""

        def job(should_abort: Any) -> Any:
            from twin.verification import default_model_dir, verify

            worker.report(0.0, "simulating the DT model" if virtual_path is None
                          else f"reading {virtual_path.name}")
            virtual = virtual_path if virtual_path is not None else \
                virtual_run_job(workshop, t1 - min(t0, 0.0), seed)
            # Nets trained on a recording are kept and reused for it (keyed by its content).
            model_dir = default_model_dir() if isinstance(physical, (str, Path)) else None
            return verify(physical, virtual, mode=mode, window_min=window, model_dir=model_dir,
                          progress=lambda stage, f: worker.report(
                              _overall(stage, f), _STAGES.get(stage, stage)),
                          should_abort=should_abort)

        worker = Worker(job, name="verify", parent=self)
        worker.progress.connect(self._on_progress)
        worker.done.connect(self._on_done)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.run_button.setEnabled(False)
        self.abort_button.setEnabled(True)
        self.progress.setValue(0)
        self.progress.show()
        self.stage.setText("starting…")
        worker.start()
        return True

    def abort(self) -> None:
        if self.worker is not None:
            self.worker.abort()
            self.stage.setText("aborting…")

    def _on_progress(self, fraction: float, message: str) -> None:
        value = int(round(fraction * 100))
        now = time.monotonic()
        # QProgressBar repaints at once: a few times a second is plenty
        if value != self.progress.value() and (now - self._last_progress >= 0.2 or value >= 100):
            self._last_progress = now
            self.progress.setValue(value)
        if message:
            self.stage.setText(message)

    def _on_done(self, report: Any) -> None:
        self.session.set_verification(report)  # shows it here and in the 3D overlay
        self.stage.setText(f"verified in {report.seconds:.1f} s"
                           + (" (reused trained nets)" if report.reused_models else ""))
        self.finished.emit(report)

    def _on_failed(self, message: str) -> None:
        self._show_error(message)

    def _on_cancelled(self) -> None:
        self.stage.setText("verification aborted")

    def _on_finished(self) -> None:
        self.run_button.setEnabled(True)
        self.abort_button.setEnabled(False)
        self.progress.hide()

    def _show_error(self, message: str) -> None:
        self.error = message
        self.stage.setText(f"<span style='color:{FAIL}'>{message}</span>")

    # -- results ---------------------------------------------------------------------
    def show_report(self, report: Any) -> None:
        """Show a ConsistencyReport: verdict, Δ values, table, charts."""
        self.save_button.setEnabled(True)
        ok = bool(report.passed)
        self.verdict.setText(
            f"<span style='color:{PASS if ok else FAIL}'>"
            f"{'PASSED' if ok else 'FAILED'}</span>: the virtual shop "
            f"{'behaves like' if ok else 'differs from'} the physical one"
            f" <span style='color:#57606A; font-weight:normal'>({report.mode})</span>")
        for lab, name, res in ((self.spatial_label, "Δ_SF", report.spatial),
                               (self.temporal_label, "Δ_TF", report.temporal)):
            colour = PASS if res.passed else FAIL
            lab.setText(f"<b>{name}</b> = <b style='color:{colour}'>{res.delta:.2f}</b> "
                        f"(needs ≥ {res.overall_threshold:.2f}) "
                        f"<span style='color:{colour}'>{'pass' if res.passed else 'fail'}</span>")
        self.table.setSortingEnabled(False)
        self.table.clearContents()
        stations = sorted(report.per_station)
        self.table.setRowCount(len(stations))
        for row, sid in enumerate(stations):
            name = sid
            if self.workshop is not None and sid in self.workshop.stations:
                name = f"{sid}  {self.workshop.stations[sid].name}"
            id_item = QTableWidgetItem(name)
            id_item.setData(Qt.ItemDataRole.UserRole, sid)
            self.table.setItem(row, 0, id_item)
            for col, value in ((1, report.per_station[sid]),
                               (2, report.spatial.per_station.get(sid, math.nan)),
                               (3, report.temporal.per_station.get(sid, math.nan))):
                item = _NumberItem(float(value), "—" if math.isnan(value) else f"{value:.2f}")
                if col == 1 and not math.isnan(value):
                    r, g, b = consistency_colour(float(value))
                    item.setBackground(QColor(r, g, b, 120))  # a tint: the text stays legible
                self.table.setItem(row, col, item)
        self.table.setSortingEnabled(True)
        self.table.sortItems(1, Qt.SortOrder.AscendingOrder)  # least consistent first
        worst = report.ranking()[0][0] if report.per_station else ""
        self.show_characteristics(self.selection.entity or worst)

    def show_characteristics(self, station: str) -> None:
        """The paper's bar charts of one station: physical vs virtual, threshold band."""
        rep = self.report
        for plot, res in ((self.spatial_plot, getattr(rep, "spatial", None)),
                          (self.temporal_plot, getattr(rep, "temporal", None))):
            plot.clear()
            if res is None or station not in res.physical:
                continue
            phys = np.asarray(res.physical[station], dtype=float)
            virt = np.asarray(res.virtual.get(station, [math.nan] * len(phys)), dtype=float)
            thr = np.asarray(res.per_char_thresholds.get(station, [res.threshold] * len(phys)),
                             dtype=float)
            x = np.arange(len(phys), dtype=float)
            plot.addItem(pg.BarGraphItem(x0=x - 0.42, x1=x + 0.42, y0=phys - thr,
                                         y1=phys + thr, brush=BAND_BRUSH, pen=pg.mkPen(None)))
            plot.addItem(pg.BarGraphItem(x=x - 0.17, height=phys, width=0.32,
                                         brush=PHYSICAL_BRUSH, pen=pg.mkPen(None)))
            plot.addItem(pg.BarGraphItem(x=x + 0.17, height=virt, width=0.32,
                                         brush=VIRTUAL_BRUSH, pen=pg.mkPen(None)))
            names = [n.split(":", 1)[-1] for n in res.names] or [str(i) for i in range(len(x))]
            plot.getAxis("bottom").setTicks([list(zip(x.tolist(), names, strict=False))])
            score = res.per_station.get(station, math.nan)
            kind = "Spatial £ / £* (GCN)" if plot is self.spatial_plot else "Temporal λ / λ* (TCN)"
            plot.setTitle(f"{kind} · {station}: score {score:.2f}", size="9pt")

    def _on_row(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        sid = self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)
        self.show_characteristics(sid)
        self.station_activated.emit(sid)

    def _on_selection(self, entity: str) -> None:
        if self.report is not None and entity in self.report.per_station:
            self.show_characteristics(entity)

    def _save(self) -> None:
        if self.report is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save verification result",
                                              "verification.json", "JSON (*.json)")
        if path:
            self.save(path)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.report.to_json(), indent=2), encoding="utf-8")


_STAGES = {"load": "reading the runs", "gcn": "training the GCN (spatial)",
           "tcn": "training the TCN (temporal)", "score": "scoring"}
_WEIGHTS = {"load": (0.0, 0.1), "gcn": (0.1, 0.5), "tcn": (0.5, 0.9), "score": (0.9, 1.0)}


def _overall(stage: str, fraction: float) -> float:
    lo, hi = _WEIGHTS.get(stage, (0.0, 1.0))
    return lo + (hi - lo) * min(max(fraction, 0.0), 1.0)
