"""OPC UA application certificates and the trust folder, for our server and our client.

On first use a self-signed application certificate (RSA 2048, SHA-256, valid 5 years,
fit for Basic256Sha256) is generated with the ``cryptography`` package and kept under the
certificate folder, by default ``<user config dir>/dmw-twin/opcua`` (``platformdirs``;
override with the ``cert_dir`` option or the ``DMW_TWIN_OPCUA_DIR`` environment variable)::

    own/server_cert.der, own/server_key.pem     this machine's server identity
    own/client_cert.der, own/client_key.pem     this machine's client identity
    trusted/                                    peers' certificates we trust (.der or .pem)
    rejected/                                   peers we refused, saved so a person can trust
                                                one by moving it into trusted/

A peer (a server we connect to, a client connecting to us) whose certificate is not in
``trusted/`` is refused; its certificate is written into ``rejected/`` and the message
names both folders. The private keys are written readable by their owner only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import os
import re
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

#: Environment variable that moves the certificate folder (tests, portable installs).
CERT_DIR_ENV = "DMW_TWIN_OPCUA_DIR"
#: Message security modes we offer and accept, with policy Basic256Sha256.
MODES = ("None", "Sign", "SignAndEncrypt")
CERT_DAYS = 5 * 365


class SecurityError(ValueError):
    """A security option is wrong (unknown mode, unreadable key); names the problem."""


def default_cert_dir() -> Path:
    """The certificate folder: ``$DMW_TWIN_OPCUA_DIR`` or ``<user config>/dmw-twin/opcua``."""
    env = os.environ.get(CERT_DIR_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("dmw-twin")) / "opcua"


def normalise_mode(mode: str) -> str:
    """``"signandencrypt"`` → ``"SignAndEncrypt"``; SecurityError for an unknown mode."""
    for m in MODES:
        if mode.replace("_", "").replace("-", "").lower() == m.lower():
            return m
    raise SecurityError(f"security mode {mode!r}: expected one of {', '.join(MODES)}")


def application_uri(role: str) -> str:
    """Our application URI as a ``role`` ("server" or "client") on this host."""
    return f"urn:dmw-twin:{role}:{socket.gethostname()}"


def thumbprint(cert: x509.Certificate) -> str:
    """SHA-1 thumbprint (how OPC UA tools show a certificate), hex with colons."""
    h = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()  # noqa: S324 - a name, not a check
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


def common_name(cert: x509.Certificate) -> str:
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cn[0].value) if cn else "(no name)"


class CertStore:
    """The certificate folder (see the module docstring) for one machine."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_cert_dir()
        self.own = self.root / "own"
        self.trusted = self.root / "trusted"
        self.rejected = self.root / "rejected"

    def ensure(self) -> None:
        for d in (self.own, self.trusted, self.rejected):
            d.mkdir(parents=True, exist_ok=True)

    def own_paths(self, role: str) -> tuple[Path, Path]:
        return self.own / f"{role}_cert.der", self.own / f"{role}_key.pem"

    def identity(self, role: str) -> tuple[Path, Path, str]:
        """(certificate, private key, application URI) of ``role``, generated on first use."""
        self.ensure()
        cert_path, key_path = self.own_paths(role)
        uri = application_uri(role)
        if cert_path.is_file() and key_path.is_file():
            try:
                cert = x509.load_der_x509_certificate(cert_path.read_bytes())
                san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                fresh = cert.not_valid_after_utc > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=7)
                if fresh and uri in san.get_values_for_type(x509.UniformResourceIdentifier):
                    return cert_path, key_path, uri
            except (ValueError, x509.ExtensionNotFound):
                log.warning("%s unreadable; generating a new %s certificate", cert_path, role)
        self._generate(role, uri, cert_path, key_path)
        return cert_path, key_path, uri

    def _generate(self, role: str, uri: str, cert_path: Path, key_path: Path) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        host = socket.gethostname()
        name = x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, f"DMW Twin {role} ({host})"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DMW Twin"),
        ])
        now = dt.datetime.now(dt.timezone.utc)
        uses = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH] if role == "server" \
            else [ExtendedKeyUsageOID.CLIENT_AUTH]
        cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.SubjectAlternativeName([
                x509.UniformResourceIdentifier(uri), x509.DNSName(host), x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=False)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=True,
                data_encipherment=True, key_agreement=False, key_cert_sign=True, crl_sign=False,
                encipher_only=False, decipher_only=False), critical=False)
            .add_extension(x509.ExtendedKeyUsage(uses), critical=False)
            .sign(key, hashes.SHA256())
        )
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
        log.info("generated OPC UA %s certificate %s (%s)", role, cert_path, thumbprint(cert))

    def trust(self, cert_file: str | os.PathLike[str]) -> Path:
        """Copy a peer's certificate into ``trusted/`` (what a person does by hand)."""
        self.ensure()
        src = Path(cert_file)
        dst = self.trusted / src.name
        dst.write_bytes(src.read_bytes())
        return dst

    def save_rejected(self, cert: x509.Certificate) -> Path:
        """Write a refused peer's certificate into ``rejected/``; returns its path."""
        self.ensure()
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", common_name(cert)).strip("_") or "peer"
        path = self.rejected / f"{stem}-{thumbprint(cert).replace(':', '')[:16]}.der"
        path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
        return path

    def untrusted_message(self, who: str, cert: x509.Certificate, saved: Path) -> str:
        return (f"{who} certificate '{common_name(cert)}' (SHA-1 {thumbprint(cert)}) is not trusted; "
                f"it was saved as {saved} — to trust it, move it into {self.trusted} and connect again")

    def validator(self, peer: str, on_reject: Callable[[str], None] | None = None
                  ) -> Callable[[x509.Certificate, Any], Awaitable[None]]:
        """An asyncua certificate validator for ``peer`` ("server" or "client"): time range,
        application URI, key usage and trust (the ``trusted/`` folder, re-read at every
        check so a newly trusted peer works without a restart). A refused certificate is
        saved into ``rejected/`` and ``on_reject`` gets the readable message."""
        from asyncua.common.utils import ServiceError
        from asyncua.crypto.truststore import TrustStore
        from asyncua.crypto.validator import CertificateValidator
        from asyncua.crypto.validator import CertificateValidatorOptions as Opt
        from asyncua.ua import StatusCodes

        role = Opt.PEER_SERVER if peer == "server" else Opt.PEER_CLIENT
        self.ensure()

        async def validate(cert: x509.Certificate, app: Any) -> None:
            store: TrustStore | None = TrustStore([self.trusted], [])
            try:
                await store.load()  # type: ignore[union-attr]
            except ValueError:  # an empty trust folder: nobody is trusted
                store = None
            options = Opt.TRUSTED_VALIDATION if store is not None else Opt.EXT_VALIDATION
            checker = CertificateValidator(options | role, store)
            try:
                await checker.validate(cert, app)
                if store is None:
                    raise ServiceError(StatusCodes.BadCertificateUntrusted)
            except ServiceError as exc:
                if exc.code == StatusCodes.BadCertificateUntrusted:
                    saved = self.save_rejected(cert)
                    msg = self.untrusted_message(f"the {peer}'s", cert, saved)
                else:
                    from asyncua.ua import StatusCode

                    msg = (f"the {peer}'s certificate '{common_name(cert)}' was refused "
                           f"({StatusCode(exc.code).name})")
                log.warning("%s", msg)
                if on_reject is not None:
                    on_reject(msg)
                raise

        return validate
