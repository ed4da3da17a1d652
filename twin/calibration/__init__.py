"""Calibrate the DT model from history: fit each station's processing time per process,
setup time, MTBF / MTTR, availability and working hours from a recording (``calibrate``)."""

from twin.calibration.fit import (
    MIN_SAMPLES,
    Param,
    StationFit,
    StationHistory,
    calibrate,
    fit_station,
    station_histories,
)

__all__ = ["MIN_SAMPLES", "Param", "StationFit", "StationHistory", "calibrate", "fit_station",
           "station_histories"]
