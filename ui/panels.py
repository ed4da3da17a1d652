"""Left dock panels: the workshop tree and the inspector of the selected entity.

Both observe the :class:`~twin.timecursor.TimeCursor`, the
:class:`~twin.statestore.StateStore` and the shared :class:`~twin.session.Selection`;
they refresh at most a few times a second while the cursor moves.
"""

from __future__ import annotations

import html

import math
import time

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QHeaderView,
    QLabel,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from scene.palette import AGV_STATE_HEX, NO_DATA_HEX, STATION_STATE_HEX
from twin.events import Event
from twin.statestore import StateStore
from twin.timecursor import TimeCursor, format_clock
from twin.workshop import Workshop
from ui.frameclock import FrameClock
from twin.session import Selection

ID_ROLE = Qt.ItemDataRole.UserRole
PANEL_REFRESH_S = 0.25

STATION_TYPE_NAMES = {
    "lathe": "CNC lathe", "machining_centre": "Machining centre", "drill": "Drilling machine",
    "grinder": "Grinder", "deburring": "Deburring cell", "washer": "Parts washer",
    "inspection": "CMM / inspection", "assembly": "Assembly station", "press": "Press",
    "screwing": "Screwing station", "testing": "Test stand", "packing": "Packing station",
}
BUFFER_KIND_NAMES = {"raw": "Raw-material warehouse", "finished": "Finished-goods store",
                     "buffer": "Buffer"}

_icon_cache: dict[str, QIcon] = {}


def state_colour(kind: str, state: str | None) -> str:
    if state is None:
        return NO_DATA_HEX
    table = AGV_STATE_HEX if kind == "agv" else STATION_STATE_HEX
    return table.get(state, NO_DATA_HEX)


def dot_icon(hex_colour: str, size: int = 12) -> QIcon:
    """A filled round status lamp of ``hex_colour``."""
    icon = _icon_cache.get(hex_colour)
    if icon is None:
        pm = QPixmap(size, size)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setBrush(QColor(hex_colour))
        p.setPen(QColor(0, 0, 0, 90))
        p.drawEllipse(1, 1, size - 2, size - 2)
        p.end()
        icon = _icon_cache[hex_colour] = QIcon(pm)
    return icon


def entity_kind(workshop: Workshop, entity: str) -> str:
    if entity in workshop.stations:
        return "station"
    if entity in workshop.agvs:
        return "agv"
    if entity in workshop.buffers:
        return "buffer"
    return ""


# --------------------------------------------------------------------------------------
class _RefreshOnTick:
    """Panel mix-in: ``refresh()`` on a frame-clock tick when the cursor moved or the store
    changed since the last one, at most every PANEL_REFRESH_S seconds."""

    _dirty = True
    _last = 0.0

    def _follow(self, cursor: TimeCursor, store: StateStore, clock: FrameClock) -> None:
        cursor.t_changed.connect(self._mark)
        store.reset.connect(self._mark)
        store.appended.connect(self._mark)
        clock.tick.connect(self._refresh_if_due)

    def _mark(self, *_: object) -> None:
        self._dirty = True

    def _refresh_if_due(self) -> None:
        now = time.monotonic()
        if self._dirty and now - self._last >= PANEL_REFRESH_S:
            self._last = now
            self._dirty = False
            self.refresh()


