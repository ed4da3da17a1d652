"""The session: what one window shows, as a Qt-free model with evented state.

One :class:`Session` per window (napari's ``ViewerModel``, glue's state classes): the
workshop, where the data comes from (a live :class:`~twin.sources.base.Source` through the
ingest pipeline, or a recording), the :class:`~twin.timecursor.TimeCursor`, the
:class:`~twin.statestore.StateStore`, the 3D overlay mode and its scores, the selected
entity, the latest verification result, and the source's status and ingest counters.
The window and the docks only observe it (psygnal signals) and write into it; none of its
behaviour needs a widget, so it is tested without Qt.

The window calls :meth:`Session.tick` once per frame: a live source is pumped into the
recording and the store, a recording still being written is read on, and the cursor moves.

A recorded live session also watches its performance model
(:class:`~twin.evolution.watch.LiveEvolution`, settings :attr:`Session.evolution_settings`,
None to switch it off): TA points, triggers and updates are computed in a background
thread as the shop runs and written, on this thread, into the recording as ``ta`` /
``trigger`` / ``evolution`` annotations and onto the timeline as markers.

Times are seconds of the shift.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from psygnal import Signal

from twin.evolution.watch import EvolutionSettings, LiveEvolution
from twin.live import recording_name, workshop_meta
from twin.locations import as_location
from twin.recording import RecordingWriter
from twin.sources.base import PacedSource, Source, SourceStatus, redact
from twin.sources.ingest import Ingest, IngestCounters
from twin.sources.ingest_thread import BackgroundIngest
from twin.statestore import PreparedReplay, StateStore
from twin.timecursor import CursorMode, TimeCursor
from twin.workshop import Workshop

#: While following live, the view stays this many seconds of shift behind the newest data,
#: so AGV motion can be interpolated between position reports (1 report/s).
FOLLOW_DELAY_S = 1.0
#: Wall seconds of one frame that validating and recording live events may take at most;
#: a flood beyond it waits for the next frames (the window keeps answering input).
LIVE_PUMP_BUDGET_S = 0.02
#: How often a recording that is still being written is read again, wall seconds.
GROWING_REFRESH_S = 1.0
#: Overlay modes of the 3D view.
OVERLAYS: tuple[str, ...] = ("state", "consistency")


def read_scores(path: str | Path) -> dict[str, float]:
    """Per-station scores from a ``verify --json`` result (or a plain ``{station: score}``
    mapping); raises ``ValueError``/``OSError`` naming what is wrong."""
    import json

    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    scores = doc.get("per_station", doc) if isinstance(doc, dict) else None
    if not isinstance(scores, dict):
        raise ValueError("expected a JSON object with 'per_station' scores")
    return {str(k): float(v) for k, v in scores.items()}


def read_flags(path: str | Path) -> dict[str, str]:
    """Flagged stations of a ``verify --json`` result, worst first, with the sentence that
    explains each (``{}`` for a file without them); raises like :func:`read_scores`."""
    import json

    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    return flags_of(doc) if isinstance(doc, dict) else {}


def flags_of(result: Any) -> dict[str, str]:
    """Station id -> why it is flagged, worst first, from a verification result (a
    ``ConsistencyReport`` or its JSON); AGVs are left out (the overlay labels stations)."""
    if isinstance(result, Mapping):
        flagged = (result.get("flagged") or {}).get("stations") or []
        why = result.get("explanations") or {}
    else:
        flagged = getattr(result, "flagged_stations", None) or []
        why = getattr(result, "explanations", None) or {}
    return {str(s): str(why.get(s, "flagged")) for s in flagged}


class Selection:
    """The id of the selected station / AGV / buffer ("" = nothing selected).

    Whoever the user clicks in (3D, tree, a table) writes here; everyone shows what is here.

    Signals:
        changed(entity_id: str): emitted once per actual change.
    """

    changed = Signal(str)

    def __init__(self) -> None:
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


class Session:
    """What a window shows (see the module docstring).

    Signals:
        workshop_changed(workshop): a different workshop is shown.
        source_changed(description: str): live source started/stopped, recording shown
            (``description`` as in :attr:`description`).
        status_changed(status: SourceStatus): the live source's state changed.
        live_ended(status: SourceStatus): the live source stopped by itself (end of the
            shift) or failed; the session is already a finished, scrubbable shift.
        overlay_changed(mode: str): ``"state"`` or ``"consistency"``.
        scores_changed(scores: dict): per-station consistency scores 0..1.
        verification_changed(result): the latest verification result (or None).
        evolution_changed(report): the live PM's latest evolution report
            (:class:`~twin.evolution.history.HistoryReport`).
        evolution_status(text: str): what the live evolution loop is doing.
        problem(title: str, message: str): something the user should be told (a recording
            that cannot be written or read on); the session keeps running.

    Args:
        clock: wall clock, seconds (injectable for tests).
        follow_delay_s: see :data:`FOLLOW_DELAY_S`.
    """

    workshop_changed = Signal(object)
    source_changed = Signal(str)
    status_changed = Signal(object)
    live_ended = Signal(object)
    overlay_changed = Signal(str)
    scores_changed = Signal(object)
    verification_changed = Signal(object)
    evolution_changed = Signal(object)
    evolution_status = Signal(str)
    problem = Signal(str, str)

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 follow_delay_s: float = FOLLOW_DELAY_S, background_ingest: bool = False) -> None:
        self._clock = clock
        #: validate and record live events in a worker thread (the window), else in :meth:`tick`
        self.background_ingest = background_ingest
        self.follow_delay_s = float(follow_delay_s)
        self.cursor = TimeCursor(clock=clock)
        self.store = StateStore()
        self.selection = Selection()
        self.workshop: Workshop | None = None
        self.source: Source | None = None
        self.ingest: Ingest | BackgroundIngest | None = None
        self.writer: RecordingWriter | None = None
        #: the recording being written by the live source (kept after it stops)
        self.live_path: Path | None = None
        #: the recording shown (a replay, or a finished live session's file)
        self.recording_path: str | Path | None = None
        self.status: SourceStatus | None = None
        self.overlay = "state"
        self.scores: dict[str, float] = {}
        #: station id -> why the verification flags it (worst first), with the scores
        self.flags: dict[str, str] = {}
        self.verification: Any = None
        #: how a recorded live session watches its PM (None: it does not)
        self.evolution_settings: EvolutionSettings | None = EvolutionSettings()
        #: the live session's evolution loop (kept after the source stops, for its report)
        self.evolution: LiveEvolution | None = None
        self._next_refresh = 0.0
        self._write_error_told = False
        self.cursor.speed_changed.connect(self._on_speed)
        self.cursor.mode_changed.connect(self._on_mode)

    # -- what is shown ---------------------------------------------------------------
    def set_workshop(self, workshop: Workshop) -> None:
        """Show ``workshop`` (clears the selection; scores of another shop are dropped)."""
        self.selection.clear()
        if self.workshop is not None and workshop.name != self.workshop.name and self.scores:
            self.set_scores({})
        self.workshop = workshop
        self.workshop_changed.emit(workshop)

    @property
    def live(self) -> bool:
        """A live source is running."""
        return self.source is not None

    @property
    def paced(self) -> bool:
        """The live source has a pace the user can set (the simulated shop, a log replay)."""
        return isinstance(self.source, PacedSource)

    @property
    def counters(self) -> IngestCounters:
        """What the live source delivered and what was rejected (zeros when not live)."""
        return self.ingest.counters if self.ingest is not None else IngestCounters()

    @property
    def description(self) -> str:
        """Where the data comes from, in words: ``live: URL → FILE``, ``replay: FILE``."""
        if self.source is not None:
            target = f" → {self.live_path}" if self.live_path is not None else ""
            return f"live: {redact(self.source.url)}{target}"
        if self.recording_path is not None:
            if self.recording_path == self.live_path:
                return f"recorded live session: {self.recording_path}"
            return f"replay: {self.recording_path}"
        return ""

    # -- live ----------------------------------------------------------------------
    def start_live(self, source: Source, workshop: Workshop, *,
                   record_dir: str | Path | None = None, speed: float | None = None) -> Path | None:
        """Follow ``source`` live, recording it into ``record_dir`` (None: do not record).

        Returns the recording's path. Raises what the recording or the source raise when
        they cannot start (the caller tells the user); the previous session is stopped.
        """
        self.stop_live()
        out = None
        writer = None
        # the workshop drawn, so a replay finds its layout even when the source (MQTT,
        # OPC UA) does not know it; what the source says about itself wins
        meta = {**workshop_meta(workshop), **source.meta()}
        if record_dir is not None:
            folder = Path(record_dir)
            folder.mkdir(parents=True, exist_ok=True)
            out = folder / recording_name(workshop)
            writer = RecordingWriter(out, meta)
        try:
            if speed is not None and isinstance(source, PacedSource):
                source.set_speed(speed)
            self.set_workshop(workshop)
            self.store.start_live(list(workshop.stations), meta=meta, source=redact(source.url))
            if self.background_ingest:
                self.ingest = BackgroundIngest(source, writer, self.store, clock=self._clock,
                                               follow_delay_s=self.follow_delay_s)
            else:
                self.ingest = Ingest(source, writer, self.store, clock=self._clock,
                                     follow_delay_s=self.follow_delay_s)
                self.ingest.budget_s = LIVE_PUMP_BUDGET_S
            source.start()
        except Exception:
            if writer is not None:
                writer.close()
            self.ingest = None
            raise
        self.source, self.writer, self.live_path = source, writer, out
        self.recording_path = None
        self.evolution = None
        if out is not None and self.evolution_settings is not None:
            self.evolution = LiveEvolution(out, list(workshop.stations), self.evolution_settings,
                                           workshop, clock=self._clock)
            self.evolution_status.emit(self.evolution.status)
        self.status = source.status
        self._write_error_told = False
        c = self.cursor
        c.pause()
        c.set_range(0.0, 0.0)
        c.set_live(True)
        if isinstance(source, PacedSource):
            c.speed = source.speed
        c.follow()
        self.source_changed.emit(self.description)
        self.status_changed.emit(self.status)
        if isinstance(self.ingest, BackgroundIngest):
            self.ingest.start()  # after the status above: what it drains comes after
        return out

    def stop_live(self) -> None:
        """Stop the live source; the session stays scrubbable and its recording is kept."""
        self._finish_live(user=True)

    def _finish_live(self, user: bool) -> None:
        source, ingest = self.source, self.ingest
        if source is None or ingest is None:
            return
        self.source = None
        if user:
            ingest.halt()  # the worker first: then nobody drains the source but us
            source.stop()
            self._take(ingest, from_stop=True)
        if self.evolution is not None:
            self.evolution.stop()  # no new job; collect what a finished one found
            self._poll_evolution(ingest)
        writer, self.writer = ingest.writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception as exc:  # noqa: BLE001 - the view stays; say what was lost
                self.problem.emit("The recording could not be closed", str(exc))
        if not user:
            source.stop()
        self.store.end_live()
        self.cursor.set_live(False)
        if self.live_path is not None and self.live_path.exists():
            self.recording_path = self.live_path
        self.source_changed.emit(self.description)

    def pump(self) -> int:
        """Take what the live source delivered (once per frame); returns accepted events."""
        ingest = self.ingest
        if self.source is None or ingest is None:
            return 0
        return self._take(ingest)

    def _take(self, ingest: Ingest | BackgroundIngest, from_stop: bool = False) -> int:
        result = ingest.pump(final=from_stop)  # stopping: what waits is recorded too
        self.cursor.extend_to(self.store.time_range[1])
        for st in result.statuses:
            self.status = st
            self.status_changed.emit(st)
        self._poll_evolution(ingest)
        if ingest.write_error and not self._write_error_told:
            self._write_error_told = True
            self.problem.emit("Recording stopped", f"{ingest.write_error}; the live view goes on")
        if ingest.ended and not from_stop and self.source is not None:
            status = self.status
            self._finish_live(user=False)
            self.live_ended.emit(status)
        return len(result.events)

    def _poll_evolution(self, ingest: Ingest | BackgroundIngest) -> None:
        """Hand the evolution loop the shop's progress; write what it found."""
        evo = self.evolution
        if evo is None:
            return
        writer = ingest.writer
        status = evo.status

        def flush() -> None:
            try:
                if writer is not None:
                    writer.flush()
            except Exception:  # noqa: BLE001 - a recording that cannot be written: said by ingest
                pass

        notes, report = evo.poll(ingest.counters.reached, flush=flush)
        for t, label, entity, kind in notes:
            if writer is not None:
                try:
                    writer.annotate(t, label, entity, kind)
                except Exception as exc:  # noqa: BLE001 - the recording says why elsewhere
                    ingest.write_error = ingest.write_error or str(exc)
            if self.store.live:
                self.store.add_marker(t, kind, label, entity=entity)
        if report is not None:
            self.evolution_changed.emit(report)
        if evo.status != status:
            self.evolution_status.emit(evo.status)

    def set_speed(self, speed: float) -> None:
        """Playback speed (× real time); while following a paced source, also its pace."""
        self.cursor.speed = speed

    def _on_speed(self, speed: float) -> None:
        src = self.source
        if isinstance(src, PacedSource) and self.cursor.mode is CursorMode.FOLLOWING:
            src.set_speed(speed)

    def _on_mode(self, mode: CursorMode) -> None:
        src = self.source
        if mode is CursorMode.FOLLOWING and isinstance(src, PacedSource):
            self.cursor.speed = src.speed  # following = watching the shop at its own pace

    # -- replay --------------------------------------------------------------------
    def show_replay(self, prepared: PreparedReplay, workshop: Workshop, path: str | Path, *,
                    at: float | None = None, play: bool = False,
                    speed: float | None = None) -> None:
        """Show a prepared recording from ``at`` seconds (default: its start)."""
        self.stop_live()
        self.set_workshop(workshop)
        self.store.attach(prepared)
        t0, t1 = self.store.time_range
        t0 = min(t0, 0.0)
        c = self.cursor
        c.set_live(False)
        c.pause()
        c.set_range(t0, t1)
        if speed is not None:
            c.speed = speed
        c.seek(t0 if at is None else at)
        if play:
            c.play()
        self.recording_path = as_location(path)
        self.status = None
        self._next_refresh = 0.0
        self.source_changed.emit(self.description)

    def follow_growing_recording(self) -> None:
        """A recording still being written (another window's live session, a ``record``
        command): read what was added about once a second and follow it like live."""
        now = self._clock()
        if self.recording_path is None or self.source is not None or now < self._next_refresh:
            return
        self._next_refresh = now + GROWING_REFRESH_S
        c = self.cursor
        if not self.store.growing and not c.live:
            return
        try:
            added = self.store.refresh()
        except Exception as exc:  # noqa: BLE001 - e.g. the file was replaced
            self._next_refresh = float("inf")
            c.set_live(False)
            self.problem.emit("Stopped following the recording", f"{self.recording_path}: {exc}")
            return
        if added:
            at_end = c.t >= c.range[1]
            c.set_live(True)
            c.extend_to(self.store.time_range[1])
            if at_end and c.mode is CursorMode.PAUSED:
                c.follow()
        if not self.store.growing and c.live:
            c.set_live(False)  # the writer closed the file: a finished shift

    # -- the frame -----------------------------------------------------------------
    def tick(self) -> None:
        """One frame: live data in (or a growing recording read on), cursor forward."""
        if self.source is not None:
            self.pump()
        else:
            self.follow_growing_recording()
        self.cursor.tick()

    # -- overlay, scores, verification ---------------------------------------------
    def set_overlay(self, mode: str, scores: Mapping[str, float] | None = None,
                    flags: Mapping[str, str] | None = None) -> None:
        """Colour stations by ``"state"`` or by ``"consistency"`` (with ``scores`` and the
        flagged stations' ``flags`` if given, see :meth:`set_scores`)."""
        if mode not in OVERLAYS:
            raise ValueError(f"overlay {mode!r}: expected one of {', '.join(OVERLAYS)}")
        if scores is not None:
            self.set_scores(scores, flags)
        if mode != self.overlay:
            self.overlay = mode
            self.overlay_changed.emit(mode)

    def set_scores(self, scores: Mapping[str, float],
                   flags: Mapping[str, str] | None = None) -> None:
        """Per-station consistency scores 0..1 (replaces the current ones) and the stations
        the verification flags, worst first, with why (``{station: sentence}``; none when
        not given). ``scores_changed`` follows; :attr:`flags` is set before it."""
        clean: dict[str, float] = {}
        for k, v in scores.items():
            f = float(v)
            if not 0.0 <= f <= 1.0:
                raise ValueError(f"score of {k!r} must be within 0..1, got {v!r}")
            clean[str(k)] = f
        self.scores = clean
        self.flags = {str(k): str(v) for k, v in (flags or {}).items()}
        self.scores_changed.emit(dict(clean))

    def set_verification(self, result: Any) -> None:
        """The latest verification result (a ``ConsistencyReport``, or None); its
        per-station scores and flagged stations go to the consistency overlay, which is
        switched on."""
        self.verification = result
        self.verification_changed.emit(result)
        per_station = getattr(result, "per_station", None)
        if per_station is not None:
            self.set_overlay("consistency", per_station, flags_of(result))

    def recorded_data(self) -> Path | list[Any]:
        """What the window shows, for a job that reads a whole run (verification,
        calibration): the recording file (also a live session's, being written), else its
        events (a shift from the plant history, a live session held in memory)."""
        from twin.statestore import MemoryHistory

        hist = self.store.history
        if isinstance(hist, MemoryHistory):
            t0, t1 = hist.time_range
            return list(hist.events(t0, t1))
        path = getattr(hist, "path", None)
        return path if path is not None else list(hist.events(*hist.time_range))

    # -- closing -------------------------------------------------------------------
    def close(self) -> None:
        """Stop a live source and close its recording (the window is closing)."""
        self.stop_live()

