"""File › Open from plant history…: pick a shift on the PostgreSQL history server."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from twin.timecursor import format_clock
from ui.settings import AppSettings

COLUMNS = ("Line", "Shift", "Start (UTC)", "Time range", "Events", "Notes", "State")


class QtHistoryDialog(QDialog):
    """Server URL and password, the catalogue of shifts, and Open.

    The password is kept in memory for this run of the app only (never saved); the server
    URL (without password) is remembered in the settings. ``chosen_url`` is the shift to
    open after ``exec()`` returns Accepted.
    """

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open from plant history")
        self.resize(900, 480)
        self.settings = settings
        self.chosen_url = ""
        self._conninfo = ""
        self.server = QLineEdit(str(settings.qs.value("history/server", "")), self)
        self.server.setPlaceholderText("postgresql://user@host[:port]/database")
        self.password = QLineEdit(self)
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("(kept only while the app runs; empty: PGPASSWORD / ~/.pgpass)")
        self.list_button = QPushButton("List shifts", self)
        self.list_button.clicked.connect(self.refresh)
        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.server, 1)
        row.addWidget(self.list_button)
        form.addRow("Server", row)
        form.addRow("Password", self.password)
        self.message = QLabel("", self)
        self.message.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.doubleClicked.connect(lambda _: self._open())
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open
                                        | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.accepted.connect(self._open)
        self.buttons.rejected.connect(self.reject)
        self.open_button = self.buttons.button(QDialogButtonBox.StandardButton.Open)
        self.open_button.setEnabled(False)
        self.table.itemSelectionChanged.connect(
            lambda: self.open_button.setEnabled(bool(self.table.selectedItems())))
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.message)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.buttons)
        self._urls: list[str] = []

    def refresh(self) -> bool:
        """Connect and list the shifts; a problem is shown in the dialog, never raised."""
        from twin.history.store import HistoryError, connect, list_shifts, parse_history_url, remember_password

        url = self.server.text().strip()
        self.table.setRowCount(0)
        self._urls = []
        if not url:
            self.message.setText("<span style='color:#B42318'>enter the plant-history server: "
                                 "postgresql://user@host[:port]/database</span>")
            return False
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            loc = parse_history_url(url)
            if self.password.text():
                remember_password(loc.conninfo, self.password.text())
            with connect(loc.conninfo, connect_timeout=5) as conn:
                shifts = list_shifts(conn, loc.line or None)
        except HistoryError as exc:
            self.message.setText(f"<span style='color:#B42318'>{exc}</span>")
            return False
        finally:
            QGuiApplication.restoreOverrideCursor()
        self._conninfo = loc.conninfo
        self.settings.qs.setValue("history/server", loc.conninfo)
        for s in shifts:
            r = self.table.rowCount()
            self.table.insertRow(r)
            span = (f"{format_clock(s.t_first or 0.0)} – {format_clock(s.t_last or 0.0)}"
                    if s.event_count else "empty")
            cells = (s.line, s.name, f"{s.start:%Y-%m-%d %H:%M}", span, f"{s.event_count:,}",
                     str(s.annotations), "closed" if s.complete else "recording / cut short")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c in (4, 5):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
            self._urls.append(s.url(loc.conninfo))
        self.table.resizeColumnsToContents()
        self.message.setText(f"{len(shifts)} shift(s) on {loc.conninfo}" if shifts
                             else f"no shifts on {loc.conninfo} yet")
        return True

    def _open(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        self.chosen_url = self._urls[rows[0].row()]
        self.accept()
