"""A calibration of one workshop from one recording, as the ``calibrate`` command and the
app's Model › Calibrate from recording… show it.

:func:`calibrate_recording` reads a recording (a ``.twinlog`` path, a plant-history URL,
or the events themselves), fits every station (:func:`twin.calibration.fit.calibrate`)
and returns a :class:`CalibrationReport`: the fits, their rows in a person's words
(:meth:`CalibrationReport.rows`), the JSON report (:meth:`CalibrationReport.to_dict`) and
the calibrated workshop file (:meth:`CalibrationReport.write_workshop`). Qt-free.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from twin.calibration.fit import MIN_SAMPLES, Param, StationFit, calibrate
from twin.events import Event
from twin.workshop import Workshop, WorkshopError

#: What a parameter's status means for the person reading the report.
RESULT_WORDS: dict[str, str] = {
    "fitted": "changed",  # the calibrated model uses the value from history
    "kept": "kept (too little data)",
    "new": "new process",
}


class CalibrationError(ValueError):
    """A calibration that cannot be made (no station events, a workshop that is not TOML);
    the message names the file."""


@dataclass(frozen=True)
class ReportRow:
    """One line of the report: a station's parameter with the model's value, the value from
    history with its interval, the samples behind it and what the calibrated model does."""

    station: str
    parameter: str  # "processes.<p>", "setup_s", "mtbf_h", "mttr_min"
    label: str  # in shop words: "cycle time mill_bracket", "setup time", "MTBF", "MTTR"
    unit: str
    model: float | None
    history: float | None
    ci: tuple[float, float] | None
    n: int
    basis_s: float
    result: str  # RESULT_WORDS[status]
    status: str  # fitted / kept / new
    note: str


def param_label(name: str) -> str:
    """A parameter's name in shop words."""
    if name.startswith("processes."):
        return f"cycle time {name.split('.', 1)[1]}"
    return {"setup_s": "setup time", "mtbf_h": "MTBF", "mttr_min": "MTTR"}.get(name, name)


@dataclass
class CalibrationReport:
    """The fits of every station of ``workshop`` from ``recording`` over [t_start, t_end] s."""

    fits: list[StationFit]
    recording: str
    workshop: Workshop
    t_start: float
    t_end: float
    confidence: float = 0.95
    min_samples: int = MIN_SAMPLES

    @property
    def hours(self) -> float:
        """Hours of data the calibration rests on."""
        return max(self.t_end - self.t_start, 0.0) / 3600.0

    def fit(self, station: str) -> StationFit:
        return next(f for f in self.fits if f.station == station)

    def rows(self) -> list[ReportRow]:
        """Every station's parameters, stations in order."""
        out = []
        for f in sorted(self.fits, key=lambda f: f.station):
            out += [_row(f.station, p) for p in f.params]
        return out

    def counts(self) -> dict[str, int]:
        """How many parameters were changed, kept and added."""
        out = dict.fromkeys(RESULT_WORDS, 0)
        for f in self.fits:
            for p in f.params:
                out[p.status] = out.get(p.status, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (``calibrate --report`` / ``--json``)."""
        return {
            "recording": self.recording, "workshop": str(self.workshop.path),
            "confidence": self.confidence,
            "stations": {f.station: {
                "params": [p.to_dict() for p in f.params],
                "availability": None if f.availability is None else round(f.availability, 4),
                "working_h_per_day": None if f.working_h_per_day is None
                else round(f.working_h_per_day, 3),
                "on_h": round(f.on_h, 3)} for f in self.fits},
        }

    def header(self, report_path: str | Path | None = None) -> str:
        """The comment the calibrated workshop file starts with."""
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        return (f"Calibrated by `dmw-twin calibrate` on {stamp} from {self.recording}\n"
                f"({self.hours:.1f} h of data; {self.confidence:.0%} intervals and samples per value"
                + (f" in {report_path}" if report_path else "") + ").")

    def write_workshop(self, out: str | Path, report_path: str | Path | None = None) -> Path:
        """Write the calibrated workshop file (the workshop's TOML with the station values
        the calibrated model uses) and check that it loads; returns its path. Raises
        :class:`CalibrationError` / ``OSError`` / :class:`WorkshopError` naming the file."""
        from twin.calibration.toml_out import write_calibrated
        from twin.workshop import load_workshop

        src = Path(self.workshop.path)
        if src.suffix.lower() != ".toml":
            raise CalibrationError(f"{src}: calibration writes TOML workshops only")
        out = Path(out)
        write_calibrated(src, out, self.fits, self.header(report_path))
        try:
            load_workshop(out)
        except WorkshopError as exc:
            raise CalibrationError(f"{out}: the calibrated file does not load ({exc})") from None
        return out


def _row(station: str, p: Param) -> ReportRow:
    return ReportRow(station, p.name, param_label(p.name), p.unit, p.model, p.fitted, p.ci, p.n,
                     p.basis_s, RESULT_WORDS.get(p.status, p.status), p.status, p.note)


def calibrate_recording(source: str | Path | Iterable[Event], workshop: Workshop, *,
                        confidence: float = 0.95, min_samples: int = MIN_SAMPLES,
                        name: str | None = None,
                        progress: Callable[[float, str], None] | None = None) -> CalibrationReport:
    """Calibrate ``workshop`` from a recording (path or plant-history URL) or its events.

    ``name``: how the report names the data (default: the path). Raises
    :class:`CalibrationError` for a recording without station events or bad settings,
    :class:`twin.recording.RecordingError` for a recording that cannot be read.
    """
    if not 0 < confidence < 1:
        raise CalibrationError(f"confidence must be between 0 and 1, got {confidence:g}")
    if min_samples < 2:
        raise CalibrationError(f"fewest samples must be at least 2, got {min_samples}")
    report = progress or (lambda f, m: None)
    if isinstance(source, (str, Path)):
        from twin.recording import open_recording

        report(0.0, f"reading {Path(str(source)).name}")
        with open_recording(source) as rec:
            t0, t1 = rec.time_range
            events = list(rec.events())
        label = name or str(source)
    else:
        events = list(source)
        t0 = min((e.t for e in events), default=0.0)
        t1 = max((e.t for e in events), default=0.0)
        label = name or "events"
    if not any(e.kind == "station" for e in events):
        raise CalibrationError(f"{label}: no station events to calibrate from")
    report(0.5, "fitting every station")
    fits = calibrate(events, workshop, t0, t1, confidence, min_samples)
    report(1.0, "done")
    return CalibrationReport(fits, label, workshop, t0, t1, confidence, min_samples)


def number(x: float | None) -> str:
    """A fitted value as the report prints it ("-" for none, "inf" for never)."""
    if x is None:
        return "-"
    if not math.isfinite(x):
        return "inf"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.3g}"
