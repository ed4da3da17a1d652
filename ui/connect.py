"""File › Connect…: choose a live source (MQTT, OPC UA…), its credentials and certificates.

The dialog only builds a :class:`ConnectionRequest` (URL without password, options, workshop);
the window opens the source. "Test connection" opens the source for a few seconds, shows the
status it reaches in words and closes it again. Recent connections are remembered in the app's
settings *without* passwords; a password is kept only in the system keyring
(:mod:`twin.credentials`) when the user ticks "Remember" and a keyring exists — the dialog
says which applies.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from twin import credentials
from twin.sources import SourceError, SourceState, open_source, redact
from ui.settings import AppSettings

#: Recent connections kept at most.
MAX_RECENT_CONNECTIONS = 8
#: Settings key of the recent connections (a JSON list of dicts, no passwords).
RECENT_KEY = "connect/recent"
#: Fields of a recent connection (never a password).
RECENT_FIELDS = ("url", "profile", "username", "ca_file", "cert_file", "key_file", "workshop")


@dataclass
class ConnectionRequest:
    """What the user chose: ``url`` (no password), source ``options`` (``profile``,
    ``username``, ``password``, ``ca_file``…; empty ones left out) and the ``workshop``
    (bundled name or file) whose layout the feed animates."""

    url: str
    options: dict[str, Any] = field(default_factory=dict)
    workshop: str = "machining13"

    def recent_entry(self) -> dict[str, str]:
        """The remembered form: everything but the password."""
        entry = {"url": self.url, "workshop": self.workshop}
        entry.update({k: str(v) for k, v in self.options.items() if k in RECENT_FIELDS and v})
        return entry


def recent_connections(settings: AppSettings) -> list[dict[str, str]]:
    """The remembered connections, newest first (unreadable entries are skipped)."""
    try:
        items = json.loads(str(settings.qs.value(RECENT_KEY, "[]")))
    except ValueError:
        return []
    return [{k: str(v) for k, v in it.items() if k in RECENT_FIELDS}
            for it in items if isinstance(it, dict) and it.get("url")]


def add_recent_connection(settings: AppSettings, request: ConnectionRequest) -> None:
    """Remember ``request`` (without its password) at the top of the recent list."""
    entry = request.recent_entry()
    items = [it for it in recent_connections(settings) if it.get("url") != entry["url"]]
    settings.qs.setValue(RECENT_KEY, json.dumps([entry, *items][:MAX_RECENT_CONNECTIONS]))


class QtConnectDialog(QDialog):
    """The Connect dialog (see the module docstring).

    Args:
        settings: where recent connections are remembered.
        workshops: workshop names offered (bundled ones); a file can be typed or browsed.
        test_timeout_s: how long "Test connection" waits for ``connected``.
    """

    def __init__(self, settings: AppSettings, parent: QWidget | None = None, *,
                 workshops: list[str] | None = None, test_timeout_s: float = 5.0) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to a live source")
        self.settings = settings
        self.test_timeout_s = test_timeout_s
        self._test_source: Any = None
        self._test_started = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._poll_test)

        self.url = QComboBox(self)
        self.url.setEditable(True)
        self.url.setMinimumWidth(420)
        self.url.lineEdit().setPlaceholderText("mqtt://broker:1883/dmw   or   opc.tcp://host:4840")
        self.profile = QComboBox(self)
        self.profile.addItems(["json", "sparkplug"])
        self.workshop = QComboBox(self)
        self.workshop.setEditable(True)
        self.workshop.addItems(workshops or ["machining13"])
        self.user = QLineEdit(self)
        self.password = QLineEdit(self)
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        store = credentials.store()
        self.remember = QCheckBox("Remember the password in the system keyring", self)
        self.remember.setEnabled(store.persistent)
        self.keyring_note = QLabel(store.description, self)
        self.keyring_note.setWordWrap(True)
        self.ca_file, ca_row = self._file_row("CA certificate (PEM)")
        self.cert_file, cert_row = self._file_row("client certificate (PEM)")
        self.key_file, key_row = self._file_row("client key (PEM)")
        self.test_button = QPushButton("Test connection", self)
        self.test_button.clicked.connect(self.test_connection)
        self.result = QLabel("", self)
        self.result.setWordWrap(True)

        form = QFormLayout()
        form.addRow("URL", self.url)
        form.addRow("Profile (MQTT)", self.profile)
        form.addRow("Workshop", self.workshop)
        form.addRow("User", self.user)
        form.addRow("Password", self.password)
        form.addRow("", self.remember)
        form.addRow("", self.keyring_note)
        form.addRow("CA file", ca_row)
        form.addRow("Client certificate", cert_row)
        form.addRow("Client key", key_row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.connect_button = buttons.addButton("Connect", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.result, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(test_row)
        layout.addWidget(buttons)

        self._recent = recent_connections(settings)
        for it in self._recent:
            self.url.addItem(it["url"])
        self.url.currentIndexChanged.connect(self._fill_from_recent)
        self.url.editTextChanged.connect(self._on_url_edited)
        if self._recent:
            self._fill_from_recent(0)

    # -- building ----------------------------------------------------------------------
    def _file_row(self, what: str) -> tuple[QLineEdit, QWidget]:
        row = QWidget(self)
        edit = QLineEdit(row)
        edit.setPlaceholderText(f"{what}, optional")
        browse = QPushButton("Browse…", row)
        browse.clicked.connect(lambda: self._browse(edit, what))
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(edit, 1)
        lay.addWidget(browse)
        return edit, row

    def _browse(self, edit: QLineEdit, what: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Choose the {what}", edit.text() or "",
                                              "PEM files (*.pem *.crt *.key);;All files (*)")
        if path:
            edit.setText(path)

    def _fill_from_recent(self, index: int) -> None:
        if not 0 <= index < len(self._recent):
            return
        it = self._recent[index]
        self.url.setEditText(it["url"])
        self.profile.setCurrentText(it.get("profile", "json"))
        self.workshop.setEditText(it.get("workshop", "machining13"))
        self.user.setText(it.get("username", ""))
        self.ca_file.setText(it.get("ca_file", ""))
        self.cert_file.setText(it.get("cert_file", ""))
        self.key_file.setText(it.get("key_file", ""))
        stored = credentials.get_password(it["url"], it["username"]) if it.get("username") else None
        self.password.setText(stored or "")
        self.remember.setChecked(stored is not None)

    def _on_url_edited(self, text: str) -> None:
        self.profile.setEnabled(urlsplit(text.strip()).scheme.lower() in ("mqtt", "mqtts"))
        self.result.setText("")

    # -- what the user chose -------------------------------------------------------------
    def request(self) -> ConnectionRequest:
        """The connection as filled in (a password typed into the URL is moved out of it)."""
        raw = self.url.currentText().strip()
        parts = urlsplit(raw)
        options: dict[str, Any] = {}
        if parts.scheme.lower() in ("mqtt", "mqtts"):
            options["profile"] = self.profile.currentText()
        user = self.user.text().strip() or (parts.username or "")
        password = self.password.text() or (parts.password or "")
        for key, value in (("username", user), ("password", password),
                           ("ca_file", self.ca_file.text().strip()),
                           ("cert_file", self.cert_file.text().strip()),
                           ("key_file", self.key_file.text().strip())):
            if value:
                options[key] = value
        return ConnectionRequest(redact(raw), options,
                                 self.workshop.currentText().strip() or "machining13")

    def _open(self, req: ConnectionRequest) -> Any:
        return open_source(req.url, **req.options)

    # -- test connection -----------------------------------------------------------------
    def test_connection(self) -> None:
        """Open the source, wait (without blocking the window) for it to connect or fail."""
        self._stop_test()
        req = self.request()
        try:
            self._test_source = self._open(req)
            self._test_source.start()
        except (SourceError, ValueError, OSError, ImportError) as exc:
            self._test_source = None
            self._show(False, str(exc))
            return
        self._test_started = time.monotonic()
        self.result.setText("testing…")
        self.test_button.setEnabled(False)
        self._timer.start()

    def _poll_test(self) -> None:
        src = self._test_source
        if src is None:
            self._timer.stop()
            return
        src.drain()
        st = src.status
        if st.state == SourceState.CONNECTED:
            self._show(True, st.message)
        elif st.state == SourceState.FAILED:
            self._show(False, st.message)
        elif time.monotonic() - self._test_started > self.test_timeout_s:
            self._show(False, f"no connection within {self.test_timeout_s:g} s"
                              + (f": {st.message}" if st.message else ""))
        else:
            return
        self._stop_test()

    def _show(self, ok: bool, message: str) -> None:
        self.result.setText(("✓ " if ok else "✗ ") + message)
        self.result.setStyleSheet("color: #1a7f37;" if ok else "color: #b42318;")

    def _stop_test(self) -> None:
        self._timer.stop()
        src, self._test_source = self._test_source, None
        self.test_button.setEnabled(True)
        if src is not None:
            src.stop()

    # -- closing -------------------------------------------------------------------------
    def accept(self) -> None:
        """Check the URL, remember the connection (and the password if asked), close."""
        req = self.request()
        if not req.url:
            self._show(False, "give the source's URL")
            return
        try:
            self._open(req)  # parses the URL and options; a source does not connect until start()
        except (SourceError, ValueError, OSError, ImportError) as exc:
            self._show(False, str(exc))
            return
        self._stop_test()
        add_recent_connection(self.settings, req)
        user, password = req.options.get("username"), req.options.get("password")
        if user and password and self.remember.isChecked():
            credentials.set_password(req.url, user, password)
        elif user and not self.remember.isChecked():
            credentials.delete_password(req.url, user)
        self.accepted_request = req
        super().accept()

    def reject(self) -> None:
        self._stop_test()
        super().reject()

    def done(self, result: int) -> None:
        self._stop_test()
        super().done(result)


def bundled_workshops(folder: Path | None = None) -> list[str]:
    """Names of the bundled workshops (``machining13`` first)."""
    from twin.sources.sim import BUNDLED_WORKSHOPS

    names = sorted(p.stem for p in (folder or BUNDLED_WORKSHOPS).glob("*.toml"))
    return sorted(names, key=lambda n: n != "machining13")


def open_connect_dialog(window: Any) -> QtConnectDialog:
    """Show the dialog over ``window`` (a MainWindow); on Connect, start the live source
    through the window's ``start_live`` (the session records it and the view follows)."""
    from twin.sources.sim import resolve_workshop

    d = QtConnectDialog(window.settings, window, workshops=bundled_workshops())
    d.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def connect() -> None:
        req = d.accepted_request
        try:
            workshop = resolve_workshop(req.workshop)
        except SourceError as exc:
            window.show_error("Cannot start the live session", str(exc))
            return
        window.start_live(req.url, workshop_path=workshop, options=req.options)

    d.accepted.connect(connect)
    window.connect_dialog = d
    d.open()
    return d
