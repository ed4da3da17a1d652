"""Shop charts (pyqtgraph): WIP over time, throughput, per-station time in state.

:class:`QtShopCharts` observes the :class:`~twin.timecursor.TimeCursor` and the
:class:`~twin.statestore.StateStore`; it never talks to the 3D view. Updates are rate
limited (pyqtgraph ``SignalProxy`` style): the cursor line follows the cursor at up to
25 Hz, the per-station bars at 4 Hz, and a growing live series is re-plotted once a
second. Curves downsample (peak) and clip to the view so a whole shift stays fluid.
Dragging a cursor line or clicking in a time chart seeks the cursor.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from scene.palette import STATION_STATE_HEX
from twin.kpis import STATION_STATES
from twin.statestore import StateStore
from twin.timecursor import TimeCursor, format_clock
from ui.frameclock import FrameClock

#: Stacking order of the time-in-state bars, productive first.
BAR_STATES: tuple[str, ...] = ("processing", "setup", "blocked", "down", "idle", "off")
CURSOR_PEN = pg.mkPen("#1F2328", width=1.5)
WIP_PEN = pg.mkPen("#0072B2", width=1.6)
WIP_FILL = QColor(0, 114, 178, 40)
THROUGHPUT_BRUSH = QColor("#56B4E9")
DATA_REFRESH_S = 1.0


class ShiftTimeAxis(pg.AxisItem):
    """Bottom axis that labels seconds of the shift as ``HH:MM``."""

    def tickStrings(self, values, scale, spacing):  # noqa: N802, ANN001, ANN201 - pyqtgraph API
        return [format_clock(v)[:5] if v >= 0 else "" for v in values]

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803, ANN001, ANN201
        span = max(maxVal - minVal, 1.0)
        for major in (300, 600, 900, 1800, 3600, 7200, 14400):
            if span / major <= max(size / 90.0, 2.0):
                return [(major, 0), (major / 2 if major >= 600 else major / 5, 0)]
        return [(28800, 0), (3600, 0)]


class StationAxis(pg.AxisItem):
    """Left axis naming the station of each bar row."""

    def __init__(self) -> None:
        super().__init__("left")
        self.names: list[str] = []

    def tickStrings(self, values, scale, spacing):  # noqa: N802, ANN001, ANN201
        out = []
        for v in values:
            i = int(round(v))
            out.append(self.names[i] if 0 <= i < len(self.names) and abs(v - i) < 1e-6 else "")
        return out

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803, ANN001, ANN201
        return [(1.0, 0)]


def step_points(t: np.ndarray, v: np.ndarray, t_end: float) -> tuple[np.ndarray, np.ndarray]:
    """A step series (value holds until the next time) as polyline points up to ``t_end``."""
    if len(t) == 0:
        return np.zeros(0), np.zeros(0)
    x = np.repeat(np.append(t, max(t_end, t[-1])), 2)[1:-1]
    y = np.repeat(v, 2)
    return x, y


class QtShopCharts(QWidget):
    """Three synchronized charts of the shift shown by the store, with a cursor line."""

    def __init__(self, cursor: TimeCursor, store: StateStore,
                 clock: FrameClock | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cursor = cursor
        self.store = store
        self.clock = clock or FrameClock(parent=self)
        self.setObjectName("shopCharts")
        self.view = pg.GraphicsLayoutWidget(self)
        self.view.setBackground("w")
        self.view.ci.setSpacing(4)
        legend = "&nbsp;&nbsp; ".join(
            f"<span style='color:{STATION_STATE_HEX[s]}; font-size:12pt'>■</span>&nbsp;{s}"
            for s in BAR_STATES)
        self.legend = QLabel(legend, self)
        self.legend.setWordWrap(True)
        self.legend.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.legend.setStyleSheet("background: white; color: #57606A; padding: 2px;")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.legend)

        # WIP over time
        self.wip_plot = self.view.addPlot(row=0, col=0,
                                          axisItems={"bottom": ShiftTimeAxis("bottom")})
        self.wip_plot.setLabel("left", "parts")
        self.wip_curve = self.wip_plot.plot(pen=WIP_PEN, fillLevel=0, brush=WIP_FILL)
        self.wip_curve.setDownsampling(auto=True, method="peak")
        self.wip_curve.setClipToView(True)
        # throughput
        self.tp_plot = self.view.addPlot(row=1, col=0,
                                         axisItems={"bottom": ShiftTimeAxis("bottom")})
        self.tp_plot.setLabel("left", "parts/h")
        self.tp_bars = pg.BarGraphItem(x=[], height=[], width=1.0, brush=THROUGHPUT_BRUSH,
                                       pen=pg.mkPen("#2B7FB0", width=0.5))
        self.tp_plot.addItem(self.tp_bars)
        # the performance model's prediction (Evolution dock), parts/h over the next hour
        self.pm_curve = self.tp_plot.plot([], [], pen=pg.mkPen("#D55E00", width=2), name="PM")
        self.tp_plot.setXLink(self.wip_plot)
        # time in state per station
        self.station_axis = StationAxis()
        self.util_plot = self.view.addPlot(row=2, col=0, axisItems={"left": self.station_axis})
        self.util_plot.setLabel("bottom", "share of the shift so far", units="%")
        self.util_plot.setXRange(0, 100, padding=0.02)
        self.util_plot.setMouseEnabled(x=False, y=False)
        self.util_plot.hideButtons()
        self.util_plot.invertY(True)
        self.state_bars: dict[str, pg.BarGraphItem] = {}
        for s in BAR_STATES:
            bar = pg.BarGraphItem(x0=[], y=[], width=[], height=0.7,
                                  brush=QColor(STATION_STATE_HEX[s]), pen=pg.mkPen(None))
            self.util_plot.addItem(bar)
            self.state_bars[s] = bar
        self.util_labels: list[pg.TextItem] = []
        self.view.ci.layout.setRowStretchFactor(0, 3)
        self.view.ci.layout.setRowStretchFactor(1, 2)
        self.view.ci.layout.setRowStretchFactor(2, 4)

        for plot in (self.wip_plot, self.tp_plot):
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.setMouseEnabled(x=True, y=False)
            plot.getViewBox().setLimits(yMin=-0.5)
            # x follows the shift (set explicitly: auto-range and clip-to-view do not mix);
            # once the user zooms or pans, the range is theirs until the next recording
            plot.getViewBox().disableAutoRange(axis=pg.ViewBox.XAxis)
            plot.getViewBox().enableAutoRange(axis=pg.ViewBox.YAxis)
            plot.getViewBox().sigRangeChangedManually.connect(self._on_user_range)
        self._user_range = False
        # shown at least to this time / these heights (a forecast drawn beyond the data)
        self._x_end: float | None = None
        self._tops: tuple[float, float] = (0.0, 0.0)
        self.cursor_lines: list[pg.InfiniteLine] = []
        for plot in (self.wip_plot, self.tp_plot):
            line = pg.InfiniteLine(pos=0.0, angle=90, movable=True, pen=CURSOR_PEN,
                                   hoverPen=pg.mkPen("#D55E00", width=2.5))
            line.setZValue(10)
            line.sigDragged.connect(self._on_line_dragged)
            plot.addItem(line, ignoreBounds=True)
            self.cursor_lines.append(line)
        self.cursor_line = self.cursor_lines[0]
        self.view.scene().sigMouseClicked.connect(self._on_scene_clicked)

        self._t_dirty = True
        self._data_dirty = True
        self._bars_dirty = True
        self._last_data = 0.0
        self._last_bars = 0.0
        self.clock.tick.connect(self._refresh)
        cursor.t_changed.connect(self._on_t)
        store.reset.connect(self._on_reset)
        store.appended.connect(self._on_appended)
        self._set_titles(0.0)

    # -- observers (cheap: only mark what is stale) -----------------------------------
    def _on_t(self, t: float) -> None:
        self._t_dirty = True
        self._bars_dirty = True

    def _on_reset(self) -> None:
        self._data_dirty = True
        self._bars_dirty = True
        self._last_data = 0.0
        self._user_range = False
        self.pm_curve.setData([], [])  # a prediction belongs to the history it was made on

    def _on_user_range(self, *_: object) -> None:
        self._user_range = True

    def _on_appended(self, t_end: float) -> None:
        self._data_dirty = True

    # -- user -> cursor --------------------------------------------------------------
    def _on_line_dragged(self, line: pg.InfiniteLine) -> None:
        self.cursor.seek(float(line.value()))

    def _on_scene_clicked(self, event) -> None:  # noqa: ANN001 - pyqtgraph event
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        for plot in (self.wip_plot, self.tp_plot):
            vb = plot.getViewBox()
            if vb.sceneBoundingRect().contains(event.scenePos()):
                self.cursor.seek(float(vb.mapSceneToView(event.scenePos()).x()))
                return

    # -- refresh (rate limited) ------------------------------------------------------
    def _refresh(self) -> None:
        now = time.monotonic()
        if self._data_dirty and now - self._last_data >= DATA_REFRESH_S:
            self._last_data = now
            self._data_dirty = False
            self.refresh_data()
            self._t_dirty = True
        if self._t_dirty:
            self._t_dirty = False
            t = self.cursor.t
            # move the line only when it moves on screen (a repaint costs ~15 ms)
            vb = self.wip_plot.getViewBox()
            (x0, x1), width = vb.viewRange()[0], max(vb.width(), 1.0)
            px = abs(t - self.cursor_line.value()) * width / max(x1 - x0, 1e-9)
            if px >= 0.5 or not (x0 <= t <= x1):
                for line in self.cursor_lines:
                    line.setValue(t)
        if self._bars_dirty and now - self._last_bars >= 0.25:
            self._last_bars = now
            self._bars_dirty = False
            self.refresh_bars()

    def refresh_data(self) -> None:
        """Re-plot the WIP and throughput series from the store's KPIs."""
        k = self.store.kpis
        t0, t1 = self.store.time_range
        x, y = step_points(*k.wip_series(), t1)
        self.wip_curve.setData(x, y)
        starts, rate = k.throughput_series(t_end=max(t1, t0 + 60.0))
        if len(starts) > 1:
            width = float(starts[1] - starts[0])
        else:
            width = max(t1 - t0, 60.0)
        self.tp_bars.setOpts(x=starts + width / 2, height=rate, width=width * 0.85)
        if not self._user_range:
            # a live shift is shown on at least an hour, so the first minutes are not a blur
            end = max(t1, t0 + 3600.0) if self.store.live else max(t1, t0 + 60.0)
            end = max(end, self._x_end or end)
            self.wip_plot.setXRange(t0, end, padding=0.01)
        top = max(float(np.nanmax(y)) if len(y) else 1.0, self._tops[0])
        self.wip_plot.setYRange(0, max(top, 1.0) * 1.08, padding=0)
        tp_top = max(float(np.nanmax(rate)) if len(rate) else 1.0, self._tops[1])
        self.tp_plot.setYRange(0, max(tp_top, 1.0) * 1.08, padding=0)

    def set_extent(self, t: float | None, wip_top: float = 0.0, tp_top: float = 0.0) -> None:
        """Show the time axis at least to ``t`` seconds (None: to the data's end) and the
        WIP / throughput axes at least to these heights (parts, parts/h)."""
        self._x_end = t
        self._tops = (wip_top, tp_top)
        self._data_dirty = True

    def show_prediction(self, t: np.ndarray, parts_per_h: np.ndarray) -> None:
        """Draw the PM's predicted throughput (parts/h) at times ``t`` [s] over the bars."""
        self.pm_curve.setData(np.asarray(t, float), np.asarray(parts_per_h, float))

    def refresh_bars(self) -> None:
        """Per-station time-in-state bars and titles at the cursor time."""
        t = self.cursor.t
        ids, shares = self.store.kpis.state_shares(t)
        if self.station_axis.names != ids:
            self.station_axis.names = list(ids)
            self.station_axis.picture = None
            self.station_axis.update()
            self.util_plot.setYRange(-0.6, max(len(ids), 1) - 0.4, padding=0)
            for lab in self.util_labels:
                self.util_plot.removeItem(lab)
            self.util_labels = []
            for i in range(len(ids)):
                lab = pg.TextItem("", color="#1F2328", anchor=(0, 0.5))
                lab.setPos(1.0, i)
                self.util_plot.addItem(lab)
                self.util_labels.append(lab)
        y = np.arange(len(ids), dtype=float)
        left = np.zeros(len(ids))
        for s in BAR_STATES:
            w = shares[:, STATION_STATES.index(s)] * 100.0 if len(ids) else np.zeros(0)
            self.state_bars[s].setOpts(x0=left.copy(), y=y, width=w, height=0.7)
            left += w
        proc = shares[:, STATION_STATES.index("processing")] * 100.0 if len(ids) else np.zeros(0)
        kpis = self.store.kpis
        for lab, p, sid in zip(self.util_labels, proc, ids, strict=False):
            # a station without events has no bar (not 100 % idle): say so
            lab.setText(f"{p:.0f}%" if kpis.has_data(sid, t) else "no data")
        self._set_titles(t)

    def _set_titles(self, t: float) -> None:
        k = self.store.kpis
        self.wip_plot.setTitle(
            f"<b>Work in process</b>&nbsp;&nbsp;<span style='color:#0072B2'>"
            f"{k.wip_at(t)} parts</span>", size="9pt")
        self.tp_plot.setTitle(
            f"<b>Throughput</b>&nbsp;&nbsp;<span style='color:#2B7FB0'>"
            f"{k.completed_at(t)} parts done</span>", size="9pt")
        self.util_plot.setTitle("<b>Time in state so far</b>", size="9pt")
