"""--max_cost_usd's bookkeeping: calls wait while those in flight could take
the spend past the limit, and none starts once the spend reached it."""
import asyncio

from vertex.budget import Budget


def test_no_limit_books_nothing():
    budget = Budget()
    assert asyncio.run(budget.reserve(5.0)) and not budget.reached()


def test_a_call_waits_for_those_in_flight_then_starts_if_the_spend_allows():
    async def scenario():
        budget = Budget(1.0)
        assert await budget.reserve(0.8)          # nothing spent: starts
        waiting = asyncio.create_task(budget.reserve(0.8))
        await asyncio.sleep(0.01)
        assert not waiting.done()                 # 0.8 in flight + 0.8 would pass 1.0
        await budget.settle(0.8, 0.1)             # the real cost was far below its estimate
        assert await waiting                      # 0.1 spent: it starts
        await budget.settle(0.8, 0.95)
        assert budget.reached()
        assert not await budget.reserve(0.01)     # spent: refused at once
        return budget
    budget = asyncio.run(scenario())
    assert budget.spent_usd == 1.05 and budget.in_flight_usd == 0


def test_a_call_larger_than_the_whole_budget_still_starts_alone_but_never_beside_another():
    async def scenario():
        budget = Budget(0.01)
        assert await budget.reserve(0.5)           # alone: starts (overshoot bounded by it)
        second = asyncio.create_task(budget.reserve(0.5))
        await asyncio.sleep(0.01)
        assert not second.done()
        await budget.settle(0.5, 0.02)             # spent past the limit
        assert not await second
    asyncio.run(scenario())


def test_a_re_ask_inside_a_reserved_call_never_waits_for_itself():
    async def scenario():
        budget = Budget(1.0)
        assert await budget.reserve(0.8)                     # the record's first ask
        assert not await budget.reserve(0.5, wait=False)     # its re-ask: does not fit
        assert await budget.reserve(0.1, wait=False)         # one that fits goes
    asyncio.run(asyncio.wait_for(scenario(), 5))
