"""Calibrate the DT model from history: fit each station's processing time per process,
setup time, MTBF / MTTR, availability and working hours from a recording (``calibrate``,
the app's Model › Calibrate from recording…)."""

from twin.calibration.fit import (
    MIN_SAMPLES,
    Param,
    StationFit,
    StationHistory,
    calibrate,
    fit_station,
    station_histories,
)
from twin.calibration.report import (
    CalibrationError,
    CalibrationReport,
    ReportRow,
    calibrate_recording,
)

__all__ = ["MIN_SAMPLES", "CalibrationError", "CalibrationReport", "Param", "ReportRow",
           "StationFit", "StationHistory", "calibrate", "calibrate_recording", "fit_station",
           "station_histories"]
