"""Headless screenshots: ``render_screenshot`` and the ``screenshot`` sub-command.

The CLI is driven through ``main.main`` (the ``dmw-twin`` entry point),
with a small recording written for the test: the image must show the shop as it was at
``--at``, and bad input must end with one clear line and exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv

from scene import palette
import main as entry
from scene.cli import load_scores, parse_size
from scene.workshop_scene import WorkshopScene, offscreen_plotter, render_screenshot
from twin.events import Event
from twin.recording import RecordingWriter

ROOT = Path(__file__).resolve().parents[2]
MACHINING13 = ROOT / "assets" / "workshops" / "machining13.toml"
SIZE = (960, 540)


@pytest.fixture(scope="module")
def recording(tmp_path_factory, workshop) -> Path:
    """A 10-minute shift: every station processing from t=0; S03 breaks down at 5 min."""
    path = tmp_path_factory.mktemp("rec") / "shift.twinlog"
    with RecordingWriter(path, meta={"workshop": workshop.name}) as w:
        for sid in workshop.stations:
            assert w.append(Event(t=0.0, entity=sid, kind="station", state="processing"))
        for aid, agv in workshop.agvs.items():
            node = workshop.nodes[agv.home]
            assert w.append(Event(t=0.0, entity=aid, kind="agv", state="idle", x=node.x,
                                  y=node.y, heading=0.0))
        assert w.append(Event(t=300.0, entity="S03", kind="station", state="down"))
        assert w.append(Event(t=600.0, entity="S01", kind="station", state="idle"))
    return path


def run_cli(*argv: str) -> int:
    return entry.main(list(argv))


def screen_positions(workshop, size, camera="iso") -> dict[str, tuple[int, int]]:
    """Where the CLI's view puts each station (same camera, same window size)."""
    plotter = offscreen_plotter(size)
    try:
        sc = WorkshopScene(workshop, plotter)
        sc.set_camera(camera)
        pos = {sid: sc.entity_screen_position(sid) for sid in workshop.stations}
        sc.close()
        return pos
    finally:
        plotter.close()


def read_png(path: Path) -> np.ndarray:
    img = pv.read(path)
    w, h, _ = img.dimensions
    arr = np.asarray(img.point_data.active_scalars).reshape(h, w, -1)[:, :, :3]
    return arr[::-1]


def colour_at(img: np.ndarray, xy: tuple[int, int], rgb) -> float:
    h = img.shape[0]
    patch = img[h - 1 - xy[1] - 1:h - xy[1] + 1, xy[0] - 1:xy[0] + 2].reshape(-1, 3)
    return float(np.min(np.linalg.norm(patch.astype(float) - np.array(rgb, float), axis=1)))


# ----------------------------------------------------------------------------------------


def test_render_screenshot_writes_the_png_it_returns(tmp_path, workshop):
    out = tmp_path / "shots" / "layout.png"
    img = render_screenshot(workshop, size=SIZE, out=out)
    assert img.shape == (SIZE[1], SIZE[0], 3) and img.dtype == np.uint8
    assert out.is_file()
    assert np.array_equal(read_png(out), img)
    # not a blank frame: floor, machines, labels give many distinct colours
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 200


def test_cli_renders_the_state_at_the_given_time(tmp_path, workshop, recording, capsys):
    pos = screen_positions(workshop, SIZE)
    early, late = tmp_path / "early.png", tmp_path / "late.png"
    assert run_cli("screenshot", "--workshop", str(MACHINING13), "--recording", str(recording),
                   "--at", "0:04:00", "--size", "960x540", "--out", str(early)) == 0
    assert run_cli("screenshot", "--workshop", str(MACHINING13), "--recording", str(recording),
                   "--at", "420", "--size", "960x540", "--out", str(late)) == 0
    assert "wrote" in capsys.readouterr().out
    a, b = read_png(early), read_png(late)
    processing = palette.STATION_STATE_COLOURS["processing"]
    down = palette.STATION_STATE_COLOURS["down"]
    assert colour_at(a, pos["S03"], processing) < 12
    assert colour_at(b, pos["S03"], down) < 12
    assert colour_at(b, pos["S05"], processing) < 12


def test_cli_without_at_shows_the_end_of_the_recording(tmp_path, workshop, recording):
    pos = screen_positions(workshop, SIZE)
    out = tmp_path / "end.png"
    assert run_cli("screenshot", "--workshop", str(MACHINING13), "--recording", str(recording),
                   "--size", "960x540", "--out", str(out)) == 0
    img = read_png(out)
    assert colour_at(img, pos["S01"], palette.STATION_STATE_COLOURS["idle"]) < 12


def test_cli_consistency_overlay_colours_by_score(tmp_path, workshop):
    scores = tmp_path / "scores.json"
    scores.write_text(json.dumps({"S01": 0.05, "S13": 0.97}))
    out = tmp_path / "consistency.png"
    assert run_cli("screenshot", "--workshop", str(MACHINING13), "--overlay", "consistency",
                   "--scores", str(scores), "--camera", "top", "--size", "960x540",
                   "--out", str(out)) == 0
    pos = screen_positions(workshop, SIZE, camera="top")
    img = read_png(out)
    assert colour_at(img, pos["S01"], palette.consistency_colour(0.05)) < 12
    assert colour_at(img, pos["S13"], palette.consistency_colour(0.97)) < 12
    assert colour_at(img, pos["S07"], palette.NO_SCORE) < 12


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--workshop", "nowhere.toml"], "nowhere.toml"),
        (["--recording", "missing.twinlog"], "missing.twinlog"),
        (["--at", "12:xx"], "HH:MM:SS"),
        (["--at", "100"], "--at needs --recording"),
        (["--size", "big"], "WIDTHxHEIGHT"),
        (["--size", "10x10"], "between 16 and 8192"),
        (["--overlay", "consistency"], "needs --scores"),
    ],
)
def test_cli_bad_input_is_one_clear_line_and_exit_2(tmp_path, capsys, extra, message):
    args = ["screenshot", "--workshop", str(MACHINING13), "--out", str(tmp_path / "x.png")]
    if "--workshop" in extra:
        args[2] = str(tmp_path / extra[1])
        extra = []
    assert run_cli(*args, *extra) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("dmw-twin screenshot: ") and err.count("\n") == 1
    assert "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ("[0.5, 0.7]", "must be a JSON object"),
        ('{"S01": 1.7}', "S01 must be in [0, 1]"),
        ('{"S01": "good"}', "S01 must be a number"),
        ('{"S99": 0.5}', "unknown station(s) S99"),
    ],
)
def test_cli_bad_scores_file_names_the_file_and_the_problem(tmp_path, capsys, content, message):
    scores = tmp_path / "scores.json"
    scores.write_text(content)
    code = run_cli("screenshot", "--workshop", str(MACHINING13), "--overlay", "consistency",
                   "--scores", str(scores), "--out", str(tmp_path / "x.png"))
    err = capsys.readouterr().err
    assert code == 2
    assert str(scores) in err and message in err


def test_missing_scores_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="scores file not found"):
        load_scores(str(tmp_path / "none.json"))


def test_sizes_parse_as_width_by_height():
    assert parse_size("1280x720") == (1280, 720)
    assert parse_size("640X480") == (640, 480)
    with pytest.raises(ValueError):
        parse_size("1280")
