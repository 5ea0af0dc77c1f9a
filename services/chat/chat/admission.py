"""Chat asks billing to admit and reserve an exchange (architecture §3): the send's only RPC beyond
the gateway's own, bounded by what is left of the gateway's deadline."""

from shared import deadlines
from shared.contracts import billing as b
from shared.errors import Timeout
from shared.rpc import RpcClient

# What the store step after the admission keeps of the caller's deadline: the commit margin
# (shared.deadlines) and its few statements. An admission answered later than that is of no use.
STORE_ALLOWANCE_SECONDS = 1.0


class BillingAdmission:
    def __init__(self, rpc: RpcClient, timeout_seconds: float) -> None:
        self.rpc = rpc
        self.timeout_seconds = timeout_seconds

    async def admit(self, request: b.AdmitExchange) -> b.Admission:
        """The admission (reservation made), or billing's denial (LimitExceeded, …) re-raised."""
        timeout = self.timeout_seconds
        left = deadlines.remaining()
        if left is not None:
            timeout = min(timeout, left - STORE_ALLOWANCE_SECONDS)
            if timeout <= 0:
                raise Timeout("too little of the request's deadline is left to admit the exchange")
        return await self.rpc.call(b.RpcNames.ADMIT, request, b.Admission, timeout=timeout)
