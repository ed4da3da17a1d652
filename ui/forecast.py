"""Forecast dock: where will the shop be at the end of the shift, from the cursor on?

The panel runs :func:`twin.forecast.forecast` in a :class:`~ui.workers.Worker` (progress per
replication, Abort between replications) on the recording the window shows (a replay, or
the recording a live session is writing) from the cursor time to the end of the shift.
The result is drawn as a band beyond the cursor on the WIP and throughput charts (P10-P90
filled, P50 dashed; :class:`ForecastBands`) and listed in an order table: predicted
completion (P50, P10-P90), chance of being late, late orders in red. A live session can
refresh the forecast every N minutes of shop time (the "refresh" box; 0 = off). The panel keeps no
domain state of its own beyond the last :class:`~twin.forecast.Forecast` it shows; a new
source clears it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from twin.statestore import StateStore
from twin.timecursor import TimeCursor
from twin.workshop import Workshop
from ui.job_controls import JobControls, JobDock
from ui.workers import Worker

LATE = QColor("#CF222E")
LATE_BACKGROUND = QColor(207, 34, 46, 40)
BAND_BRUSH = QColor(230, 159, 0, 70)
BAND_PEN = pg.mkPen(QColor(230, 159, 0), width=2, style=Qt.PenStyle.DashLine)
#: Columns of the order table.
ORDER_COLUMNS = ("order", "product", "qty", "due", "P50 done", "P10–P90", "late")


def hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "—"
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


class ForecastBands:
    """The forecast drawn on the shop charts: P10-P90 band and P50 line beyond the cursor
    on the WIP plot (parts in the shop) and the throughput plot (parts/h)."""

    def __init__(self, charts: Any) -> None:
        self.charts = charts
        self.items: dict[str, list[Any]] = {}
        for name, plot in (("wip", charts.wip_plot), ("throughput", charts.tp_plot)):
            lo = pg.PlotDataItem([], [], pen=pg.mkPen(None))
            hi = pg.PlotDataItem([], [], pen=pg.mkPen(None))
            fill = pg.FillBetweenItem(lo, hi, brush=BAND_BRUSH)
            mid = pg.PlotDataItem([], [], pen=BAND_PEN)
            for it in (fill, mid):
                it.setZValue(5)
                plot.addItem(it)
            self.items[name] = [lo, hi, fill, mid]

    def show(self, fc: Any) -> None:
        self._set("wip", np.array(fc.times, dtype=float), fc.wip)
        t = np.array(fc.throughput_times, dtype=float)
        if len(t) > 1:  # rates per 15-min interval, drawn as steps
            tt = np.repeat(t, 2)[1:-1]
            self._set("throughput", tt, [b for b in fc.throughput for _ in (0, 1)])
        self.charts.set_extent(fc.until_s, max((b.p90 for b in fc.wip), default=0.0),
                               max((b.p90 for b in fc.throughput), default=0.0))

    def clear(self) -> None:
        for lo, hi, _fill, mid in self.items.values():
            for it in (lo, hi, mid):
                it.setData([], [])
        self.charts.set_extent(None)

    def visible(self, name: str) -> bool:
        x = self.items[name][3].xData
        return x is not None and len(x) > 0

    def _set(self, name: str, t: np.ndarray, bands: list[Any]) -> None:
        lo, hi, _fill, mid = self.items[name]
        lo.setData(t, [b.p10 for b in bands])
        hi.setData(t, [b.p90 for b in bands])
        mid.setData(t, [b.p50 for b in bands])


class QtForecastPanel(JobDock, QWidget):
    """Run a forecast from the cursor and show it (table here, bands on the charts).

    Signals: finished(forecast) when a forecast is shown; failed(message).
    """

    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, cursor: TimeCursor, store: StateStore, charts: Any,
                 recording_path: Callable[[], Path | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("forecastPanel")
        self.cursor = cursor
        self.store = store
        self.recording_path = recording_path
        self.workshop: Workshop | None = None
        self.forecast: Any = None
        self.error = ""
        self.bands = ForecastBands(charts)

        self.runs_box = QSpinBox(self)
        self.runs_box.setRange(1, 500)
        self.runs_box.setValue(30)
        self.runs_box.setSuffix(" runs")
        self.refresh_box = QSpinBox(self)
        self.refresh_box.setRange(0, 480)
        self.refresh_box.setValue(0)
        self.refresh_box.setPrefix("live: every ")
        self.refresh_box.setSuffix(" min")
        self.refresh_box.setSpecialValueText("live: no refresh")
        self.refresh_box.setToolTip("Refresh the forecast every N minutes of shop time "
                                    "while a live session runs")
        self._last_at: float | None = None
        self.job = JobControls("Forecast", self.run, self)
        self.run_button, self.abort_button, self.progress = (
            self.job.run_button, self.job.abort_button, self.job.progress)
        self.run_button.setToolTip("Forecast the rest of the shift from the cursor")
        self.summary = QLabel("Forecast the rest of the shift from the cursor: N runs of the "
                              "DT model from the recorded state.", self)
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(ORDER_COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(ORDER_COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.abort_button)
        options = QHBoxLayout()
        options.addWidget(self.runs_box)
        options.addWidget(self.refresh_box, 1)
        self.table.setMinimumWidth(120)  # a narrow dock scrolls the table, not the window
        lay = QVBoxLayout(self)
        lay.addLayout(buttons)
        lay.addLayout(options)
        lay.addWidget(self.progress)
        lay.addWidget(self.summary)
        lay.addWidget(self.table, 1)
        store.reset.connect(self.clear)
        store.appended.connect(self._on_live_data)

    def set_workshop(self, workshop: Workshop) -> None:
        self.workshop = workshop
        self.clear()

    # -- running ---------------------------------------------------------------------
    def run(self, at: float | None = None) -> bool:
        """Start a forecast from the cursor (or ``at`` seconds); False (with a message)
        if not possible."""
        if self.job.running:
            return False
        path = self.recording_path()
        if path is None or self.workshop is None:
            self._fail("Open a recording or start a live session first.")
            return False
        at = float(self.cursor.t if at is None else at)
        self._last_at = at
        runs = int(self.runs_box.value())
        workshop = self.workshop
        live = self.store.live
        hours = self.store.meta.get("hours")
        until = float(hours) * 3600.0 if isinstance(hours, (int, float)) else None

        def job(should_abort: Callable[[], bool]) -> Any:
            from twin.forecast import DEFAULT_SHIFT_S, forecast
            from twin.recording import open_recording

            rec = open_recording(path)
            start = min(at, rec.time_range[1]) if live else at  # what the file holds so far
            end = until if until is not None else max(DEFAULT_SHIFT_S, start + 3600.0)
            # worker processes (spawned: this process has threads) for enough runs; they
            # also keep the replications from competing with drawing for the GIL
            return forecast(rec, start, end, runs=runs, workshop=workshop,
                            progress=lambda d, n: worker.report(d / n, f"{d}/{n} runs"),
                            should_stop=should_abort)

        worker = Worker(job, name="forecast", parent=self)
        worker.progress.connect(self._on_progress)
        worker.done.connect(self._on_done)
        worker.failed.connect(self._fail)
        worker.cancelled.connect(self._on_cancelled)
        self.error = ""
        self.summary.setText(f"forecasting from {hms(at)}…")
        self.job.start(worker)
        return True

    def _on_live_data(self, t_end: float) -> None:
        every = self.refresh_box.value() * 60.0
        if not every or not self.store.live or self.job.running:
            return
        if self._last_at is None or t_end - self._last_at >= every:
            self.run(at=t_end)

    def abort(self) -> None:
        self.job.abort()

    def clear(self) -> None:
        """Forget the shown forecast (a new source, a new workshop)."""
        self.forecast = None
        self._last_at = None
        self.bands.clear()
        self.table.setRowCount(0)

    # -- results ---------------------------------------------------------------------
    def _on_progress(self, _fraction: float, message: str) -> None:
        self.summary.setText(f"forecasting… {message}")

    def _on_done(self, fc: Any) -> None:
        self.show_forecast(fc)
        self.finished.emit(fc)

    def show_forecast(self, fc: Any) -> None:
        self.forecast = fc
        p = fc.parts
        late = fc.late_orders
        text = (f"<b>{p.p50:.0f}</b> parts done at {hms(fc.until_s)} (P10 {p.p10:.0f} – "
                f"P90 {p.p90:.0f}; {fc.completed_at_start} by {hms(fc.at_s)}, naive "
                f"{fc.naive_parts:.0f}); <span style='color:{LATE.name()}'>{len(late)} of "
                f"{len(fc.orders)} orders predicted late</span>; {fc.runs} runs, "
                f"{fc.wall_seconds:.1f} s")
        if fc.unplaced:
            text += f"<br>not placed: {', '.join(str(u) for u in fc.unplaced[:5])}"
        self.summary.setText(text)
        self.table.setRowCount(len(fc.orders))
        for i, o in enumerate(fc.orders):
            c = o.completion
            cells = (o.order, o.product, str(o.quantity), hms(o.due_s),
                     hms(c.p50) if math.isfinite(c.p50) else f"after {hms(fc.until_s)}",
                     f"{hms(c.p10)} – {hms(c.p90)}", f"{o.p_late:.0%}")
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if o.late:
                    item.setForeground(LATE)
                    item.setBackground(LATE_BACKGROUND)
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()
        self.bands.show(fc)

    def _fail(self, message: str) -> None:
        self.error = message
        self.summary.setText(f"<span style='color:{LATE.name()}'>{message}</span>")
        self.failed.emit(message)

    def _on_cancelled(self) -> None:
        self.summary.setText("forecast aborted")