# --------------------------------------------------------------------------------------
class QtWorkshopTree(QTreeWidget, _RefreshOnTick):
    """Stations (by type), AGVs and storage of the workshop, with live state lamps."""

    def __init__(self, workshop: Workshop, cursor: TimeCursor, store: StateStore,
                 selection: Selection, clock: FrameClock | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cursor, self.store, self.selection = cursor, store, selection
        self.clock = clock or FrameClock(parent=self)
        self.setObjectName("workshopTree")
        self.setColumnCount(2)
        self.setHeaderLabels(["Entity", "State"])
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setStretchLastSection(False)
        self.setUniformRowHeights(True)
        self.setIconSize(QSize(12, 12))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.items: dict[str, QTreeWidgetItem] = {}
        self.set_workshop(workshop)
        self.itemSelectionChanged.connect(self._on_tree_selection)
        selection.changed.connect(self._on_selection)
        self._follow(cursor, store, self.clock)

    def set_workshop(self, workshop: Workshop) -> None:
        self.workshop = workshop
        self.blockSignals(True)
        self.clear()
        self.items = {}
        bold = QFont(self.font())
        bold.setBold(True)

        def group(title: str) -> QTreeWidgetItem:
            g = QTreeWidgetItem(self, [title])
            g.setFont(0, bold)
            g.setFlags(g.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            g.setExpanded(True)
            return g

        def entity(parent: QTreeWidgetItem, eid: str, name: str, state: str, tip: str) -> None:
            it = QTreeWidgetItem(parent, [f"{eid}  {name}", state])
            it.setData(0, ID_ROLE, eid)
            it.setToolTip(0, tip)
            self.items[eid] = it

        stations = group(f"Stations ({len(workshop.stations)})")
        for s in workshop.stations.values():
            entity(stations, s.id, s.name, "—", f"{STATION_TYPE_NAMES.get(s.type, s.type)}, "
                                                f"processes: {', '.join(s.processes)}")
        if workshop.agvs:
            agvs = group(f"AGVs ({len(workshop.agvs)})")
            for a in workshop.agvs.values():
                entity(agvs, a.id, a.name, "—", f"AGV, {a.speed:g} m/s")
        if workshop.buffers:
            bufs = group(f"Storage ({len(workshop.buffers)})")
            for b in workshop.buffers.values():
                entity(bufs, b.id, b.name, "", BUFFER_KIND_NAMES.get(b.kind, b.kind))
        self.blockSignals(False)
        self._dirty = True

    def refresh(self) -> None:
        """Update every state lamp for the cursor time."""
        snap = self.store.state_at(self.cursor.t)
        for eid, it in self.items.items():
            kind = entity_kind(self.workshop, eid)
            if kind == "buffer":
                continue
            e = snap.entities.get(eid)
            state = e.state if e is not None else None
            text = state or "—"
            if it.text(1) != text:
                it.setText(1, text)
                it.setIcon(1, dot_icon(state_colour(kind, state)))

    def _on_tree_selection(self) -> None:
        items = self.selectedItems()
        self.selection.select(items[0].data(0, ID_ROLE) if items else "")

    def _on_selection(self, entity: str) -> None:
        it = self.items.get(entity)
        self.blockSignals(True)
        self.clearSelection()
        if it is not None:
            it.setSelected(True)
            self.setCurrentItem(it)
            self.scrollToItem(it)
        self.blockSignals(False)


# --------------------------------------------------------------------------------------
class QtShareBar(QWidget):
    """A thin bar showing a share 0..1 (utilization). Painted on the next frame like any
    widget: ``QProgressBar.setValue`` repaints synchronously, which with the 3D view in
    the window means composing the whole window on the spot (tens of ms)."""

    def __init__(self, colour: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._share = 0.0
        self._colour = QColor(colour)
        self.setFixedHeight(8)
        self.setMinimumWidth(60)

    @property
    def share(self) -> float:
        return self._share

    def set_colour(self, colour: str) -> None:
        if QColor(colour) != self._colour:
            self._colour = QColor(colour)
            self.update()

    def set_share(self, share: float) -> None:
        share = min(max(float(share), 0.0), 1.0)
        if abs(share - self._share) * max(self.width(), 1) >= 0.5 or (share == 0) != (
                self._share == 0):
            self._share = share
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = self.rect().adjusted(0, 0, -1, -1)
        p.setPen(QColor("#C9CFD6"))
        p.setBrush(QColor("#EEF0F2"))
        p.drawRoundedRect(r, 3, 3)
        if self._share > 0:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(self._colour)
            p.drawRoundedRect(r.adjusted(1, 1, int(-(r.width() - 2) * (1 - self._share)), -1), 2, 2)
        p.end()


# --------------------------------------------------------------------------------------
class QtInspector(QWidget, _RefreshOnTick):
    """What the selected entity is doing at the cursor time, and what it did before."""

    N_EVENTS = 10

    def __init__(self, workshop: Workshop, cursor: TimeCursor, store: StateStore,
                 selection: Selection, clock: FrameClock | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workshop, self.cursor, self.store, self.selection = workshop, cursor, store, selection
        self.clock = clock or FrameClock(parent=self)
        self.setObjectName("inspector")
        self.title = QLabel("Nothing selected", self)
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() + 2)
        f.setBold(True)
        self.title.setFont(f)
        self.subtitle = QLabel("Click a station or AGV in the 3D view or the tree.", self)
        self.subtitle.setWordWrap(True)
        self.subtitle.setStyleSheet("color: #57606A;")
        self.state = QLabel("", self)
        self.state.setObjectName("stateChip")
        self.fields: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(3)
        for key, label in (("state", "State"), ("since", "Since"), ("wip", "Current WIP"),
                           ("order", "Order"), ("process", "Process"), ("queue", "Queue"),
                           ("where", "Position"), ("util", "Utilization so far")):
            lab = QLabel("—", self)
            lab.setWordWrap(True)
            lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fields[key] = lab
            form.addRow(label, lab)
        self.util_bar = QtShareBar(STATION_STATE_HEX["processing"], self)
        form.addRow("", self.util_bar)
        self.breakdown = QLabel("", self)
        self.breakdown.setStyleSheet("color: #57606A;")
        self.breakdown.setWordWrap(True)
        form.addRow("", self.breakdown)
        self.events = QTableWidget(0, 3, self)
        self.events.setHorizontalHeaderLabels(["Time", "State", "Detail"])
        self.events.verticalHeader().setVisible(False)
        self.events.horizontalHeader().setStretchLastSection(True)
        self.events.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.events.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.events.setShowGrid(False)
        self.events.setAlternatingRowColors(True)
        self.events.verticalHeader().setDefaultSectionSize(20)
        line = QFrame(self)
        line.setFrameShape(QFrame.Shape.HLine)
        line.setStyleSheet("color: #D0D7DE;")
        # everything scrolls when the dock is short, instead of squeezing rows together
        content = QWidget(self)
        lay = QVBoxLayout(content)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.addWidget(self.title)
        lay.addWidget(self.subtitle)
        lay.addLayout(form)
        lay.addWidget(line)
        self.events_title = QLabel("<b>Last events</b>", self)
        lay.addWidget(self.events_title)
        self.events.setMinimumHeight(22 + 20 * 6)
        lay.addWidget(self.events, 1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        selection.changed.connect(self._on_selection)
        self._follow(cursor, store, self.clock)
        self.refresh()

    def set_workshop(self, workshop: Workshop) -> None:
        self.workshop = workshop
        self.refresh()

    def _on_selection(self, entity: str) -> None:
        self.refresh()

    # -- content ---------------------------------------------------------------------
    def refresh(self) -> None:
        """Show the selected entity at the cursor time."""
        self._dirty = False
        eid = self.selection.entity
        kind = entity_kind(self.workshop, eid) if eid else ""
        for lab in self.fields.values():
            lab.setText("—")
        self.breakdown.setText("")
        self.util_bar.set_share(0.0)
        if not kind:
            self.title.setText("Nothing selected")
            self.subtitle.setText("Click a station or AGV in the 3D view or the tree.")
            self._fill_events([], "")
            return
        t = self.cursor.t
        snap = self.store.state_at(t)
        e = snap.entities.get(eid)
        recent = self.store.last_events(eid, t, 200) if kind != "buffer" else []
        if kind == "station":
            s = self.workshop.stations[eid]
            self.title.setText(f"{s.id}  {s.name}")
            mtbf = "never fails" if math.isinf(s.mtbf_h) else f"MTBF {s.mtbf_h:g} h"
            self.subtitle.setText(
                f"{STATION_TYPE_NAMES.get(s.type, s.type)} · {mtbf} · "
                f"processes: " + ", ".join(f"{p} {c / 60:g} min" for p, c in s.processes.items()))
            self._station_fields(eid, e, t)
        elif kind == "agv":
            a = self.workshop.agvs[eid]
            self.title.setText(f"{a.id}  {a.name}")
            self.subtitle.setText(f"AGV · {a.speed:g} m/s · load {a.load_s:g} s / "
                                  f"unload {a.unload_s:g} s · home {a.home}")
            if e is not None and e.x is not None:
                self.fields["where"].setText(f"x {e.x:.1f} m, y {e.y or 0:.1f} m")
            self._agv_fields(eid, t)
        else:
            b = self.workshop.buffers[eid]
            self.title.setText(f"{b.id}  {b.name}")
            cap = "unlimited" if b.capacity == 0 else f"{b.capacity} parts"
            self.subtitle.setText(f"{BUFFER_KIND_NAMES.get(b.kind, b.kind)} · capacity {cap}")
            self.fields["where"].setText(f"x {b.x:.1f} m, y {b.y:.1f} m")
        if e is not None and kind != "buffer":
            colour = state_colour(kind, e.state)
            stale = snap.stale.get(eid)  # its source went silent: the last state known
            self.fields["state"].setText(
                f"<span style='color:{colour}'>●</span> <b>{e.state}</b>"
                + (f" — <i>{html.escape(stale)}</i>" if stale else ""))
            self.fields["since"].setText(self._since(recent, e, t))
            self.fields["wip"].setText(e.wip or "—")
            self.fields["order"].setText(e.order or "—")
            self.fields["process"].setText(e.process or "—")
            if e.queue is not None:
                self.fields["queue"].setText(f"{e.queue:g} parts waiting")
        elif kind != "buffer":
            self.fields["state"].setText("no data yet")
        self._fill_events(changes(recent)[-self.N_EVENTS:], kind)

    def _agv_fields(self, eid: str, t: float) -> None:
        k = self.store.kpis
        u = k.agv_utilization(eid, t)
        self.fields["util"].setText(f"<b>{u * 100:.1f} %</b> working")
        self.util_bar.set_colour(AGV_STATE_HEX["moving"])
        self.util_bar.set_share(u)
        tis = k.agv_time_in_state(eid, t)
        self.breakdown.setText(" · ".join(f"{s} {v / 60:.0f} min" for s, v in tis.items()
                                          if v >= 30))

    def _station_fields(self, eid: str, e: Event | None, t: float) -> None:
        k = self.store.kpis
        if not k.has_data(eid, t):  # never reported: its time in state is not known
            self.fields["util"].setText("<b>no data</b>")
            self.util_bar.set_share(0.0)
            self.breakdown.setText("no events from this station yet")
            return
        u = k.utilization(eid, t)
        tis = k.time_in_state(eid, t)
        on = " of the time switched on" if tis.get("off", 0.0) > 0 else ""
        self.fields["util"].setText(f"<b>{u * 100:.1f} %</b> processing{on}")
        self.util_bar.set_colour(STATION_STATE_HEX["processing"])
        self.util_bar.set_share(u)
        parts = [f"{s} {v / 60:.0f} min" for s, v in tis.items() if v >= 30]
        self.breakdown.setText(" · ".join(parts))

    @staticmethod
    def _since(recent: list[Event], e: Event, t: float) -> str:
        start = e.t
        for ev in reversed(recent):
            if ev.state != e.state:
                break
            start = ev.t
        return f"{format_clock(start)} ({_duration(t - start)})"

    def _fill_events(self, events: list[Event], kind: str) -> None:
        """Write the events into the table's fixed rows (items are created once and then
        updated: replacing table items on every refresh churns wrapper objects)."""
        table = self.events
        if table.rowCount() != self.N_EVENTS:
            table.setRowCount(self.N_EVENTS)
            for row in range(self.N_EVENTS):
                for col in range(3):
                    table.setItem(row, col, QTableWidgetItem(""))
        rows = list(reversed(events))
        for row in range(self.N_EVENTS):
            if row >= len(rows):
                table.setRowHidden(row, True)
                continue
            ev = rows[row]
            table.setRowHidden(row, False)
            detail = ", ".join(x for x in (ev.wip, ev.order, ev.process,
                                           ev.agv if kind != "agv" else "",
                                           ev.station if kind != "station" else "") if x)
            for col, text in enumerate((format_clock(ev.t), ev.state, detail)):
                item = table.item(row, col)
                if item.text() != text:
                    item.setText(text)
                    if col == 1:
                        item.setIcon(dot_icon(state_colour(kind, ev.state)))
        table.resizeColumnToContents(0)
        table.resizeColumnToContents(1)

    @property
    def events_shown(self) -> int:
        """Rows of the last-events table in use."""
        return sum(not self.events.isRowHidden(r) for r in range(self.events.rowCount()))


def changes(events: list[Event]) -> list[Event]:
    """Events that changed something other than the position (an AGV reports where it is
    every second while driving: one row per trip leg is what a person wants to read)."""
    out: list[Event] = []
    key = None
    for e in events:
        k = (e.state, e.wip, e.order, e.station, e.process, e.agv)
        if k != key:
            out.append(e)
            key = k
    return out


def _duration(s: float) -> str:
    s = max(int(s), 0)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s // 60 % 60:02d} min"
