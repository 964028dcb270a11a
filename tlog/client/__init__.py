"""The I/O edge for consumers and monitors: the verifying client (``log``), the trusted state
(``trust``), search, the monitor, the witness client, admission on all cores and queueing.

``from tlog.client import LogClient`` and the other names of ``tlog.client.log`` work here.
"""

from tlog.client.log import (
    LogClient,
    TileSource,
    TrustUpdate,
    VerifiedCheckpoint,
    VerifiedEntry,
    WitnessPolicy,
    fetch_checkpoint,
    open_log_checkpoint,
    verify_bundle,
    witness_policy,
)

__all__ = [
    "LogClient",
    "TileSource",
    "TrustUpdate",
    "VerifiedCheckpoint",
    "VerifiedEntry",
    "WitnessPolicy",
    "fetch_checkpoint",
    "open_log_checkpoint",
    "verify_bundle",
    "witness_policy",
]
