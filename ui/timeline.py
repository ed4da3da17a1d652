"""The timeline: transport controls, speed, shift clock, live/loop toggles and a scrub bar.

:class:`QtTimeline` writes into the :class:`~twin.timecursor.TimeCursor` (play, pause,
step, seek, speed, loop, follow live) and redraws itself from the cursor's signals, as
napari's ``QtDims`` does for its ``Dims`` model. It never talks to the 3D view or the
charts: they observe the same cursor.

:class:`QtScrubBar` paints the recording's range with hour ticks, breakdown intervals
and annotation marks (from the state store's markers) and a cursor handle; clicking or
dragging seeks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStyle,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from scene.palette import STATION_STATE_HEX
from twin.statestore import Marker, StateStore
from twin.timecursor import SPEED_STEPS, CursorMode, TimeCursor, format_clock
from ui.frameclock import FrameClock

BREAKDOWN = QColor(STATION_STATE_HEX["down"])
ANNOTATION = QColor("#0072B2")
#: Flag colours by annotation kind (Okabe-Ito, as the station states); others: ANNOTATION.
FLAG = {
    "alarm": QColor("#D55E00"),      # a machine fault (MTConnect condition)
    "warning": QColor("#E69F00"),    # a machine warning (MTConnect condition)
    "trigger": QColor("#CC79A7"),    # the accuracy trend asked for an evolution
    "evolution": QColor("#009E73"),  # the performance model was updated (or refused)
    "status": QColor("#8C959F"),     # a live source connected / reconnecting / stopped
}
TA = QColor("#6A737D")  # accuracy evaluations: small ticks, there are many
GAP = QColor("#8C959F")  # a span the live source could not see
TRACK = QColor("#DDE1E6")
PLAYED = QColor("#9DB7D3")
HANDLE = QColor("#1F2328")
LIVE_RED = "#D62828"


def speed_label(speed: float) -> str:
    return f"{speed:g}×"


def _tick_step(span_s: float, width_px: float) -> float:
    """A round tick spacing (seconds) leaving at least ~70 px between labels."""
    for step in (60, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400):
        if span_s / step * 70 <= max(width_px, 1):
            return float(step)
    return 86400.0


class QtScrubBar(QWidget):
    """Range bar with hour ticks, breakdown/annotation markers and a draggable cursor.

    Signals:
        seek_requested(t: float): the user clicked or dragged to ``t`` seconds.
    """

    seek_requested = Signal(float)
    MARGIN = 10

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._t0, self._t1 = 0.0, 0.0
        self._t = 0.0
        self._markers: list[Marker] = []
        self._live = False
        self._dragging = False
        self.setMinimumHeight(50)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Click or drag to move through the shift")

    def sizeHint(self) -> QSize:
        return QSize(600, 50)

    # -- data ------------------------------------------------------------------------
    def set_range(self, t0: float, t1: float) -> None:
        if (t0, t1) != (self._t0, self._t1):
            self._t0, self._t1 = t0, t1
            self.update()

    def set_t(self, t: float) -> None:
        if t != self._t:
            self._t = t
            self.update()

    def set_markers(self, markers: Sequence[Marker]) -> None:
        self._markers = list(markers)
        self.update()

    def set_live(self, live: bool) -> None:
        self._live = live
        self.update()

    # -- geometry --------------------------------------------------------------------
    def _track(self) -> QRectF:
        m = self.MARGIN
        return QRectF(m, 6, max(self.width() - 2 * m, 1), 12)

    def x_of(self, t: float) -> float:
        r = self._track()
        span = self._t1 - self._t0
        f = 0.0 if span <= 0 else (t - self._t0) / span
        return r.left() + min(max(f, 0.0), 1.0) * r.width()

    def t_of(self, x: float) -> float:
        r = self._track()
        f = min(max((x - r.left()) / r.width(), 0.0), 1.0)
        return self._t0 + f * (self._t1 - self._t0)

    # -- painting --------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = self._track()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(TRACK)
        p.drawRoundedRect(r, 4, 4)
        x_now = self.x_of(self._t)
        if self._t1 > self._t0:
            p.setBrush(PLAYED)
            p.drawRoundedRect(QRectF(r.left(), r.top(), x_now - r.left(), r.height()), 4, 4)
        # breakdowns and gaps as bars in a lane under the track, accuracy evaluations as ticks
        # under it, other marks as flags coloured by kind
        lane = QRectF(r.left(), r.bottom() + 2, r.width(), 5)
        for m in self._markers:
            x0 = self.x_of(m.t)
            if m.kind in ("breakdown", "gap"):  # spans: breakdowns vermillion, gaps grey
                x1 = self.x_of(m.t_end if m.t_end is not None else self._t1)
                p.setBrush(BREAKDOWN if m.kind == "breakdown" else GAP)
                p.drawRect(QRectF(x0, lane.top(), max(x1 - x0, 2.0), lane.height()))
            elif m.kind == "ta":  # a tick under the track, not a flag: one per evaluation
                p.setBrush(TA)
                p.drawRect(QRectF(round(x0) - 1, round(lane.bottom()) + 1, 2, 3))
            else:
                p.setBrush(FLAG.get(m.kind, ANNOTATION))
                path = QPainterPath()
                path.moveTo(x0, r.top() - 1)
                path.lineTo(x0 - 4, r.top() - 6)
                path.lineTo(x0 + 4, r.top() - 6)
                path.closeSubpath()
                p.drawPath(path)
        # time ticks with shift-clock labels
        span = self._t1 - self._t0
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF() - 1.0, 7.0))
        p.setFont(font)
        p.setPen(QPen(QColor("#6A737D"), 1))
        if span > 0:
            step = _tick_step(span, r.width())
            k = math.ceil(self._t0 / step)
            while k * step <= self._t1 + 1e-9:
                t = k * step
                x = self.x_of(t)
                p.drawLine(QPointF(x, r.bottom() + 8), QPointF(x, r.bottom() + 12))
                label = format_clock(t)[:5]
                w = p.fontMetrics().horizontalAdvance(label)
                lx = min(max(x - w / 2, 0), self.width() - w)
                p.drawText(QPointF(lx, r.bottom() + 24), label)
                k += 1
        # the cursor handle
        p.setPen(QPen(HANDLE, 2))
        p.drawLine(QPointF(x_now, r.top() - 4), QPointF(x_now, r.bottom() + 4))
        p.setBrush(QColor(LIVE_RED) if self._live and self._t >= self._t1 else HANDLE)
        p.setPen(QPen(QColor("white"), 1.5))
        p.drawEllipse(QPointF(x_now, r.center().y()), 6, 6)
        p.end()

    # -- mouse -----------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton and self._t1 > self._t0:
            self._dragging = True
            self.seek_requested.emit(self.t_of(event.position().x()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        x = event.position().x()
        if self._dragging:
            self.seek_requested.emit(self.t_of(x))
            return
        tip = self._marker_tip(x)
        t = format_clock(self.t_of(x)) if self._t1 > self._t0 else ""
        text = f"{t}  {tip}" if tip else t
        if text:
            QToolTip.showText(event.globalPosition().toPoint(), text, self)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._dragging = False

    def _marker_tip(self, x: float) -> str:
        hits = []
        for m in self._markers:
            x0 = self.x_of(m.t)
            x1 = self.x_of(m.t_end) if m.t_end is not None else x0
            if x0 - 4 <= x <= max(x1, x0) + 4:
                end = f"–{format_clock(m.t_end)}" if m.t_end is not None else ""
                hits.append(f"{m.label} ({format_clock(m.t)}{end})")
        return "; ".join(hits[:3])


class QtTimeline(QWidget):
    """Transport bar bound to a :class:`TimeCursor` and the store's markers."""

    def __init__(self, cursor: TimeCursor, store: StateStore,
                 clock: FrameClock | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cursor = cursor
        self.store = store
        self.clock_source = clock or FrameClock(parent=self)
        self.setObjectName("timeline")
        style = self.style()

        def button(icon: QStyle.StandardPixmap, tip: str) -> QToolButton:
            b = QToolButton(self)
            b.setIcon(style.standardIcon(icon))
            b.setToolTip(tip)
            b.setAutoRaise(True)
            b.setIconSize(QSize(20, 20))
            return b

        self.start_button = button(QStyle.StandardPixmap.SP_MediaSkipBackward,
                                   "Go to the start (Home)")
        self.back_button = button(QStyle.StandardPixmap.SP_MediaSeekBackward,
                                  "Step back (←)")
        self.play_button = button(QStyle.StandardPixmap.SP_MediaPlay, "Play / pause (Space)")
        self.play_button.setIconSize(QSize(26, 26))
        self.forward_button = button(QStyle.StandardPixmap.SP_MediaSeekForward,
                                     "Step forward (→)")
        self.end_button = button(QStyle.StandardPixmap.SP_MediaSkipForward,
                                 "Go to the end (End); in a live session: follow live")
        self.speed_box = QComboBox(self)
        self.speed_box.setToolTip("Playback speed (× real time); "
                                  "while following live, the pace of the simulated shop")
        for s in SPEED_STEPS:
            self.speed_box.addItem(speed_label(s), float(s))
        self.clock = QLabel("00:00:00", self)
        self.clock.setObjectName("shiftClock")
        mono = QFont("DejaVu Sans Mono")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        mono.setPointSizeF(self.font().pointSizeF() + 5)
        mono.setBold(True)
        self.clock.setFont(mono)
        self.clock.setToolTip("Shift clock (time since the start of the shift)")
        self.total = QLabel("/ 00:00:00", self)
        self.total.setToolTip("Length of the shift so far")
        self.live_button = QToolButton(self)
        self.live_button.setText("● LIVE")
        self.live_button.setCheckable(True)
        self.live_button.setToolTip("Follow the live shop (End)")
        self.loop_button = QToolButton(self)
        self.loop_button.setText("⟲ Loop")
        self.loop_button.setCheckable(True)
        self.loop_button.setToolTip("Loop: start again at the end of the recording")
        self.scrub = QtScrubBar(self)

        row = QHBoxLayout()
        row.setContentsMargins(6, 2, 6, 0)
        row.setSpacing(2)
        for w in (self.start_button, self.back_button, self.play_button,
                  self.forward_button, self.end_button):
            row.addWidget(w)
        row.addSpacing(8)
        row.addWidget(QLabel("Speed", self))
        row.addWidget(self.speed_box)
        row.addSpacing(12)
        row.addWidget(self.clock)
        row.addWidget(self.total)
        row.addStretch(1)
        row.addWidget(self.live_button)
        row.addWidget(self.loop_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 2)
        lay.setSpacing(0)
        lay.addLayout(row)
        lay.addWidget(self.scrub)

        # widgets -> cursor
        self.start_button.clicked.connect(cursor.go_start)
        self.back_button.clicked.connect(lambda: cursor.step(-1))
        self.play_button.clicked.connect(cursor.toggle_play)
        self.forward_button.clicked.connect(lambda: cursor.step(1))
        self.end_button.clicked.connect(cursor.go_end)
        self.speed_box.activated.connect(self._on_speed_picked)
        self.live_button.clicked.connect(self._on_live_clicked)
        self.loop_button.toggled.connect(lambda on: setattr(cursor, "loop", on))
        self.scrub.seek_requested.connect(cursor.seek)
        # cursor/store -> widgets (redrawn on the frame clock, when something changed)
        self._t_dirty = True
        self.clock_source.tick.connect(self._refresh_time)
        cursor.t_changed.connect(self._on_t)
        cursor.mode_changed.connect(self._on_mode)
        cursor.speed_changed.connect(self._on_speed)
        cursor.range_changed.connect(self._on_range)
        cursor.loop_changed.connect(lambda on: self.loop_button.setChecked(on))
        cursor.live_changed.connect(self._on_live)
        store.reset.connect(self._on_markers)
        store.appended.connect(self._on_appended)
        self._markers_n = -1
        self._on_mode(cursor.mode)
        self._on_speed(cursor.speed)
        self._on_range(*cursor.range)
        self._on_live(cursor.live)
        self._on_markers()

    # -- widget -> cursor ------------------------------------------------------------
    def _on_speed_picked(self, index: int) -> None:
        self.cursor.speed = float(self.speed_box.itemData(index))

    def _on_live_clicked(self, checked: bool) -> None:
        if checked:
            self.cursor.follow()
        else:
            self.cursor.pause()
        self._on_mode(self.cursor.mode)

    # -- cursor -> widget ------------------------------------------------------------
    def _on_t(self, t: float) -> None:
        self._t_dirty = True

    def _refresh_time(self) -> None:
        if not self._t_dirty:
            return
        self._t_dirty = False
        t = self.cursor.t
        self.clock.setText(format_clock(t))
        self.scrub.set_t(t)

    def _on_mode(self, mode: CursorMode) -> None:
        moving = mode is not CursorMode.PAUSED
        icon = QStyle.StandardPixmap.SP_MediaPause if moving else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))
        following = mode is CursorMode.FOLLOWING
        self.live_button.setChecked(following)
        self.live_button.setStyleSheet(
            f"QToolButton {{ color: {LIVE_RED}; font-weight: bold; }}" if following else
            "QToolButton { color: #6A737D; }")

    def _on_speed(self, speed: float) -> None:
        i = self.speed_box.findData(float(speed))
        if i < 0:
            self.speed_box.addItem(speed_label(speed), float(speed))
            i = self.speed_box.count() - 1
        self.speed_box.setCurrentIndex(i)

    def _on_range(self, t0: float, t1: float) -> None:
        self.scrub.set_range(t0, t1)
        self.total.setText(f"/ {format_clock(t1)}")

    def _on_live(self, live: bool) -> None:
        self.live_button.setVisible(live)
        self.loop_button.setVisible(not live)
        self.scrub.set_live(live)

    def _on_markers(self) -> None:
        markers = self.store.markers()
        self.scrub.set_markers(markers)
        self._markers_n = len(markers)

    def _on_appended(self, t_end: float) -> None:
        markers = self.store.markers()
        if len(markers) != self._markers_n or any(
                m.t_end is None for m in markers):
            self.scrub.set_markers(markers)
            self._markers_n = len(markers)
