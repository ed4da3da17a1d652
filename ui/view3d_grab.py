"""A window grab with the 3D view's frame painted in (Qt's grab misses OpenGL contents)."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QImage, QPainter, QPixmap
from PySide6.QtWidgets import QWidget


def grab_with_3d(window: QWidget, view: Any) -> QPixmap:
    """``window`` as shown; ``view`` (a QtWorkshopView or None) renders its current frame."""
    if view is not None:
        view.render_frame(force=True)
    pm = window.grab()
    if view is not None and view.isVisible():
        img = view.plotter.screenshot(None, return_img=True)
        if img is not None:
            h, w = img.shape[:2]
            qimg = QImage(img.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888)
            p = QPainter(pm)
            top_left = view.plotter.mapTo(window, view.plotter.rect().topLeft())
            p.drawImage(top_left, qimg.scaled(view.plotter.size()))
            p.end()
    return pm
