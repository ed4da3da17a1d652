"""Help › About: what the app is, and credit for the third-party meshes it bundles."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTextBrowser, QVBoxLayout, QWidget

from twin.licences import libraries

ROOT = Path(__file__).resolve().parent.parent
MESH_SOURCES = ROOT / "assets" / "meshes" / "SOURCES.md"
APP_NAME = "DMW Twin"

ABOUT_TEXT = """\
## DMW Twin

A digital twin of a discrete manufacturing workshop: stations, AGVs, work in process and
orders in 3D, live from the shop floor or replayed from a recording, with verification of
the virtual shop against the physical one.

Built with PySide6 (Qt), PyVista/VTK, pyqtgraph, SimPy, PyTorch and PyTorch Geometric.

### Third-party models
"""


def library_table() -> str:
    """Markdown table of the shipped libraries with version and licence."""
    rows = libraries()
    if not rows:
        return "_The list of bundled libraries is missing from this installation._"
    lines = ["| library | version | licence |", "|---|---|---|"]
    lines += [f"| {r['name']} | {r['version']} | {r['license']} |" for r in rows]
    where = ("Their licence texts are in `LICENSES/third-party/` of the installation."
             if any(r.get("files") for r in rows) else "")
    return "\n".join(lines) + ("\n\n" + where if where else "")


def mesh_credits(path: Path = MESH_SOURCES) -> str:
    """The bundled meshes' sources and licences (Markdown), or a note if the file is missing."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return f"_The list of bundled meshes ({path.name}) is missing from this installation._"
    lines = text.splitlines()
    if lines and lines[0].startswith("#"):
        lines = lines[1:]  # the file's own title; ours is above
    return "\n".join(lines).strip()


class QtAboutDialog(QDialog):
    """About box: the app, its main libraries and the credits for bundled meshes."""

    def __init__(self, version: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_NAME}")
        self.resize(720, 520)
        self.browser = QTextBrowser(self)
        self.browser.setOpenExternalLinks(True)
        self.browser.setMarkdown(ABOUT_TEXT + "\n" + mesh_credits()
                                 + "\n\n### Libraries\n\n" + library_table())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"<b>{APP_NAME}</b> {version}", self))
        lay.addWidget(self.browser, 1)
        lay.addWidget(buttons)
