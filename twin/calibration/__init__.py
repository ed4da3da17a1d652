"""Calibrate the DT model from history: fit each station's processing time per process,
setup time, MTBF / MTTR, availability and working hours from a recording (``calibrate``)."""

from twin.calibration.episodes import StationEpisodes, station_episodes
from twin.calibration.fit import MIN_SAMPLES, Param, StationFit, calibrate, fit_station

__all__ = ["MIN_SAMPLES", "Param", "StationEpisodes", "StationFit", "calibrate", "fit_station",
           "station_episodes"]
