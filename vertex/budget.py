"""A spending limit (--max_cost_usd): once the money spent (answers priced
as they arrive) plus the calls in flight (at their estimates) reaches it, no
new record is called; once the money spent alone reaches it, no attempt of
any kind starts (a retry, a re-ask, another image of a record). The spend
can pass the limit by what was in flight when it was reached, at most. One
per worker process, on its event loop."""
from __future__ import annotations


class BudgetExhaustedError(Exception):
    """A record was not called: the budget was spent. Rerun with
    --skip_existing (and a larger --max_cost_usd) to call it."""
    error_code = "budget_exhausted"


class Budget:
    def __init__(self, max_usd: float | None = None):
        self.max_usd = max_usd
        self.spent_usd = 0.0
        self.in_flight_usd = 0.0

    @property
    def limited(self) -> bool:
        return self.max_usd is not None

    def reserve(self, estimate_usd: float) -> bool:
        """Books a call about to start; False when the budget is reached."""
        if self.max_usd is None:
            return True
        if self.spent_usd + self.in_flight_usd >= self.max_usd:
            return False
        self.in_flight_usd += estimate_usd
        return True

    def reached(self) -> bool:
        """The money spent has reached the limit: no attempt may start."""
        return self.max_usd is not None and self.spent_usd >= self.max_usd

    def settle(self, estimate_usd: float, cost_usd: float | None) -> None:
        """A booked call ended: its estimate leaves, its real cost stays
        (the estimate, when the cost is unknown)."""
        if self.max_usd is None:
            return
        self.in_flight_usd -= estimate_usd
        self.spent_usd += estimate_usd if cost_usd is None else cost_usd

    def refusal(self) -> BudgetExhaustedError:
        return BudgetExhaustedError(
            f"not called: --max_cost_usd {self.max_usd:g} was reached (spent "
            f"${self.spent_usd:.4f}, ${self.in_flight_usd:.4f} in flight); rerun with "
            "--skip_existing to go on")
