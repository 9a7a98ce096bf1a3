"""A spending limit (--max_cost_usd). A call starts only while the money
spent (answers priced as they arrive) plus the calls in flight and itself
(at their estimates) stays within it; otherwise it waits for the calls in
flight to settle.
Once the money spent alone reaches it, no attempt of any kind starts (a new
record, a retry, a re-ask, another image of a record). The spend passes the
limit only where answers cost more than estimated, or by one call that
started alone. One per worker process, on its event loop."""
from __future__ import annotations

import asyncio


class BudgetExhaustedError(Exception):
    """A record was not called: the budget was spent. Rerun with
    --skip_existing (and a larger --max_cost_usd) to call it."""
    error_code = "budget_exhausted"


class Budget:
    def __init__(self, max_usd: float | None = None):
        self.max_usd = max_usd
        self.spent_usd = 0.0
        self.in_flight_usd = 0.0
        self._calls = 0  # booked and not yet settled
        self._settled: asyncio.Condition | None = None  # made on the event loop

    @property
    def limited(self) -> bool:
        return self.max_usd is not None

    async def reserve(self, estimate_usd: float, wait: bool = True) -> bool:
        """Books a call about to start; False once the money spent reached
        the limit. While this call and those in flight (at their estimates)
        would take the spend past the limit, it waits for them to settle (their
        real cost is often below the estimate); with nothing in flight it
        starts, so the spend passes the limit by one call at most. A call made
        while its record holds a reservation (a re-ask) does not wait (it
        would wait for itself): it is refused when it does not fit."""
        if self.max_usd is None:
            return True
        if self._settled is None:
            self._settled = asyncio.Condition()
        async with self._settled:
            while self.spent_usd + self.in_flight_usd + estimate_usd > self.max_usd \
                    and self._calls:
                if not wait:
                    return False
                await self._settled.wait()
            if self.reached():
                return False
            self.in_flight_usd += estimate_usd
            self._calls += 1
            return True

    def reached(self) -> bool:
        """The money spent has reached the limit: no attempt may start."""
        return self.max_usd is not None and self.spent_usd >= self.max_usd

    async def settle(self, estimate_usd: float, cost_usd: float | None) -> None:
        """A booked call ended: its estimate leaves, its real cost stays
        (the estimate, when the cost is unknown)."""
        if self.max_usd is None:
            return
        self.in_flight_usd -= estimate_usd
        self.spent_usd += estimate_usd if cost_usd is None else cost_usd
        self._calls -= 1
        async with self._settled:
            self._settled.notify_all()

    def refusal(self) -> BudgetExhaustedError:
        return BudgetExhaustedError(
            f"not called: --max_cost_usd {self.max_usd:g} was reached (spent "
            f"${self.spent_usd:.4f}, ${self.in_flight_usd:.4f} in flight); rerun with "
            "--skip_existing to go on")
