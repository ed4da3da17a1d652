"""Live sources of shop-floor events behind one protocol (see :mod:`twin.sources.base`)."""

from twin.sources.base import (
    Gap,
    Note,
    PacedSource,
    Rejected,
    Source,
    SourceBatch,
    SourceError,
    SourceState,
    SourceStatus,
    open_source,
    redact,
    register_lazy,
    register_scheme,
)

__all__ = [
    "Gap", "Note", "PacedSource", "Rejected", "Source", "SourceBatch", "SourceError", "SourceState",
    "SourceStatus", "open_source", "redact", "register_lazy", "register_scheme",
]

# Each connector module calls register_scheme() when imported; open_source() imports it
# only when a URL of its scheme is opened, so no protocol stack loads before it is needed.
register_lazy("sim", "twin.sources.sim")
register_lazy("mqtt", "twin.sources.mqtt")
register_lazy("mqtts", "twin.sources.mqtt")
register_lazy("opc.tcp", "twin.sources.opcua")
register_lazy("mtconnect", "twin.sources.mtconnect")
register_lazy("shdr", "twin.sources.mtconnect")
