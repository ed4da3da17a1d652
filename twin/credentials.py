"""Passwords for brokers and servers: the system keyring where there is one, else ask each time.

Credentials never go into a recording, a settings file or a log: connections are remembered
by their URL without the password (:func:`twin.sources.redact`), and the password is stored
under that URL and the user name in the operating system's keyring (Secret Service / KWallet
on Linux, Keychain on macOS, Credential Locker on Windows) through ``keyring``. Where no usable
keyring backend exists (a headless server, a container) nothing is stored and the caller must
ask the user each time; :func:`store` says which of the two applies, in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

#: The keyring "service" names start with this, followed by the connection's key.
SERVICE_PREFIX = "dmw-twin"


@dataclass(frozen=True)
class CredentialStore:
    """Where passwords go: ``persistent`` (a real keyring) or not (ask each time)."""

    persistent: bool
    description: str


def connection_key(url: str) -> str:
    """What a password is stored under: scheme, host and port (``mqtts://broker:8883``);
    the path and query do not change who we log in to."""
    p = urlsplit(url)
    host = p.hostname or ""
    port = f":{p.port}" if p.port else ""
    return f"{SERVICE_PREFIX} {p.scheme}://{host}{port}"


def store() -> CredentialStore:
    """The keyring backend in use, or why passwords will be asked for each time."""
    try:
        import keyring
        from keyring.backends import fail

        kr = keyring.get_keyring()
    except Exception as exc:  # noqa: BLE001 - a broken keyring install must not stop the app
        return CredentialStore(False, f"no system keyring ({exc}): the password is asked each time")
    if isinstance(kr, fail.Keyring) or getattr(kr, "priority", 0) <= 0:
        name = f"{type(kr).__module__}.{type(kr).__name__}"
        return CredentialStore(False, f"no system keyring available ({name}): the password is "
                                      "asked each time and never stored")
    return CredentialStore(True, f"system keyring ({type(kr).__module__}.{type(kr).__name__})")


def get_password(url: str, username: str) -> str | None:
    """The stored password of ``username`` at ``url``'s server, None when none is stored
    (or there is no keyring)."""
    if not store().persistent:
        return None
    import keyring

    try:
        return keyring.get_password(connection_key(url), username)
    except Exception:  # noqa: BLE001 - a locked or failing keyring: ask instead
        return None


def set_password(url: str, username: str, password: str) -> bool:
    """Remember a password in the keyring; False (nothing stored) when there is no keyring."""
    if not store().persistent:
        return False
    import keyring

    try:
        keyring.set_password(connection_key(url), username, password)
    except Exception:  # noqa: BLE001
        return False
    return True


def delete_password(url: str, username: str) -> None:
    """Forget a stored password (nothing happens when none is stored)."""
    if not store().persistent:
        return
    import keyring
    from keyring.errors import PasswordDeleteError

    try:
        keyring.delete_password(connection_key(url), username)
    except PasswordDeleteError:
        pass
