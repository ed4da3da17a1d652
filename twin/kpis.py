"""Running shop KPIs from the event stream: WIP over time, time in state, throughput.

:class:`ShopKpis` is fed events in time order (a live source appends them as they come,
a recording is read once) and answers the questions the charts and the inspector ask at
any cursor time ``t``:

* how many parts were in process (WIP) over the shift (a step series),
* how long each station spent idle / in setup / processing / blocked / down / off up to
  ``t`` (utilization so far = processing share of the time it was switched on; ``off`` is
  not downtime either: no breakdown marker),
* how many parts were completed, and the throughput per hour binned over the shift,
* when stations broke down (markers for the timeline).

A station that has had no event yet (a machine without logs in a real shop's recording,
one known from the workshop that never reported) has **no data**: :meth:`ShopKpis.has_data`
is False, its utilization is NaN and its row of :meth:`ShopKpis.state_shares` is all
zeros, so the app shows "no data" rather than the 100 % idle the starting assumption
would give.

The figures themselves are computed by :class:`twin.analytics.ShopAnalytics` (the one
place for time in state, breakdowns, operations, throughput); this class is the KPI view
of it (:attr:`ShopKpis.analytics`). Times are seconds since the start of the recording;
throughput is parts per hour. Qt-free and cheap to query.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from twin.analytics import (
    AGV_STATES,
    MIN_THROUGHPUT_BIN_S,
    STATION_STATES,
    Downtime,
    ShopAnalytics,
    nice_bin,
)
from twin.events import Event

__all__ = ["AGV_STATES", "AGV_WORKING", "MIN_THROUGHPUT_BIN_S", "STATION_STATES", "Downtime",
           "ShopKpis", "nice_bin"]

#: AGV states that count as working (utilization): driving and transferring parts.
AGV_WORKING: tuple[str, ...] = ("moving", "loading", "unloading")


class ShopKpis:
    """KPIs of one shift, built incrementally from events in time order.

    Args:
        stations: station ids known from the workshop (they start idle at ``t0``, and
            have no data until their first event); stations first seen in events are
            added as they appear (idle since ``t0``).
        t0: start of the shift, seconds.
    """

    def __init__(self, stations: Sequence[str] = (), t0: float = 0.0) -> None:
        #: The shop analytics behind every figure (operations, arrivals, ... too).
        self.analytics = ShopAnalytics(stations, t0=t0, initial_state="idle")

    @property
    def t0(self) -> float:
        return self.analytics.t0

    @property
    def t_last(self) -> float:
        """Latest event time seen [s]."""
        return self.analytics.t_last

    @property
    def events_seen(self) -> int:
        return self.analytics.events_seen

    # -- feeding ---------------------------------------------------------------------
    def add(self, events: Iterable[Event]) -> None:
        """Account for events (in time order)."""
        self.analytics.add(events)

    def add_columns(self, t: np.ndarray, entity: np.ndarray, kind: np.ndarray,
                    state: np.ndarray, strings: Sequence[str] | np.ndarray,
                    extra: Mapping[str, np.ndarray] | None = None) -> None:
        """Account for events given as columns (times, and codes into ``strings``); see
        :meth:`twin.analytics.ShopAnalytics.add_columns` (``extra``: station, wip,
        process, agv, order code columns)."""
        self.analytics.add_columns(t, entity, kind, state, strings, extra)

    # -- queries ---------------------------------------------------------------------
    @property
    def stations(self) -> list[str]:
        return list(self.analytics.stations)

    def wip_series(self) -> tuple[np.ndarray, np.ndarray]:
        """(times [s], WIP count) of the step series; the count holds until the next time."""
        return self.analytics.wip_series()

    def wip_at(self, t: float) -> int:
        return self.analytics.wip_at(t)

    def time_in_state(self, station: str, t: float) -> dict[str, float]:
        """Seconds ``station`` spent in each state between the start and ``t``."""
        return self.analytics.station_time_in_state(station, t)

    def has_data(self, station: str, t: float = math.inf) -> bool:
        """Whether ``station`` had any event up to ``t`` [s] (see the module notes)."""
        return self.analytics.reported(station, t)

    def state_shares(self, t: float) -> tuple[list[str], np.ndarray]:
        """Stations and a (n_stations, n_states) array of time-in-state shares up to ``t``.

        Rows sum to 1 once ``t`` > start (all zeros at the very start), except those of
        stations without data up to ``t`` (:meth:`has_data`): all zeros.
        """
        ids, shares = self.analytics.station_shares(t)
        for i, sid in enumerate(ids):
            if not self.analytics.reported(sid, t):
                shares[i] = 0.0
        return ids, shares

    @property
    def agvs(self) -> list[str]:
        return list(self.analytics.agvs)

    def agv_time_in_state(self, agv: str, t: float) -> dict[str, float]:
        """Seconds ``agv`` spent in each state between the start and ``t``."""
        return self.analytics.agv_time_in_state(agv, t)

    def agv_utilization(self, agv: str, t: float) -> float:
        """Share of the elapsed shift [start, t] the AGV was working (moving, loading,
        unloading), 0..1."""
        span = t - self.t0
        if span <= 0:
            return 0.0
        tis = self.agv_time_in_state(agv, t)
        return sum(tis[s] for s in AGV_WORKING) / span

    def utilization(self, station: str, t: float) -> float:
        """Processing share of the time the station was switched on in [start, t], 0..1.

        Time ``off`` (switched off, not reporting) is neither working time nor downtime: it
        leaves the denominator, so a machine run one shift a day is not "20 % utilized".
        NaN for a station without data up to ``t`` (:meth:`has_data`)."""
        if not self.analytics.reported(station, t):
            return math.nan
        tis = self.time_in_state(station, t)
        span = t - self.t0 - tis["off"]
        if span <= 0:
            return 0.0
        return tis["processing"] / span

    def completed_at(self, t: float) -> int:
        """Parts (WIP) completed up to and including ``t``."""
        return self.analytics.completed_at(t)

    def throughput_series(self, t_end: float | None = None, bin_s: float | None = None
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Completed parts per hour, binned: (bin start times [s], parts/h); see
        :meth:`twin.analytics.ShopAnalytics.throughput_series`."""
        return self.analytics.throughput_series(t_end, bin_s)

    def downtimes(self) -> list[Downtime]:
        """Breakdowns in order of their start; one still in progress has ``end`` None."""
        return self.analytics.downtimes()
