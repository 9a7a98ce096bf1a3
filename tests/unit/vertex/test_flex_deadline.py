"""Flex by deadline's decision, on a fake clock: Flex first, Standard for what
Flex cannot answer in time at its measured pace, and a call given to Flex
moves (waiting its turn, or refused by Flex) only when Flex has more than it
can finish."""
from vertex.flex_deadline import MAX_FLEX_429, WARM_UP, FlexByDeadline


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def full_flex(clock, deadline_in, answers_per_s, latency_s=0.3, in_flight=64):
    """A planner whose Flex refused a call (it is full) and then answered
    WARM_UP records at this pace."""
    plan = FlexByDeadline(clock.now + deadline_in, in_flight, clock=clock)
    for _ in range(WARM_UP):
        assert plan.tier() == "flex"
    plan.refused()
    for _ in range(WARM_UP):
        clock.now += 1 / answers_per_s
        plan.answered(latency_s)
        plan.done()
    return plan


def test_before_flex_has_refused_a_call_it_gets_what_the_calls_in_flight_can_do():
    clock = Clock()
    plan = FlexByDeadline(clock.now + 60, in_flight=10, clock=clock)
    assert [plan.tier() for _ in range(20)] == ["flex"] * 20
    plan.answered(2.0)               # 10 in flight at 2.4 s: about 4 a second for 57 s
    tiers = [plan.tier() for _ in range(400)]
    assert 150 < tiers.count("flex") < 260 and tiers[-1] == "standard"


def test_a_full_flex_gets_what_it_can_answer_in_time_and_standard_the_rest():
    clock = Clock()
    plan = full_flex(clock, deadline_in=11, answers_per_s=5)  # 5/s, 10 s left: about 40
    tiers = [plan.tier() for _ in range(100)]
    assert 30 <= tiers.count("flex") <= 50, tiers.count("flex")
    assert tiers[-1] == "standard"
    for _ in range(10):              # as Flex answers, it gets more
        clock.now += 0.2
        plan.answered(0.3)
        plan.done()
    assert plan.tier() == "flex"


def test_without_a_deadline_close_flex_keeps_everything():
    clock = Clock()
    plan = full_flex(clock, deadline_in=3600, answers_per_s=5)
    assert all(plan.tier() == "flex" for _ in range(1000))


def test_a_record_whose_flex_answer_would_come_too_late_goes_to_standard():
    clock = Clock()
    plan = FlexByDeadline(clock.now + 10, in_flight=64, clock=clock)
    plan.tier()
    plan.answered(30.0)              # Flex answers in 30 s, 10 s are left
    assert plan.tier() == "standard"


def test_a_call_given_to_flex_moves_only_when_flex_has_more_than_it_can_finish():
    clock = Clock()
    plan = full_flex(clock, deadline_in=120, answers_per_s=5)
    plan.tier()
    assert not plan.leave_flex(MAX_FLEX_429)          # Flex will get to it in time
    assert not plan.leave_flex(None)                  # nor while it waits its turn
    for _ in range(2000):
        plan.tier()                                   # Flex is given all it can do...
    clock.now += 90                                   # ...and then answers nothing for 90 s
    assert not plan.leave_flex(MAX_FLEX_429 - 1)      # not refused often enough yet
    pending = plan.pending
    assert plan.leave_flex(MAX_FLEX_429) and plan.pending == pending - 1
    assert plan.leave_flex(None) and plan.moved == 2  # one waiting its turn moves too


def test_with_the_record_count_known_standard_gets_its_share_all_along_not_at_the_end():
    clock = Clock()
    plan = FlexByDeadline(clock.now + 101, in_flight=64, records=1000, clock=clock)
    for _ in range(WARM_UP):
        plan.tier()
    plan.refused()
    for _ in range(WARM_UP):
        clock.now += 0.2             # Flex answers 5 a second: about 400 of 1000 in time
        plan.answered(0.3)
        plan.done()
    first = [plan.tier() for _ in range(60)]
    assert "standard" in first and "flex" in first   # from the start, spread
    assert 0.2 < first.count("flex") / len(first) < 0.6
