"""Credentials: stored in a keyring when one exists (keyed by server, never by path or password),
otherwise nothing is stored and the user is told the password is asked each time."""

from __future__ import annotations

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from twin import credentials
from twin.errors import CommandError
from twin.serve_cli import resolve_password


class MemoryKeyring(KeyringBackend):
    """A keyring backend holding secrets in a dict (stands in for the OS's Secret Service)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if self.secrets.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


# keyring registers every backend class for its automatic choice; this one is only ever set
# explicitly by the fixture below, never picked by a later test's first keyring call
KeyringBackend._classes.discard(MemoryKeyring)


@pytest.fixture()
def memory_keyring():  # noqa: ANN201
    old = keyring.get_keyring()
    kr = MemoryKeyring()
    keyring.set_keyring(kr)
    yield kr
    keyring.set_keyring(old)


def test_without_a_keyring_nothing_is_stored_and_the_user_is_told() -> None:
    old = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        st = credentials.store()
        assert not st.persistent and "asked each time" in st.description
        assert credentials.set_password("mqtts://b:8883/dmw", "u", "pw") is False
        assert credentials.get_password("mqtts://b:8883/dmw", "u") is None
        with pytest.raises(CommandError, match="no password for user 'u'.*asked each time"):
            resolve_password("mqtts://b:8883/dmw", "u", None)  # stdin is not a terminal here
    finally:
        keyring.set_keyring(old)


def test_a_keyring_keeps_the_password_per_server_and_user(memory_keyring: MemoryKeyring) -> None:
    assert credentials.store().persistent
    assert "MemoryKeyring" in credentials.store().description
    assert credentials.set_password("mqtts://broker.plant:8883/line1?profile=json", "twin", "pw")
    # same server, other prefix: same login; other port or user: not
    assert credentials.get_password("mqtts://broker.plant:8883/line2", "twin") == "pw"
    assert credentials.get_password("mqtts://broker.plant:1883/line1", "twin") is None
    assert credentials.get_password("mqtts://broker.plant:8883/line1", "other") is None
    assert list(memory_keyring.secrets) == [("dmw-twin mqtts://broker.plant:8883", "twin")]
    assert resolve_password("mqtts://broker.plant:8883/x", "twin", None) == "pw"
    credentials.delete_password("mqtts://broker.plant:8883/x", "twin")
    credentials.delete_password("mqtts://broker.plant:8883/x", "twin")  # twice: no error
    assert credentials.get_password("mqtts://broker.plant:8883/x", "twin") is None


def test_a_source_given_only_a_user_name_uses_the_stored_password(
        memory_keyring: MemoryKeyring) -> None:
    from twin.sources import open_source

    credentials.set_password("mqtts://broker.plant:8883/x", "twin", "kept")
    src = open_source("mqtts://twin@broker.plant:8883/line1")
    assert src.settings.password == "kept"
    assert "kept" not in src.url and "kept" not in repr(src.settings)
    other = open_source("mqtts://someone@broker.plant:8883/line1")
    assert other.settings.password is None
