"""Recordings (.twinlog): round trip, seek, recovery, refusal, validation, crash safety, live."""

from __future__ import annotations

import math
import os
import random
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest

from twin.events import STATES, Event
from twin.recording import Annotation, RecordingError, RecordingWriter, open_recording
from twin.recording import reader as reader_module
from twin.recording import writer as writer_module

ROOT = Path(__file__).resolve().parents[2]

ENTITIES: tuple[tuple[str, str], ...] = (
    ("S01", "station"), ("S02", "station"), ("Schleifen-Ü3", "station"),
    ("AGV1", "agv"), ("AGV2", "agv"),
    ("W0001", "wip"), ("W0002", "wip"), ("W0003", "wip"),
    ("O001", "order"), ("O002", "order"),
)


def make_shift(n: int = 2000, seed: int = 1, entities: tuple[tuple[str, str], ...] = ENTITIES) -> list[Event]:
    """A random, valid, time-ordered event stream using every field (None and refs too),
    with runs of equal times."""
    rng = random.Random(seed)
    out: list[Event] = []
    t = 0.0
    for _ in range(n):
        if rng.random() < 0.75:
            t += rng.uniform(0.0, 3.0)
        entity, kind = rng.choice(entities)
        state = rng.choice(STATES[kind])

        def maybe(v: float) -> float | None:
            return v if rng.random() < 0.8 else None

        kw: dict[str, object] = {}
        if kind == "agv":
            kw = dict(x=maybe(rng.uniform(0, 80)), y=maybe(rng.uniform(0, 40)),
                      heading=maybe(rng.uniform(0, 360)), wip=rng.choice(["", "W0001", "W0002"]),
                      energy=maybe(rng.uniform(0, 0.01)))
        elif kind == "station":
            kw = dict(x=12.5, y=7.25, heading=90.0, wip="W0003" if state == "processing" else "",
                      process=rng.choice(["", "turning", "drilling"]), queue=maybe(float(rng.randint(0, 9))))
        elif kind == "wip":
            kw = dict(station=rng.choice(["", "S01", "S02"]), agv=rng.choice(["", "AGV1"]),
                      order=rng.choice(["O001", "O002"]), process=rng.choice(["", "turning"]))
        out.append(Event(t=t, entity=entity, kind=kind, state=state, **kw))  # type: ignore[arg-type]
    return out


def naive_state(events: list[Event], t: float) -> dict[str, Event]:
    latest: dict[str, Event] = {}
    for e in events:
        if e.t <= t:
            latest[e.entity] = e
    return latest


def write(path: Path, events: list[Event], notes: tuple[Annotation, ...] = (), **kw: object) -> RecordingWriter:
    with RecordingWriter(path, **kw) as w:  # type: ignore[arg-type]
        for e in events:
            assert w.append(e), w.last_rejection
        for a in notes:
            w.annotate(a.t, a.label, a.entity, a.kind)
    return w


