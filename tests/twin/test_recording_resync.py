"""A damaged chunk in the middle of a real (simulated-shop) recording hides nothing after it."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import pytest

from twin.events import REF_FIELDS, Event
from twin.recording import RecordingWriter, open_recording
from twin.simulator import Simulator
from twin.workshop import load_workshop

ROOT = Path(__file__).resolve().parents[2]


def chunk_spans(data: bytes) -> list[tuple[bytes, int, int, int]]:
    """(type, start, end, event rows) of each chunk, following the documented framing."""
    out, pos = [], 12
    while pos + 12 <= len(data):
        kind, length, _crc = struct.unpack_from("<4sII", data, pos)
        rows = struct.unpack_from("<I", data, pos + 12)[0] if kind == b"EVTS" else 0
        out.append((kind, pos, pos + 12 + length, rows))
        pos += 12 + length
    return out


def names(e: Event) -> set[str]:
    return {e.entity, e.kind, e.state} | {getattr(e, f) for f in REF_FIELDS} - {""}


@pytest.fixture(scope="module")
def shift(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Event]]:
    """Two hours of machining13, written in small batches as a live session flushes them."""
    path = tmp_path_factory.mktemp("resync") / "machining13.twinlog"
    events: list[Event] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RecordingWriter, "max_batch_rows", 200)
        with RecordingWriter(path, {"workshop": "machining13"}) as w:
            Simulator(load_workshop(ROOT / "assets" / "workshops" / "machining13.toml"), seed=3).run(
                2.0, sink=lambda e: (events.append(e), w.append(e)))
    return path, events


def test_a_flipped_byte_mid_recording_loses_only_that_chunk_and_names_its_bytes(
        tmp_path: Path, shift: tuple[Path, list[Event]]) -> None:
    path, events = shift
    data = bytearray(path.read_bytes())
    spans = chunk_spans(bytes(data))
    evts = [i for i, s in enumerate(spans) if s[0] == b"EVTS"]
    assert len(evts) > 10
    before_rows = [sum(spans[j][3] for j in range(i)) for i in range(len(spans))]
    # a middle chunk that brings ids first seen in it (new WIPs): the hard case
    i = next(i for i in evts[len(evts) // 2:]
             if {n for e in events[before_rows[i]:before_rows[i] + spans[i][3]] for n in names(e)}
             - {n for e in events[:before_rows[i]] for n in names(e)})
    _, start, end, rows = spans[i]
    data[start + 40] ^= 0xFF
    damaged = tmp_path / "damaged.twinlog"
    damaged.write_bytes(bytes(data))

    rec = open_recording(damaged)

    lo, hi = before_rows[i], before_rows[i] + rows
    known = {n for e in events[:lo] for n in names(e)}
    lost = {n for e in events[lo:hi] for n in names(e)} - known
    expected_after: list[Event] = []
    for e in events[hi:]:
        if {e.entity, e.kind, e.state} & lost:
            continue  # its name was only in the damaged bytes
        expected_after.append(dataclasses.replace(e, **{f: "" for f in REF_FIELDS if getattr(e, f) in lost}))
    assert len(expected_after) > len(events) // 3
    assert rec.events() == events[:lo] + expected_after
    assert rec.complete  # even the end marker after the damage was found
    joined = "\n".join(rec.warnings)
    assert f"damaged bytes {start}-{end} skipped" in joined and "checksum mismatch" in joined
    assert f"t={events[lo - 1].t:.3f} s and t={events[hi].t:.3f} s" in joined
    dropped = len(events) - hi - len(expected_after)
    assert f"{dropped} events named an entity, kind or state defined only in them" in joined
    # the state at the end of the shift is right for every station (their ids came first)
    end_state = rec.state_at(events[-1].t).entities
    stations = {e.entity: e for e in events if e.kind == "station"}
    assert {k: end_state[k].state for k in stations} == {k: e.state for k, e in stations.items()}


def test_a_recording_cut_short_still_stops_at_the_cut(tmp_path: Path, shift: tuple[Path, list[Event]]) -> None:
    path, events = shift
    data = path.read_bytes()
    spans = chunk_spans(data)
    _, start, end, _ = spans[len(spans) // 2]
    cut = tmp_path / "cut.twinlog"
    cut.write_bytes(data[: (start + end) // 2])
    rec = open_recording(cut)
    n = sum(s[3] for s in spans if s[2] <= start)
    assert rec.events() == events[:n]
    assert len(rec.warnings) == 1 and f"damaged/truncated at byte {start}" in rec.warnings[0]
    assert "skipped" not in rec.warnings[0]


def test_keyframes_after_the_damage_still_seek_and_show_only_named_entities(
        tmp_path: Path, shift: tuple[Path, list[Event]]) -> None:
    path, events = shift
    data = bytearray(path.read_bytes())
    spans = chunk_spans(bytes(data))
    kinds = [s[0] for s in spans]
    i = [j for j, k in enumerate(kinds) if k == b"EVTS"][len(spans) // 4]
    data[spans[i][1] + 40] ^= 0xFF
    damaged = tmp_path / "damaged.twinlog"
    damaged.write_bytes(bytes(data))
    rec = open_recording(damaged)
    clean = open_recording(path)
    later = [k for k, (t, _) in enumerate(rec.keyframes) if t > events[sum(s[3] for s in spans[:i + 1])].t]
    assert later
    snap = rec.keyframe_snapshot(later[-1])
    full = clean.keyframe_snapshot(later[-1])
    assert set(snap.entities) <= set(full.entities)
    assert {k: e.state for k, e in snap.entities.items() if e.kind == "station"} == \
        {k: e.state for k, e in full.entities.items() if e.kind == "station"}
    t = rec.keyframes[later[-1]][0]
    assert rec.state_at(t).entities["S01"] == clean.state_at(t).entities["S01"]
