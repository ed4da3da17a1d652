"""File › Connect…: "Test connection" against a real mosquitto says connected, or why not
(wrong password), and recent connections come back without their password."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.twin.mosquitto import Broker, need_mosquitto

pytestmark = need_mosquitto


@pytest.fixture(autouse=True)
def no_keyring():  # noqa: ANN201
    """As on this machine and most servers: no usable keyring backend."""
    import keyring
    from keyring.backends import fail

    old = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(old)


@pytest.fixture()
def broker(tmp_path: Path):  # noqa: ANN201
    with Broker(tmp_path / "broker", users={"line1": "pw-9"}) as b:
        yield b


def dialog(qtbot, settings):  # noqa: ANN001, ANN201
    from ui.connect import QtConnectDialog

    d = QtConnectDialog(settings, workshops=["machining13", "assembly4"], test_timeout_s=5)
    qtbot.addWidget(d)
    d.show()
    return d


def test_test_connection_reports_connected_or_the_refusal(qtbot, settings, broker) -> None:  # noqa: ANN001
    d = dialog(qtbot, settings)
    d.url.setEditText(broker.url("dmw"))
    d.user.setText("line1")
    d.password.setText("wrong")
    qtbot.mouseClick(d.test_button, __import__("PySide6.QtCore").QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: d.result.text().startswith("✗"), timeout=8000)
    assert "bad user name or password" in d.result.text()
    d.password.setText("pw-9")
    d.test_button.click()
    qtbot.waitUntil(lambda: d.result.text().startswith("✓"), timeout=8000)
    assert f"connected to 127.0.0.1:{broker.port}" in d.result.text()
    assert d.test_button.isEnabled()  # the test source was closed again


def test_unreachable_broker_is_said_in_words(qtbot, settings) -> None:  # noqa: ANN001
    from tests.twin.mosquitto import free_port

    d = dialog(qtbot, settings)
    d.test_timeout_s = 1.5
    d.url.setEditText(f"mqtt://127.0.0.1:{free_port()}/dmw")
    d.test_button.click()
    qtbot.waitUntil(lambda: d.result.text().startswith("✗"), timeout=5000)
    assert "connection refused" in d.result.text()


def test_recent_connections_are_remembered_without_the_password(qtbot, settings,
                                                                tmp_path: Path) -> None:  # noqa: ANN001
    d = dialog(qtbot, settings)
    d.url.setEditText("mqtts://line1:pw-in-url@broker.plant:8883/dmw")
    d.profile.setCurrentText("sparkplug")
    d.workshop.setEditText("assembly4")
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\n")
    d.ca_file.setText(str(bad))
    d.accept()
    assert d.isVisible() and "TLS files" in d.result.text()
    from tests.twin.mosquitto import make_certs

    ca = make_certs(tmp_path)["ca"]
    d.ca_file.setText(str(ca))
    d.accept()
    assert not d.isVisible()
    req = d.accepted_request
    assert req.url == "mqtts://line1@broker.plant:8883/dmw"
    assert req.options == {"profile": "sparkplug", "username": "line1", "password": "pw-in-url",
                           "ca_file": str(ca)}
    settings.sync()
    stored = Path(settings.qs.fileName()).read_text()
    assert "broker.plant" in stored and "pw-in-url" not in stored

    again = dialog(qtbot, settings)
    assert again.url.currentText() == "mqtts://line1@broker.plant:8883/dmw"
    assert (again.profile.currentText(), again.workshop.currentText()) == ("sparkplug", "assembly4")
    assert again.user.text() == "line1" and again.ca_file.text() == str(ca)
    assert again.password.text() == ""  # no keyring here: asked each time
    assert "asked each time" in again.keyring_note.text() and not again.remember.isEnabled()


def test_a_bad_url_keeps_the_dialog_open_with_the_reason(qtbot, settings) -> None:  # noqa: ANN001
    d = dialog(qtbot, settings)
    d.url.setEditText("mqtt://broker:notaport/dmw")
    d.accept()
    assert d.isVisible() and "port is not a number" in d.result.text()


def test_with_a_keyring_a_remembered_password_comes_back(qtbot, settings) -> None:  # noqa: ANN001
    import keyring

    from tests.twin.test_credentials import MemoryKeyring

    kr = MemoryKeyring()
    keyring.set_keyring(kr)
    d = dialog(qtbot, settings)
    assert d.remember.isEnabled() and "system keyring" in d.keyring_note.text()
    d.url.setEditText("mqtt://broker.plant:1883/dmw")
    d.user.setText("line1")
    d.password.setText("pw-9")
    d.remember.setChecked(True)
    d.accept()
    assert kr.secrets == {("dmw-twin mqtt://broker.plant:1883", "line1"): "pw-9"}
    settings.sync()
    assert "pw-9" not in Path(settings.qs.fileName()).read_text()
    again = dialog(qtbot, settings)
    assert again.password.text() == "pw-9" and again.remember.isChecked()
    again.remember.setChecked(False)  # forget it
    again.accept()
    assert kr.secrets == {}


def test_file_connect_follows_an_mqtt_feed_and_records_it_without_the_password(
        qtbot, window, broker, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    import types

    from twin.events import Event
    from twin.recording import open_recording
    from twin.sources.mqtt_publisher import MqttPublisher
    import ui.main_window as mw

    monkeypatch.setattr(mw, "recordings_dir", lambda: tmp_path)
    w = window
    w.choose_connection()
    d = w.connect_dialog
    assert d.isVisible()
    d.url.setEditText(broker.url("plant"))
    d.user.setText("line1")
    d.password.setText("pw-9")
    with qtbot.waitSignal(w.live_started, timeout=60_000) as started:
        d.connect_button.click()
    qtbot.waitUntil(lambda: "connected" in w.status.state_label.text(), timeout=10_000)
    assert "connected to 127.0.0.1" in w.status.state_label.text()
    pub = MqttPublisher(broker.url("plant"), types.SimpleNamespace(name="machining13"),
                        username="line1", password="pw-9")
    pub.start()
    assert pub.wait_connected(10)
    pub.publish([Event(5.0, "S01", "station", "processing", wip="W1"),
                 Event(8.0, "S02", "station", "down")])
    qtbot.waitUntil(lambda: w.session.counters.accepted == 2, timeout=10_000)
    pub.stop()
    w.stop_live()
    rec = open_recording(Path(started.args[0]))
    assert [(e.t, e.entity, e.state) for e in rec.events(0.0, 1e9)] == [
        (5.0, "S01", "processing"), (8.0, "S02", "down")]
    assert rec.meta["source"] == broker.url("plant") and rec.meta["workshop"] == "machining13"
    assert "pw-9" not in Path(started.args[0]).read_bytes().decode("latin-1")
