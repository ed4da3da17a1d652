"""The main window's dialogs: messages, about, shortcuts, file choosers, screenshots.

A mix-in of :class:`~ui.main_window.MainWindow` (it uses the window's ``settings``,
``view``, ``open_recording`` and ``load_scores``), and the welcome page.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QPixmap
from PySide6.QtWidgets import QFileDialog, QLabel, QMessageBox, QPushButton, QVBoxLayout, QWidget

from ui import menus
from ui.about import APP_NAME, QtAboutDialog
from ui.settings import recordings_dir
from ui.view3d_grab import grab_with_3d

if TYPE_CHECKING:
    from ui.main_window import MainWindow

log = logging.getLogger(__name__)

VERSION = "0.1.0"
RECORDING_FILTER = "DMW Twin recordings (*.twinlog);;All files (*)"


class WindowDialogs:
    """Dialogs of the main window (mix-in; see the module docstring)."""

    message_box: QMessageBox | None
    settings: Any
    view: Any

    def _message(self, icon: QMessageBox.Icon, title: str, text: str) -> QMessageBox:
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.message_box = box
        box.open()  # not exec(): the window (and live data) keep running behind it
        return box

    def show_error(self, title: str, text: str) -> QMessageBox:
        log.warning("%s: %s", title, text)
        return self._message(QMessageBox.Icon.Critical, title, text)

    def show_warning(self, title: str, text: str) -> QMessageBox:
        log.warning("%s: %s", title, text)
        return self._message(QMessageBox.Icon.Warning, title, text)

    def show_about(self) -> None:
        QtAboutDialog(VERSION, self).exec()

    def show_shortcuts(self) -> None:
        self._message(QMessageBox.Icon.Information, "Keyboard shortcuts", menus.shortcuts_html())

    def choose_screenshot(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", "dmw-twin.png",
                                              "PNG image (*.png)")
        if path:
            self.save_screenshot(path)

    def grab_window(self) -> QPixmap:
        """The whole window as shown, with the 3D view's current frame painted in."""
        return grab_with_3d(self, self.view)  # type: ignore[arg-type]

    def save_screenshot(self, path: str | Path) -> bool:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        ok = self.grab_window().save(str(path), "PNG")
        if not ok:
            self.show_error("Cannot save screenshot", f"{path}: could not write the image")
        return ok

    def show_recordings_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(recordings_dir())))

    def choose_recording(self) -> None:
        recent = self.settings.recent_files()
        start = str(Path(recent[0]).parent) if recent else str(recordings_dir())
        path, _ = QFileDialog.getOpenFileName(self, "Open recording", start, RECORDING_FILTER)
        if path:
            self.open_recording(path)

    def choose_scores(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load consistency scores", "",
                                              "Verification result (*.json);;All files (*)")
        if path:
            self.load_scores(path)


def build_welcome(window: MainWindow) -> QWidget:
    """The centre of the window until a workshop is shown."""
    w = QWidget(window)
    lay = QVBoxLayout(w)
    lay.addStretch(1)
    title = QLabel(f"<h2>{APP_NAME}</h2><p>Start a live session of the simulated shop, "
                   "or open a recording (File › Open, or drop a .twinlog here).</p>", w)
    title.setAlignment(Qt.AlignmentFlag.AlignCenter)
    lay.addWidget(title)
    live = QPushButton("Start live session (machining13)", w)
    live.clicked.connect(lambda: window.start_live())
    opn = QPushButton("Open recording…", w)
    opn.clicked.connect(window.choose_recording)
    for b in (live, opn):
        b.setMinimumWidth(280)
        lay.addWidget(b, 0, Qt.AlignmentFlag.AlignHCenter)
    lay.addStretch(2)
    return w

