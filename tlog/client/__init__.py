"""The I/O edge for consumers and monitors: the verifying client (``log``), the trusted state
(``trust``), search, the monitor, the witness client, admission on all cores and queueing.

``from tlog.client import LogClient`` and the other names of ``tlog.client.log`` work here.
"""

from tlog.client.log import *  # noqa: F403 (the verifying client's names are the package's)
from tlog.client.log import __all__ as __all__
