"""Forecast dock: from the cursor, a band beyond it on the charts and an order table."""

from __future__ import annotations

from ui.forecast import LATE, ORDER_COLUMNS


def test_forecast_from_the_cursor_shows_band_and_order_table(qtbot, opened) -> None:  # noqa: ANN001
    w = opened
    panel = w.forecast
    w.cursor.seek(3600.0)
    panel.runs_box.setValue(3)
    with qtbot.waitSignal(panel.finished, timeout=120_000) as done:
        assert panel.run()
        assert not panel.run()  # one forecast at a time
    fc = done.args[0]
    assert fc.at_s == 3600.0 and fc.runs == 3
    # the order table lists every open order at the cursor, late ones in red
    open_orders = {e.entity for e in w.store.state_at(3600.0).of_kind("order")
                   if e.state == "released"}
    assert panel.table.rowCount() == len(fc.orders) == len(open_orders) > 0
    assert [panel.table.horizontalHeaderItem(j).text() for j in range(len(ORDER_COLUMNS))] \
        == list(ORDER_COLUMNS)
    for i, o in enumerate(fc.orders):
        item = panel.table.item(i, 0)
        assert item.text() == o.order
        assert (item.foreground().color() == LATE) == o.late
    assert f"{fc.parts.p50:.0f}" in panel.summary.text()
    # the WIP and throughput charts show the band from the cursor to the end of the shift
    lo, hi, _fill, mid = panel.bands.items["wip"]
    assert mid.xData[0] == 3600.0 and mid.xData[-1] == fc.until_s
    assert all(a <= b for a, b in zip(lo.yData, hi.yData))
    assert panel.bands.visible("throughput")
    vb = w.charts.wip_plot.getViewBox()
    qtbot.waitUntil(lambda: vb.viewRange()[0][1] >= fc.until_s, timeout=5_000)
    assert vb.viewRange()[1][1] >= max(b.p90 for b in fc.wip)  # the band is not cut off
    tp_top = w.charts.tp_plot.getViewBox().viewRange()[1][1]
    assert tp_top >= max(b.p90 for b in fc.throughput)
    # a new source clears the stale forecast
    w.store.reset.emit()
    assert panel.table.rowCount() == 0 and not panel.bands.visible("wip")


def test_forecast_can_be_aborted(qtbot, opened) -> None:  # noqa: ANN001
    panel = opened.forecast
    opened.cursor.seek(1800.0)
    panel.runs_box.setValue(11)  # in this process: abort is checked between runs
    assert panel.run()
    panel.abort()
    with qtbot.waitSignal(panel.worker.finished, timeout=120_000):
        pass
    assert "aborted" in panel.summary.text()
    assert panel.forecast is None and panel.table.rowCount() == 0
    assert panel.run_button.isEnabled() and not panel.abort_button.isEnabled()


def test_a_live_session_refreshes_the_forecast_every_n_minutes_of_shop_time(
        qtbot, window, monkeypatch) -> None:  # noqa: ANN001
    panel = window.forecast
    started: list[float] = []
    monkeypatch.setattr(panel, "run", lambda at=None: started.append(at) or True)
    window.store.start_live(["S01"])
    for t in (60.0, 300.0, 600.0, 700.0, 1300.0):
        window.store.appended.emit(t)
    assert started == []  # off by default
    panel.refresh_box.setValue(10)
    panel._last_at = 60.0  # the forecast shown was made at 00:01:00
    for t in (300.0, 600.0, 700.0, 1300.0):
        window.store.appended.emit(t)
        if started and started[-1] == t:
            panel._last_at = t
    assert started == [700.0, 1300.0]
