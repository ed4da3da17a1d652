"""The selected entity, shared by the 3D view, the workshop tree and the inspector.

Whoever the user clicks in (3D or tree) writes here; everyone shows what is here. The
views never call each other, they all observe this one object.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class Selection(QObject):
    """The id of the selected station / AGV / buffer ("" = nothing selected).

    Signals:
        changed(entity_id: str): emitted once per actual change.
    """

    changed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._id = ""

    @property
    def entity(self) -> str:
        return self._id

    def select(self, entity_id: str | None) -> None:
        entity_id = entity_id or ""
        if entity_id != self._id:
            self._id = entity_id
            self.changed.emit(entity_id)

    def clear(self) -> None:
        self.select("")
