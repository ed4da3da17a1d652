"""Evolution dock: is the performance model still accurate, when did it drift, did evolving help?

Shows, for the open recording, the PM's test accuracy TA per evaluation batch (the paper's
Fig. 14) with the fitted trend of each trigger and a red marker per trigger, a cursor line
synchronised with the timeline (clicking the chart seeks), a log of the triggers and
updates (a row seeks the timeline to it), and the before/after bars of MAE, RMSE, SMAPE and
R² on the three post-trigger test sets (the paper's Fig. 15). A per-station trigger
(:mod:`twin.evolution.stations`) names its station in the log, and the chart adds that
station's processing-time TA per 15-min batch (green triangles; more stations in pink and
light blue) with, in the same colour, the dashed line through the TA of the operations
that made its CUSUM trigger (a slow station has few TA points: batches with fewer than 2
operations have none).

"Evolve now" runs :func:`twin.evolution.job.evolve_history_job` in a worker on the history
up to the cursor: fit the LSTM PM on its first hours, replay the rest through the trigger
and the AdaBoost update; progress shown, abortable. The dock keeps no domain state of its
own beyond the last report it shows.

While a recorded live session runs, the dock shows the session's own loop instead
(:class:`twin.evolution.watch.LiveEvolution`, which trains in a background thread): each
report the session hands over (:meth:`show_live`) redraws chart, log and bars, the status
line says what the loop is doing, and "Evolve now" waits for the session to end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from twin.timecursor import TimeCursor, format_clock
from ui.job_controls import JobControls, JobDock
from ui.workers import Worker

TA_PEN = pg.mkPen("#0072B2", width=2)
TREND_PEN = pg.mkPen("#E69F00", width=2, style=Qt.PenStyle.DashLine)
TRIGGER_PEN = pg.mkPen("#CF222E", width=2)
CURSOR_PEN = pg.mkPen("#57606A", width=1)
#: A triggered station's processing-time TA (per-station trigger), one colour per station.
STATION_COLOURS = ("#009E73", "#CC79A7", "#56B4E9")
BEFORE = "#999999"
AFTER = "#0072B2"
METRICS = ("MAE", "RMSE", "SMAPE", "R2")


class QtEvolutionPanel(JobDock, QWidget):
    """The Evolution dock (see the module docstring).

    Signals:
        finished(report: object): a HistoryReport of a finished "Evolve now".
    """

    finished = Signal(object)

    def __init__(self, cursor: TimeCursor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("evolutionPanel")
        self.cursor = cursor
        self.recording: Path | None = None
        self.report: Any = None
        #: hours at the start of the history the PM is fitted on; LSTM epochs.
        self.train_h = 4.0
        self.epochs = 60

        self.source_label = QLabel("No recording open", self)
        self.source_label.setWordWrap(True)
        self.job = JobControls("Evolve now", self.run, self,
                               can_run=lambda: self.recording is not None and not self.live)
        self.run_button, self.abort_button, self.progress = (
            self.job.run_button, self.job.abort_button, self.job.progress)
        self.run_button.setToolTip("Fit the PM on the first 4 h, then judge, trigger and evolve it "
                                   "over the history up to the cursor")
        self.run_button.setEnabled(False)
        self.stage = QLabel("", self)
        self.stage.setStyleSheet("color: #57606A;")
        self.stage.setWordWrap(True)  # long messages must not widen the dock (and the window)

        self.ta_plot = pg.PlotWidget(self)
        self.ta_plot.setBackground("w")
        self.ta_plot.setTitle("Test accuracy TA of the production-progress PM", size="9pt")
        self.ta_plot.setLabel("left", "TA")
        self.ta_plot.setLabel("bottom", "shift time", units="h")
        self.ta_plot.showGrid(x=True, y=True, alpha=0.15)
        self.ta_plot.setMinimumHeight(170)
        self.ta_curve = self.ta_plot.plot([], [], pen=TA_PEN, symbol="o", symbolSize=4,
                                          symbolBrush="#0072B2", name="TA")
        self.trend_items: list[pg.PlotDataItem] = []
        self.trigger_lines: list[pg.InfiniteLine] = []
        self.station_curves: list[pg.PlotDataItem] = []
        self.station_pens: dict[str, str] = {}
        self.cursor_line = pg.InfiniteLine(pos=0.0, angle=90, pen=CURSOR_PEN)
        self.ta_plot.addItem(self.cursor_line)
        self.ta_plot.scene().sigMouseClicked.connect(self._on_clicked)

        self.log = QListWidget(self)
        self.log.setMinimumHeight(80)
        self.log.itemActivated.connect(self._on_log_item)
        self.log.itemClicked.connect(self._on_log_item)

        self.bars = pg.GraphicsLayoutWidget(self)
        self.bars.setBackground("w")
        self.bars.setMinimumHeight(150)
        self.bar_plots: dict[str, pg.PlotItem] = {}
        self.bar_items: dict[str, tuple[pg.BarGraphItem, pg.BarGraphItem]] = {}
        for i, name in enumerate(METRICS):
            plot = self.bars.addPlot(row=0, col=i)
            plot.setTitle(name if name != "SMAPE" else "SMAPE %", size="8pt")
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.getAxis("bottom").setTicks([[(1, "1"), (2, "2"), (3, "3")]])
            before = pg.BarGraphItem(x=[], height=[], width=0.35, brush=BEFORE)
            after = pg.BarGraphItem(x=[], height=[], width=0.35, brush=AFTER)
            plot.addItem(before)
            plot.addItem(after)
            self.bar_plots[name] = plot
            self.bar_items[name] = (before, after)
        legend = QLabel(f"<span style='color:{BEFORE}'>■</span> un-evolved&nbsp;&nbsp;"
                        f"<span style='color:{AFTER}'>■</span> evolved — on test sets 1–3 after "
                        "the first trigger", self)
        legend.setAlignment(Qt.AlignmentFlag.AlignCenter)
        legend.setWordWrap(True)

        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.abort_button)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.addWidget(self.source_label)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.stage)
        lay.addWidget(self.ta_plot, 3)
        lay.addWidget(QLabel("Triggers and updates", self))
        lay.addWidget(self.log, 1)
        lay.addWidget(self.bars, 2)
        lay.addWidget(legend)
        cursor.t_changed.connect(self._on_t)

    # -- inputs ------------------------------------------------------------------------
    def set_recording(self, path: str | Path) -> None:
        """The history the dock evolves on (the window's open recording)."""
        self.recording = Path(path)
        self.source_label.setText(f"History: {self.recording.name}")
        self.run_button.setEnabled(not self.live and not self.job.running)

    # -- a live session's loop -----------------------------------------------------------
    live = False

    def set_live(self, live: bool, description: str = "") -> None:
        """A live session started (its loop reports through :meth:`show_live`) or ended."""
        self.live = bool(live)
        if live:
            self.source_label.setText(f"Live: {description}" if description else "Live session")
            self.run_button.setEnabled(False)
        else:
            self.run_button.setEnabled(self.recording is not None and not self.job.running)

    def show_live(self, report: Any) -> None:
        """A report of the live session's evolution loop (same drawing as Evolve now)."""
        stage = self.stage.text()
        self.show_report(report)
        self.stage.setText(stage)  # the loop's status line stays

    def show_live_status(self, text: str) -> None:
        self.stage.setText(text)

    def _on_t(self, t: float) -> None:
        self.cursor_line.setValue(t / 3600.0)

    def _on_clicked(self, event: Any) -> None:
        vb = self.ta_plot.getPlotItem().vb
        if vb.sceneBoundingRect().contains(event.scenePos()):
            self.cursor.seek(max(0.0, float(vb.mapSceneToView(event.scenePos()).x()) * 3600.0))

    def _on_log_item(self, item: QListWidgetItem) -> None:
        t = item.data(Qt.ItemDataRole.UserRole)
        if isinstance(t, float):
            self.cursor.seek(t)

    # -- the job -----------------------------------------------------------------------
    def run(self) -> bool:
        """Start "Evolve now" on the history up to the cursor; False if busy or no history."""
        if self.recording is None or self.live or self.job.running:
            return False
        from twin.evolution.job import evolve_history_job

        path, t_now, train_h, epochs = self.recording, self.cursor.t, self.train_h, self.epochs
        worker = Worker(lambda abort: evolve_history_job(path, abort, t_now=t_now, train_h=train_h,
                                                         epochs=epochs), "evolution", self)
        worker.progress.connect(lambda _fraction, message: self.stage.setText(message))
        worker.done.connect(self.show_report)
        worker.failed.connect(lambda msg: self.stage.setText(f"failed: {msg}"))
        worker.cancelled.connect(lambda: self.stage.setText("evolution aborted"))
        self.job.start(worker)
        return True

    def abort(self) -> None:
        self.job.abort()

    # -- showing a report ----------------------------------------------------------------
    def _draw_stations(self, report: Any) -> None:
        """The processing-time TA of each station a per-station trigger named (up to 3)."""
        st = report.monitor.state
        pm = getattr(report.monitor, "station_pm", None)
        self.station_pens = {}
        if pm is None:
            return
        named = list(dict.fromkeys(e.station for e in st.triggers if e.station))[:len(STATION_COLOURS)]
        t = np.array([p.t for p in st.station_ta]) / 3600.0
        for name, colour in zip(named, STATION_COLOURS):
            j = pm.stations_.index(name)
            ta = np.array([p.ta[j] for p in st.station_ta])
            ok = np.isfinite(ta)
            curve = self.ta_plot.plot(t[ok], ta[ok], pen=pg.mkPen(colour, width=1), symbol="t",
                                      symbolSize=4, symbolBrush=colour, name=f"{name} processing-time TA")
            self.station_pens[name] = colour
            self.station_curves.append(curve)

    def show_report(self, report: Any) -> None:
        """Draw a HistoryReport: TA chart, trends, triggers, log, before/after bars."""
        self.report = report
        st = report.monitor.state
        t = np.array([p.t for p in st.ta]) / 3600.0
        self.ta_curve.setData(t, np.array([p.ta for p in st.ta]))
        for item in self.trend_items + self.trigger_lines + self.station_curves:
            self.ta_plot.removeItem(item)
        self.trend_items, self.trigger_lines, self.station_curves = [], [], []
        self._draw_stations(report)
        self.log.clear()
        updates = {u.t: u for u in st.updates}
        for ev in st.triggers:
            x = np.array([ev.window_start, ev.t]) / 3600.0
            tr = ev.trend
            pen = TREND_PEN
            if ev.station in self.station_pens:  # the trend of that station's TA
                pen = pg.mkPen(self.station_pens[ev.station], width=2, style=Qt.PenStyle.DashLine)
            trend = self.ta_plot.plot(x, tr.intercept + tr.slope_per_h * x, pen=pen)
            line = pg.InfiniteLine(pos=ev.t / 3600.0, angle=90, pen=TRIGGER_PEN)
            self.ta_plot.addItem(line)
            self.trend_items.append(trend)
            self.trigger_lines.append(line)
            self._log(ev.t, f"{format_clock(ev.t)}  {ev.label()}")
            if ev.t in updates:
                self._log(ev.t, f"{format_clock(ev.t)}  {updates[ev.t].label}")
        if not st.ta:  # nothing judged yet: saying it "kept its accuracy" would be a guess
            m = report.monitor
            first = m.t_start + m.batch_s + m.judge_s
            self._log(None, f"no TA point yet: the PM's predictions are judged {m.judge_s / 3600:g} h "
                            f"later in {m.batch_s / 60:g}-min batches, the first at "
                            f"{format_clock(first)} of the shift")
        elif not st.triggers:
            self._log(None, "no trigger: the PM kept its accuracy")
        for name in METRICS:
            before, after = self.bar_items[name]
            b = [m[name] for m in report.metrics.get("un-evolved", [])]
            a = [m[name] for m in report.metrics.get("evolved", [])]
            x = np.arange(1, len(b) + 1, dtype=float)
            before.setOpts(x=x - 0.18, height=[v if v is not None else 0.0 for v in b])
            after.setOpts(x=x + 0.18, height=[v if v is not None else 0.0 for v in a])
        n = len(st.triggers)
        text = (f"{len(st.ta)} TA points, {n} trigger{'s' if n != 1 else ''}, "
                f"{len(st.updates)} update{'s' if len(st.updates) != 1 else ''}")
        if n and not report.metrics.get("evolved"):
            text += " — no outcomes after the first trigger yet: no before/after bars"
        self.stage.setText(text)
        self.finished.emit(report)

    def bar_heights(self, metric: str) -> tuple[list[float], list[float]]:
        """(un-evolved, evolved) bar heights of ``metric`` as drawn."""
        before, after = self.bar_items[metric]
        return (list(map(float, before.opts.get("height", []))), list(map(float, after.opts.get("height", []))))

    def _log(self, t: float | None, text: str) -> None:
        item = QListWidgetItem(text)
        item.setData(Qt.ItemDataRole.UserRole, t)
        self.log.addItem(item)
