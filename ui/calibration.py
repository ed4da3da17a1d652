"""Calibration report (Model › Calibrate from recording…): the DT model fitted from history.

The dialog calibrates the workshop on screen from the data the window shows (the open
recording, or what a live session recorded so far) with
:func:`twin.calibration.calibrate_recording` in a :class:`~ui.workers.Worker`, and shows
the :class:`~twin.calibration.CalibrationReport` per station and parameter: the model's
value, the value from history with its confidence interval, the number of observations,
and what the calibrated model does with it (changed, kept for too little data, a new
process). "Save calibrated model…" writes the calibrated workshop TOML. The dialog keeps
nothing but the last report it shows (the report comes from ``twin``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from twin.calibration.report import number
from twin.session import Session
from ui.job_controls import JobControls, JobDock
from ui.workers import Worker, readable_error

#: Columns of the report table.
COLUMNS = ("Station", "Parameter", "Model", "From history", "Interval", "n", "Result")
#: Row tints by what the calibrated model does with the value.
TINTS = {"fitted": QColor(26, 127, 55, 40), "new": QColor(0, 114, 178, 40),
         "kept": QColor(154, 103, 0, 40)}
FAIL = "#CF222E"


class CalibrationDialog(JobDock, QDialog):
    """Calibrate the workshop on screen from its recording and show the report.

    Signals:
        calibrated(report: object): a calibration finished (the CalibrationReport).
    """

    calibrated = Signal(object)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("calibrationDialog")
        self.setWindowTitle("Calibrate the model from history")
        self.setModal(False)
        self.resize(820, 560)
        self.report: Any = None
        self.error = ""

        self.source_label = QLabel("—", self)
        self.source_label.setWordWrap(True)
        self.confidence_box = QDoubleSpinBox(self)
        self.confidence_box.setRange(50.0, 99.9)
        self.confidence_box.setDecimals(1)
        self.confidence_box.setSingleStep(1.0)
        self.confidence_box.setValue(95.0)
        self.confidence_box.setSuffix(" %")
        self.confidence_box.setToolTip("Confidence level of the intervals")
        self.min_samples_box = QSpinBox(self)
        self.min_samples_box.setRange(2, 1000)
        self.min_samples_box.setValue(5)
        self.min_samples_box.setToolTip(
            "Fewest observations a value from history may rest on; with fewer, the model's "
            "value is kept")
        self.job = JobControls("Calibrate", self.run, self, abortable=False, min_interval=0.2)
        self.run_button, self.progress = self.job.run_button, self.job.progress
        self.save_button = QPushButton("Save calibrated model…", self)
        self.save_button.setToolTip("Write the workshop file with the values the calibrated "
                                    "model uses (TOML; comments and layout kept)")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._save)
        close = QPushButton("Close", self)
        close.clicked.connect(self.close)
        self.stage = QLabel("", self)
        self.stage.setTextFormat(Qt.TextFormat.RichText)
        self.stage.setWordWrap(True)
        self.stage.setStyleSheet("color: #57606A;")
        self.summary = QLabel("Not calibrated yet", self)
        self.summary.setWordWrap(True)
        f = QFont(self.font())
        f.setBold(True)
        self.summary.setFont(f)

        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(20)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)

        form = QFormLayout()
        form.addRow("From", self.source_label)
        settings = QHBoxLayout()
        settings.addWidget(QLabel("Confidence", self))
        settings.addWidget(self.confidence_box)
        settings.addSpacing(16)
        settings.addWidget(QLabel("Fewest observations", self))
        settings.addWidget(self.min_samples_box)
        settings.addStretch(1)
        settings.addWidget(self.run_button)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(close)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(settings)
        lay.addWidget(self.progress)
        lay.addWidget(self.stage)
        lay.addWidget(self.summary)
        lay.addWidget(self.table, 1)
        lay.addLayout(buttons)
        session.store.reset.connect(self._on_new_data)
        session.workshop_changed.connect(lambda _ws: self.update_source())
        self.update_source()

    def _on_new_data(self) -> None:
        """Other data on screen: the report shown belongs to the old one."""
        if not self.job.running:
            self.report = None
            self.table.setRowCount(0)
            self.save_button.setEnabled(False)
            self.summary.setText("Not calibrated yet")
            self.stage.setText("")
        self.update_source()

    # -- inputs ----------------------------------------------------------------------
    def update_source(self) -> None:
        """Say what would be calibrated: the data on screen against its workshop."""
        s = self.session
        ws = s.workshop
        t0, t1 = s.store.time_range
        src = s.store.source or "nothing open"
        name = Path(src).name if "://" not in src else src
        if ws is None:
            self.source_label.setText("nothing open: open a recording first")
        else:
            self.source_label.setText(
                f"{'live session so far' if s.live else 'recording'}: {name} "
                f"({max(t1 - t0, 0.0) / 3600:.1f} h) against workshop {ws.name} "
                f"({Path(ws.path).name})")

    # -- running ---------------------------------------------------------------------
    def run(self) -> bool:
        """Start a calibration in the background; False (with a message) if not possible."""
        if self.job.running:
            return False
        self.update_source()
        workshop = self.session.workshop
        if workshop is None:
            self._show_error("Open a recording or start a live session first.")
            return False
        data = self.session.recorded_data()
        name = self.session.store.source or "the data on screen"
        confidence = self.confidence_box.value() / 100.0
        min_samples = int(self.min_samples_box.value())
        self.error = ""

        def job(should_abort: Any) -> Any:
            from twin.calibration import calibrate_recording

            return calibrate_recording(data, workshop, confidence=confidence,
                                       min_samples=min_samples, name=str(name),
                                       progress=worker.report)

        worker = Worker(job, name="calibrate", parent=self)
        worker.progress.connect(self._on_progress)
        worker.done.connect(self._on_done)
        worker.failed.connect(self._show_error)
        self.stage.setText("starting…")
        self.job.start(worker)
        return True

    def _on_progress(self, _fraction: float, message: str) -> None:
        if message:
            self.stage.setText(message)

    def _on_done(self, report: Any) -> None:
        self.show_report(report)
        self.stage.setText(f"calibrated from {report.hours:.1f} h of data")
        self.calibrated.emit(report)

    def _show_error(self, message: str) -> None:
        self.error = message
        self.stage.setText(f"<span style='color:{FAIL}'>{message}</span>")

    # -- the report ------------------------------------------------------------------
    def show_report(self, report: Any) -> None:
        """Show a CalibrationReport: a summary line and a row per station and parameter."""
        self.report = report
        self.save_button.setEnabled(True)
        c = report.counts()
        self.summary.setText(
            f"{c.get('fitted', 0)} value(s) changed from history, {c.get('new', 0)} new "
            f"process(es), {c.get('kept', 0)} kept (fewer than {report.min_samples} "
            f"observations) — {report.confidence:.0%} intervals, {report.hours:.1f} h of data")
        ws = report.workshop
        by_station: dict[str, list[Any]] = {}
        for r in report.rows():
            by_station.setdefault(r.station, []).append(r)
        rows: list[tuple[list[str], str, str]] = []  # (cells, status, tooltip)
        for f in sorted(report.fits, key=lambda f: f.station):
            station = f.station
            if station in ws.stations:
                station = f"{f.station}  {ws.stations[f.station].name}"
            for r in by_station.get(f.station, []):
                ci = "—" if r.ci is None else f"{number(r.ci[0])} – {number(r.ci[1])}"
                cells = [station, f"{r.label} ({r.unit})", number(r.model),
                         "—" if r.history is None else number(r.history), ci, str(r.n), r.result]
                rows.append((cells, r.status, r.note))
            av = "—" if f.availability is None else f"{f.availability:.1%}"
            hours = "—" if f.working_h_per_day is None else f"{f.working_h_per_day:.1f}"
            rows.append(([station, "availability", "—", av, "—", "—", "report only"], "",
                         "up / switched-on time (the workshop file has no key for it)"))
            rows.append(([station, "switched on (h/day)", "—", hours, "—", "—", "report only"],
                         "", f"{f.on_h:.1f} h switched on in the data"))
        self.table.clearContents()
        self.table.setRowCount(len(rows))
        for i, (cells, status, tip) in enumerate(rows):
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j in (2, 3, 5):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if status in TINTS:
                    item.setBackground(TINTS[status])
                if tip:
                    item.setToolTip(tip)
                self.table.setItem(i, j, item)

    def row_texts(self) -> list[list[str]]:
        """What the table shows, row by row (for a person: the cells' text)."""
        return [[self.table.item(i, j).text() for j in range(self.table.columnCount())]
                for i in range(self.table.rowCount())]

    def _save(self) -> None:
        if self.report is None:
            return
        src = Path(self.report.workshop.path)
        path, _ = QFileDialog.getSaveFileName(self, "Save calibrated model",
                                              str(src.with_name(f"{src.stem}-calibrated.toml")),
                                              "Workshop (*.toml)")
        if path:
            self.save(path)

    def save(self, path: str | Path) -> Path | None:
        """Write the calibrated workshop file; None (and the reason shown) if it cannot."""
        try:
            out = self.report.write_workshop(path)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self._show_error(readable_error(exc))
            return None
        self.stage.setText(f"saved the calibrated model to {out}")
        return out
