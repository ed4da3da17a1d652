"""Calibrate the DT model from history: fit each station's processing time per process,
setup time, MTBF / MTTR, availability and working hours from a recording (``calibrate``,
the app's Model › Calibrate from recording…).

The names below load on first use (they need scipy): ``main.py --help`` must stay fast."""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    **dict.fromkeys(("MIN_SAMPLES", "Param", "StationFit", "StationHistory", "calibrate",
                     "fit_station", "station_histories"), "twin.calibration.fit"),
    **dict.fromkeys(("CalibrationError", "CalibrationReport", "ReportRow", "calibrate_recording"),
                    "twin.calibration.report"),
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'twin.calibration' has no attribute {name!r}")