def chunk_spans(data: bytes) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, start, end, event rows) of each chunk, following the documented framing."""
    pos = 12
    while pos + 12 <= len(data):
        kind, length, _crc = struct.unpack_from("<4sII", data, pos)
        end = pos + 12 + length
        rows = struct.unpack_from("<I", data, pos + 12)[0] if kind == b"EVTS" else 0
        yield kind, pos, end, rows
        pos = end


@pytest.fixture(scope="module")
def shift() -> list[Event]:
    return make_shift(3000)


@pytest.fixture(scope="module")
def shift_file(tmp_path_factory: pytest.TempPathFactory, shift: list[Event]) -> Path:
    path = tmp_path_factory.mktemp("rec") / "shift.twinlog"
    notes = (Annotation(120.0, "S01 down", "S01", "breakdown"), Annotation(5.5, "shift start"))
    # small keyframe interval and batch size so the file has many chunks of every type
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RecordingWriter, "max_batch_rows", 256)
        write(path, shift, notes, meta={"workshop": "machining13"}, keyframe_interval_s=300.0)
    return path


# -- round trip --------------------------------------------------------------------------


def test_round_trip_keeps_every_field_meta_and_annotations(tmp_path: Path, shift: list[Event]) -> None:
    path = tmp_path / "a.twinlog"
    meta = {"workshop": "machining13", "path": tmp_path / "m13.toml", "source_hash": "ab12",
            "stations": ["S01", "S02"]}
    w = write(path, shift, (Annotation(42.0, "slowdown S02 x1.3", "S02", "disturbance"),
                            Annotation(7.0, "note without entity")), meta=meta)
    assert w.events_written == len(shift) and w.rejected == 0
    with open_recording(path) as rec:
        assert rec.events() == shift
        assert rec.event_count == len(shift)
        assert rec.time_range == (shift[0].t, shift[-1].t)
        assert rec.warnings == []
        assert rec.complete and rec.end_summary is not None and rec.end_summary["events"] == len(shift)
        assert rec.meta["workshop"] == "machining13"
        assert rec.meta["path"] == str(tmp_path / "m13.toml")
        assert rec.meta["stations"] == ["S01", "S02"]
        assert rec.meta["format_version"] == 2 and rec.meta["created"].startswith("20")
        first_seen = list(dict.fromkeys(e.entity for e in shift))
        assert list(rec.entities) == first_seen
        assert rec.entities == {e.entity: e.kind for e in shift}
        assert rec.annotations() == [Annotation(7.0, "note without entity"),
                                     Annotation(42.0, "slowdown S02 x1.3", "S02", "disturbance")]


def test_an_empty_recording_opens_with_no_events(tmp_path: Path) -> None:
    write(tmp_path / "e.twinlog", [])
    rec = open_recording(tmp_path / "e.twinlog")
    assert rec.event_count == 0 and rec.events() == [] and rec.entities == {}
    assert rec.time_range == (0.0, 0.0)
    assert rec.state_at(10.0).entities == {}
    assert rec.complete and rec.warnings == []


def test_events_window_is_inclusive_and_filters_by_entity_and_kind(shift_file: Path, shift: list[Event]) -> None:
    rec = open_recording(shift_file)
    rng = random.Random(3)
    for _ in range(30):
        a, b = sorted(rng.choice(shift).t for _ in range(2))
        assert rec.events(a, b) == [e for e in shift if a <= e.t <= b]
    t0, t1 = shift[100].t, shift[2000].t
    assert rec.events(t0, t1, entity="AGV1") == [e for e in shift if t0 <= e.t <= t1 and e.entity == "AGV1"]
    assert rec.events(kind="wip") == [e for e in shift if e.kind == "wip"]
    assert rec.events(entity="Schleifen-Ü3", kind="station") == [e for e in shift if e.entity == "Schleifen-Ü3"]
    assert rec.events(entity="NOPE") == []
    assert rec.events(t0=shift[-1].t + 1) == []


# -- seek ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyframe_interval_s", "checkpoint_events", "cache"),
    [(60.0, 4096, 1000), (math.inf, 50, 0), (7.0, 4096, 0)],
    ids=["keyframes", "no-keyframes-small-checkpoints", "dense-keyframes-no-cache"],
)
def test_state_at_matches_a_naive_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keyframe_interval_s: float,
                                       checkpoint_events: int, cache: int) -> None:
    monkeypatch.setattr(reader_module, "CHECKPOINT_EVENTS", checkpoint_events)
    events = make_shift(2500, seed=5)
    write(tmp_path / "s.twinlog", events, keyframe_interval_s=keyframe_interval_s)
    rec = open_recording(tmp_path / "s.twinlog", event_cache_size=cache)
    rng = random.Random(11)
    t_end = events[-1].t
    times = [rng.uniform(-5, t_end + 5) for _ in range(150)] + [rng.choice(events).t for _ in range(50)]
    times += [0.0, -1.0, events[0].t, t_end, t_end + 100, math.inf, -math.inf]
    for t in times:
        snap = rec.state_at(t)
        assert snap.t == t
        assert snap.entities == naive_state(events, t), t
    with pytest.raises(ValueError, match="time"):
        rec.state_at(math.nan)


def test_keyframes_hold_each_entitys_latest_event_before_their_time(shift_file: Path, shift: list[Event]) -> None:
    rec = open_recording(shift_file)
    keyframes = rec.keyframes
    assert len(keyframes) >= int(shift[-1].t // 300.0) - 1
    for i, (t_kf, before) in enumerate(keyframes):
        assert t_kf % 300.0 == 0.0
        assert all(e.t < t_kf for e in shift[:before]) and all(e.t >= t_kf for e in shift[before:])
        assert rec.keyframe_snapshot(i).entities == naive_state(shift[:before], math.inf)


def test_keyframes_stay_a_small_part_of_a_shop_with_many_quiet_entities(tmp_path: Path) -> None:
    many = tuple((f"W{i:04d}", "wip") for i in range(300)) + (("AGV1", "agv"),)
    events = make_shift(6000, seed=4, entities=many)
    write(tmp_path / "k.twinlog", events, keyframe_interval_s=10.0)
    rec = open_recording(tmp_path / "k.twinlog")
    sizes = [len(rec.keyframe_snapshot(i)) for i in range(len(rec.keyframes))]
    assert len(sizes) >= 2  # still there to seek from...
    # ...but each one only after the shop wrote 4x its size in events (not every 10 s)
    assert sum(sizes) * writer_module.KEYFRAME_MIN_EVENTS_PER_ENTITY <= len(events)
    for i, (t_kf, before) in enumerate(rec.keyframes):
        assert rec.keyframe_snapshot(i).entities == naive_state(events[:before], math.inf)


def test_columns_hold_the_same_events_without_event_objects(shift_file: Path, shift: list[Event]) -> None:
    rec = open_recording(shift_file)
    cols = rec.columns()
    assert len(cols) == len(shift)
    assert np.array_equal(cols.t, [e.t for e in shift])
    assert cols.decode(cols.entity).tolist() == [e.entity for e in shift]
    assert cols.decode(cols.wip).tolist() == [e.wip for e in shift]
    x = [math.nan if e.x is None else e.x for e in shift]
    assert np.array_equal(cols.x, x, equal_nan=True)
    moving = [e for e in shift if e.state == "moving"]
    assert int((cols.state == cols.code("moving")).sum()) == len(moving)
    assert cols.code("no such id") == -1
    with pytest.raises(ValueError):
        cols.t[0] = 1.0  # read-only: nobody corrupts the recording in memory
    a, b = shift[500].t, shift[900].t
    assert np.array_equal(rec.columns(a, b).t, [e.t for e in shift if a <= e.t <= b])
    t = shift[1234].t
    rows = rec.latest_rows(t)
    assert sorted(cols.decode(cols.entity[rows]).tolist()) == sorted(naive_state(shift, t))
    assert {shift[r] for r in rows.tolist()} == set(naive_state(shift, t).values())


# -- damaged and foreign files --------------------------------------------------------------


def test_truncated_file_opens_with_a_warning_and_the_intact_prefix(tmp_path: Path, shift_file: Path,
                                                                    shift: list[Event]) -> None:
    data = shift_file.read_bytes()
    spans = list(chunk_spans(data))
    assert {k for k, *_ in spans} == {b"META", b"EVTS", b"KEYF", b"NOTE", b"END "}
    ends = [end for _, _, end, _ in spans]
    rng = random.Random(2)
    cuts = set(range(0, 40)) | {e + d for e in ends for d in (-1, 0, 1)} | {rng.randrange(len(data)) for _ in range(80)}
    cut_path = tmp_path / "cut.twinlog"
    for cut in sorted(c for c in cuts if 0 <= c < len(data)):
        cut_path.write_bytes(data[:cut])
        if cut < 12:
            with pytest.raises(RecordingError, match="cut.twinlog"):
                open_recording(cut_path)
            continue
        rec = open_recording(cut_path)
        whole = sum(rows for _, _, end, rows in spans if end <= cut)
        assert rec.event_count == whole, cut
        assert rec.events() == shift[:whole]
        assert not rec.complete
        if cut in ends and cut > 12:
            assert rec.warnings == []  # a clean prefix: just a recording still being written
        else:
            assert len(rec.warnings) == 1
            msg = rec.warnings[0]
            assert str(cut_path) in msg and f"recovered {whole} events" in msg
            assert "damaged/truncated at byte" in msg
        if whole:
            t = shift[whole // 2].t
            assert rec.state_at(t).entities == naive_state(shift[:whole], t)
        rec.close()


def test_a_corrupted_chunk_keeps_everything_before_it(tmp_path: Path, shift_file: Path, shift: list[Event]) -> None:
    data = bytearray(shift_file.read_bytes())
    spans = [s for s in chunk_spans(bytes(data)) if s[0] == b"EVTS"]
    kind, start, end, _ = spans[len(spans) // 2]
    data[(start + end) // 2] ^= 0x40
    path = tmp_path / "flipped.twinlog"
    path.write_bytes(bytes(data))
    rec = open_recording(path)
    before = sum(rows for _, _, e, rows in spans if e <= start)
    assert rec.events() == shift[:before]
    assert len(rec.warnings) == 1
    assert f"damaged/truncated at byte {start}" in rec.warnings[0] and "checksum" in rec.warnings[0]


def test_a_chunk_with_a_valid_checksum_but_nonsense_inside_is_treated_as_damage(tmp_path: Path) -> None:
    from twin.recording import codec

    events = make_shift(50)
    path = tmp_path / "r.twinlog"
    with RecordingWriter(path) as w:
        for e in events:
            w.append(e)
        w.flush()
        # events going back in time, correctly framed: a buggy or hostile writer
        rows = [(1.0, 1, 2, 3, None, None, None, 0, 0, 0, 0, 0, None, None)] * 2
        body = codec.encode_batch(list(zip(*rows)), w._strings_on_disk, [])
        w._file.write(codec.frame(codec.EVENTS, codec.EVENTS_PREFIX.pack(2, 1.0, 1.0) + body))
    rec = open_recording(path)
    assert rec.events() == events
    assert "event times" in rec.warnings[0]


def test_unknown_chunk_types_are_skipped_with_a_warning(tmp_path: Path) -> None:
    from twin.recording import codec

    events = make_shift(40)
    path = tmp_path / "future.twinlog"
    with RecordingWriter(path) as w:
        for e in events[:20]:
            w.append(e)
        w.flush()
        w._file.write(codec.frame(b"XTRA", b"something a newer version writes"))
        for e in events[20:]:
            w.append(e)
    rec = open_recording(path)
    assert rec.events() == events
    assert any("unknown type" in m and "XTRA" in m for m in rec.warnings)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty file"),
        (b"t,entity,kind,state\n0,S01,station,idle\n", "not a DMW Twin recording"),
        (bytes(range(256)) * 10, "not a DMW Twin recording"),
        (b"PK\x03\x04" + b"\x00" * 100, "not a DMW Twin recording"),
        (b"TWINLOG\x1a" + struct.pack("<HH", 9, 0), "format version 9"),
        (b"TWINLOG", "cut short inside its 12-byte header"),
    ],
    ids=["empty", "csv", "binary", "zip", "newer-version", "half-header"],
)
def test_files_that_are_not_recordings_are_refused_naming_the_file(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "shift.twinlog"
    path.write_bytes(content)
    with pytest.raises(RecordingError) as err:
        open_recording(path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_missing_file_and_directory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such file"):
        open_recording(tmp_path / "nope.twinlog")
    with pytest.raises(RecordingError, match="directory"):
        open_recording(tmp_path)


# -- writer validation ---------------------------------------------------------------------------


class ExplodingMapping(Mapping[str, object]):
    def __getitem__(self, key: str) -> object:
        raise RuntimeError("sensor gateway hiccup")

    def __iter__(self) -> Iterator[str]:
        return iter(["t", "entity", "kind", "state"])

    def __len__(self) -> int:
        return 4


def test_malformed_events_are_rejected_counted_and_never_crash(tmp_path: Path) -> None:
    good = {"t": 10.0, "entity": "S01", "kind": "station", "state": "idle"}
    bad: list[object] = [
        {**good, "t": math.nan},
        {**good, "t": -1.0},
        {**good, "t": "ten"},
        {**good, "kind": "robot"},
        {**good, "state": "moving"},
        {**good, "x": math.inf},
        {**good, "entity": ""},
        {**good, "wip": 7},
        {**good, "colour": "red"},
        {"t": 10.0, "entity": "S01", "kind": "station"},
        None,
        42,
        "S01 idle",
        ExplodingMapping(),
        Event(t=math.nan, entity="S01", kind="station", state="idle"),
        {**good, "t": 5.0},  # out of order (after t=10)
        {**good, "entity": "AGV1", "kind": "station"},  # AGV1 was an agv
    ]
    path = tmp_path / "v.twinlog"
    w = RecordingWriter(path)
    assert w.append(good) is True
    assert w.append({"t": 10.0, "entity": "AGV1", "kind": "agv", "state": "idle"}) is True
    for i, b in enumerate(bad):
        assert w.append(b) is False, b  # type: ignore[arg-type]
        assert w.rejected == i + 1
    assert w.append({**good, "t": 11.0, "state": "processing", "wip": "W1"}) is True
    w.close()
    assert w.events_written == 3
    assert sum(w.rejected_reasons.values()) == len(bad)
    reasons = " | ".join(w.rejected_reasons)
    for word in ("'t'", "robot", "moving", "'x'", "entity", "'wip'", "colour", "'state'", "must be an object",
                 "sensor gateway hiccup", "out of order", "changed kind"):
        assert word in reasons, word
    assert [e.t for e in open_recording(path).events()] == [10.0, 10.0, 11.0]


def test_rejection_reasons_are_capped_but_every_rejection_counted(tmp_path: Path) -> None:
    with RecordingWriter(tmp_path / "c.twinlog") as w:
        for i in range(200):
            w.append({"t": 1.0, "entity": "S01", "kind": "station", "state": f"state{i}"})
    assert w.rejected == 200 and sum(w.rejected_reasons.values()) == 200
    assert len(w.rejected_reasons) == writer_module.MAX_REASONS + 1
    assert writer_module.OTHER_REASONS in w.rejected_reasons


def test_writer_misuse_is_reported_clearly(tmp_path: Path) -> None:
    path = tmp_path / "m.twinlog"
    w = RecordingWriter(path)
    with pytest.raises(ValueError, match="label"):
        w.annotate(1.0, "")
    with pytest.raises(ValueError, match="time"):
        w.annotate(-3.0, "before the shift")
    w.close()
    w.close()  # twice is fine
    with pytest.raises(RecordingError, match="closed"):
        w.append({"t": 1.0, "entity": "S01", "kind": "station", "state": "idle"})
    with pytest.raises(RecordingError, match="already exists"):
        RecordingWriter(path, overwrite=False)
    with pytest.raises(RecordingError, match="JSON"):
        RecordingWriter(tmp_path / "x.twinlog", meta={"when": object()})
    with pytest.raises(RecordingError, match="cannot create"):
        RecordingWriter(tmp_path / "no" / "such" / "dir.twinlog")


# -- live reading and crash safety -----------------------------------------------------------------


def test_refresh_picks_up_what_a_live_writer_flushes(tmp_path: Path) -> None:
    events = make_shift(600, seed=9)
    path = tmp_path / "live.twinlog"
    w = RecordingWriter(path, meta={"workshop": "live"}, flush_interval_s=0.2, keyframe_interval_s=30.0)
    rec = open_recording(path)
    assert rec.event_count == 0 and rec.meta["workshop"] == "live" and rec.warnings == []
    for e in events[:300]:
        w.append(e)
    w.flush()
    assert rec.refresh() == 300
    assert rec.events() == events[:300]
    t = events[299].t
    assert rec.state_at(t).entities == naive_state(events, t)
    # no explicit flush: the writer's timer gets the events to the file within its interval
    for e in events[300:450]:
        w.append(e)
    w.annotate(events[400].t, "operator note")
    deadline = time.monotonic() + 10.0
    got = 0
    while got < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
        got += rec.refresh()
    assert got == 150
    assert rec.events() == events[:450]
    assert [a.label for a in rec.annotations()] == ["operator note"]
    assert rec.refresh() == 0
    for e in events[450:]:
        w.append(e)
    w.close()
    assert rec.refresh() == 150
    assert rec.complete and rec.warnings == []
    for t in (events[10].t, events[449].t, events[520].t, events[-1].t):
        assert rec.state_at(t).entities == naive_state(events, t)
    assert rec.entities == {e.entity: e.kind for e in events}


def test_a_writer_left_open_is_flushed_and_closed_when_the_program_exits(tmp_path: Path) -> None:
    path = tmp_path / "forgotten.twinlog"
    code = (
        "import sys\n"
        "from twin.recording import RecordingWriter\n"
        "w = RecordingWriter(sys.argv[1], flush_interval_s=60.0)\n"
        "for i in range(1000):\n"
        "    w.append({'t': i * 0.5, 'entity': 'S01', 'kind': 'station', 'state': 'idle', 'queue': float(i)})\n"
        "w.annotate(1.0, 'not closed by the program')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, capture_output=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    rec = open_recording(path)
    assert rec.complete and rec.warnings == []
    assert [e.queue for e in rec.events()] == [float(i) for i in range(1000)]
    assert [a.label for a in rec.annotations()] == ["not closed by the program"]


CHILD = r"""
import sys, time
from twin.recording import RecordingWriter
path, t0, mode = sys.argv[1], float(sys.argv[2]), sys.argv[3]
w = RecordingWriter(path, meta={"child": True}, flush_interval_s=1.0)
i = 0
def one():
    global i
    w.append({"t": time.time() - t0, "entity": "AGV1", "kind": "agv", "state": "moving", "x": float(i), "y": 0.0})
    i += 1
if mode == "idle":
    for _ in range(500):
        one()
print("ready", flush=True)
while True:
    if mode == "steady":
        one()
    time.sleep(0.005)
"""


@pytest.mark.parametrize("mode", ["steady", "idle"])
def test_sigkill_loses_at_most_the_last_second(tmp_path: Path, mode: str) -> None:
    """A writer killed with SIGKILL: everything appended more than ~1.5 s before is readable
    (also when the source went quiet and no further append triggered a flush)."""
    path = tmp_path / "killed.twinlog"
    t0 = time.time()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), repr(t0), mode],
                             stdout=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        time.sleep(1.0)
        live = open_recording(path)  # another process reading while the writer runs
        seen = live.event_count
        time.sleep(2.0)
        if mode == "steady":
            assert live.refresh() > 0 and live.event_count > seen
        kill_t = time.time() - t0
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    rec = open_recording(path)
    assert rec.meta["child"] is True and not rec.complete
    events = rec.events()
    assert [e.x for e in events] == [float(i) for i in range(len(events))]  # a gap-free prefix
    if mode == "steady":
        assert events[-1].t >= kill_t - 1.5, (events[-1].t, kill_t)
    else:
        assert len(events) == 500
    live.refresh()
    assert live.events() == events
