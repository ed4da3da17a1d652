"""File › Open from plant history…: list the shifts of a real PostgreSQL server, open one."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.history.transfer import import_twinlog
from twin.recording import open_recording


@pytest.fixture
def stored_shift(pg_cluster, shift_recording: Path) -> str:  # noqa: ANN001
    from twin.history.store import HistoryError

    try:
        url, _ = import_twinlog(shift_recording, pg_cluster.url, line="machining13", shift="ui-morning",
                                password=pg_cluster.password)
    except HistoryError:  # imported by an earlier test of this run
        url = pg_cluster.url + "?line=machining13&shift=ui-morning"
    return url


def test_dialog_lists_shifts_and_opens_one_in_the_window(qtbot, window, pg_cluster, stored_shift,
                                                          shift_recording: Path) -> None:  # noqa: ANN001
    from ui.history_dialog import QtHistoryDialog

    dlg = QtHistoryDialog(window.settings, window)
    qtbot.addWidget(dlg)
    dlg.server.setText(pg_cluster.url)
    dlg.password.setText("wrong")
    assert not dlg.refresh()
    assert "wrong user name or password" in dlg.message.text()
    assert dlg.table.rowCount() == 0
    dlg.password.setText(pg_cluster.password)
    assert dlg.refresh()
    rows = {dlg.table.item(r, 1).text(): r for r in range(dlg.table.rowCount())}
    r = rows["ui-morning"]
    n = open_recording(shift_recording).event_count
    assert dlg.table.item(r, 0).text() == "machining13"
    assert dlg.table.item(r, 4).text() == f"{n:,}"
    assert dlg.table.item(r, 3).text().startswith("00:00:")
    assert dlg.table.item(r, 6).text() == "closed"
    assert not dlg.open_button.isEnabled()
    dlg.table.selectRow(r)
    assert dlg.open_button.isEnabled()
    dlg.open_button.click()
    assert dlg.chosen_url == stored_shift
    assert "dmw-test-secret" not in window.settings.qs.value("history/server")
    with qtbot.waitSignal(window.recording_opened, timeout=60_000):
        window.open_recording(dlg.chosen_url)
    assert "ui-morning (machining13)" in window.windowTitle()
    t0, t1 = window.cursor.range
    assert t1 == pytest.approx(open_recording(shift_recording).time_range[1])
    window.cursor.seek(3600.0)
    assert window.store.state_at(3600.0).entities == open_recording(shift_recording).state_at(3600.0).entities


def test_a_shift_being_recorded_is_followed_live_from_a_second_machine(qtbot, window, pg_cluster,
                                                                       shift_recording: Path) -> None:  # noqa: ANN001
    """One session writes a shift to the server; this window opens it and follows it."""
    from twin.history.store import ShiftWriter, remember_password

    local = open_recording(shift_recording)
    events = local.events()
    url = pg_cluster.url + "?line=machining13&shift=ui-live"
    w = ShiftWriter(url, local.meta, password=pg_cluster.password, flush_interval_s=3600)
    half = len(events) // 2
    w.extend(events[:half])
    w.flush()
    remember_password(url, pg_cluster.password)  # what the dialog does with a typed password
    with qtbot.waitSignal(window.recording_opened, timeout=60_000):
        window.open_recording(url)
    first_end = window.cursor.range[1]
    assert first_end == pytest.approx(events[half - 1].t)
    w.extend(events[half:])
    w.close()
    qtbot.waitUntil(lambda: window.cursor.range[1] == pytest.approx(events[-1].t), timeout=30_000)
    assert not window.store.growing  # the writer closed the shift: no longer live


def test_a_shift_the_server_refuses_is_an_error_and_the_window_keeps_its_recents(
        qtbot, window, pg_cluster) -> None:  # noqa: ANN001
    """Opening a shift as a user the server does not know: a clear error, nothing crashes."""
    url = pg_cluster.url.replace("dmw@", "visitor@") + "?line=machining13&shift=ui-morning"
    window.settings.add_recent(url)
    with qtbot.waitSignal(window.open_failed, timeout=30_000) as failed:
        window.open_recording(url)
    assert "history server" in failed.args[0] and "'visitor'" in failed.args[0]
    assert url in window.settings.recent_files()  # the server may be back tomorrow


def test_the_server_field_starts_empty_and_listing_without_one_says_what_to_enter(
        qtbot, window) -> None:  # noqa: ANN001
    """No made-up server ("user@localhost/plant") to connect as: the field shows the form a
    server address takes, and List shifts asks for one."""
    from ui.history_dialog import QtHistoryDialog

    dlg = QtHistoryDialog(window.settings, window)
    qtbot.addWidget(dlg)
    assert dlg.server.text() == ""
    assert dlg.server.placeholderText() == "postgresql://user@host[:port]/database"
    assert not dlg.refresh()
    assert "enter the plant-history server" in dlg.message.text()
    assert dlg.table.rowCount() == 0
