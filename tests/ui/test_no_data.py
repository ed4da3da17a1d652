"""A real day of the NIST test bed: machines without logs show "no data", not 100 % idle."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.live import workshop_meta
from twin.mtconnect import load_devices
from twin.mtconnect.importer import import_logs, write
from twin.workshop import load_workshop

ROOT = Path(__file__).resolve().parents[2]
NIST = ROOT / "assets" / "real" / "nist"
WORKSHOP = ROOT / "assets" / "workshops" / "nist_smstestbed.toml"
#: Stations of the test bed's workshop with no log among the bundled days.
SILENT = ("GFAgie01", "Hurco01", "Hurco02", "Hurco03", "Hurco04", "Hurco06")


@pytest.fixture(scope="module")
def real_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One machine-day of Mazak03 imported as ``import-mtconnect`` does."""
    ws = load_workshop(WORKSHOP)
    res = import_logs([NIST / "Mazak03-20181218-20181219.txt.gz"], load_devices(NIST / "Devices.xml"), ws)
    path = tmp_path_factory.mktemp("real") / "mazak03-day.twinlog"
    write(res, path, workshop_meta(ws))
    return path


def test_machines_without_logs_show_no_data(qtbot, window, real_day: Path) -> None:  # noqa: ANN001
    w = window
    with qtbot.waitSignal(w.recording_opened, timeout=60_000):
        w.open_recording(real_day)
    assert set(SILENT) <= set(w.workshop.stations)
    t0, t1 = w.cursor.range
    w.cursor.seek(t1)
    kpis = w.store.kpis
    assert not any(kpis.has_data(s, t1) for s in SILENT) and kpis.has_data("Mazak03", t1)

    # the charts' time-in-state bars: "no data" for the silent machines, a % for Mazak03
    w.charts.refresh_bars()
    labels = dict(zip(w.charts.station_axis.names, (lab.textItem.toPlainText()
                                                    for lab in w.charts.util_labels), strict=True))
    assert all(labels[s] == "no data" for s in SILENT)
    assert labels["Mazak03"].endswith("%")
    ids, shares = kpis.state_shares(t1)
    assert all(shares[ids.index(s)].sum() == 0.0 for s in SILENT)  # no idle bar drawn
    assert shares[ids.index("Mazak03")].sum() == pytest.approx(1.0)

    # the inspector says so too
    w.selection.select("Hurco02")
    w.inspector.refresh()
    assert "no data" in w.inspector.fields["util"].text()
    assert "%" not in w.inspector.fields["util"].text()
    assert "idle" not in w.inspector.breakdown.text()
    w.selection.select("Mazak03")
    w.inspector.refresh()
    assert "%</b> processing" in w.inspector.fields["util"].text()
