"""The limiter on a fake clock: what it decides, not how long it takes."""
import asyncio

import pytest

from vertex.rate_limit import RateLimiter


class FakeTime:
    def __init__(self):
        self.now = 1000.0

    def clock(self):
        return self.now

    async def sleep(self, seconds):
        self.now += seconds


def starts(limiter, time, token_counts):
    async def go():
        result = []
        for tokens in token_counts:
            await limiter.acquire(tokens)
            result.append(round(time.now - 1000.0, 6))
        return result
    return asyncio.run(go())


def test_requests_are_spaced_evenly_at_the_rpm():
    time = FakeTime()
    limiter = RateLimiter(rpm=600, clock=time.clock, sleep=time.sleep)
    assert starts(limiter, time, [0] * 5) == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_tokens_per_minute_delay_the_request_after_a_large_one():
    time = FakeTime()
    limiter = RateLimiter(tpm=6000, clock=time.clock, sleep=time.sleep)  # 100 tokens/s
    assert starts(limiter, time, [50, 200, 10]) == [0.0, 0.5, 2.5]


def test_real_usage_corrects_the_estimate():
    time = FakeTime()
    limiter = RateLimiter(tpm=6000, clock=time.clock, sleep=time.sleep)
    starts(limiter, time, [100])
    limiter.settle(estimated_tokens=100, actual_tokens=300)
    assert starts(limiter, time, [0]) == [3.0]


def test_the_stricter_limit_wins():
    time = FakeTime()
    limiter = RateLimiter(rpm=60, tpm=600000, clock=time.clock, sleep=time.sleep)
    assert starts(limiter, time, [10, 10]) == [0.0, 1.0]


def test_no_limit_never_waits():
    time = FakeTime()
    assert starts(RateLimiter(clock=time.clock, sleep=time.sleep), time, [5, 5, 5]) == [0, 0, 0]


def test_an_idle_limiter_does_not_bank_a_burst():
    time = FakeTime()
    limiter = RateLimiter(rpm=60, clock=time.clock, sleep=time.sleep)
    starts(limiter, time, [0])
    time.now += 100  # idle for a long time
    assert starts(limiter, time, [0, 0]) == [100.0, 101.0]


@pytest.mark.parametrize("kwargs", [{"rpm": 0}, {"tpm": -1}])
def test_limits_must_be_positive(kwargs):
    with pytest.raises(ValueError):
        RateLimiter(**kwargs)


def adaptive(time, rpm=60.0):
    from vertex.rate_limit import AdaptiveRateLimiter
    return AdaptiveRateLimiter(rpm, clock=time.clock, sleep=time.sleep)


def test_adaptive_rate_doubles_per_second_until_the_first_429_then_cuts():
    time = FakeTime()
    limiter = adaptive(time, rpm=60)
    starts(limiter, time, [0, 0])  # the second call waited: the limit is what holds calls back
    limiter.on_success()           # one second after the start
    assert limiter.rpm == pytest.approx(120)
    limiter.on_throttled()         # 1 answer in the first second: 60 a minute accepted
    assert limiter.rpm == pytest.approx(54) and not limiter.slow_start
    limiter.on_throttled()         # the same burst of 429s: counted once
    assert limiter.rpm == pytest.approx(54)
    time.now += 3
    limiter.on_throttled()
    assert limiter.rpm == pytest.approx(48.6)


def test_a_first_429_before_a_whole_window_cuts_to_what_was_accepted_since_the_start():
    """A quota with a burst allowance (a token bucket) answers 429 only once
    the burst is spent, by when the slow start has run far past the quota:
    the rate it reached says nothing, what the server accepted does."""
    time = FakeTime()
    limiter = adaptive(time, rpm=600)
    for _ in range(100):           # 100 answers in the first 0.5 s
        time.now += 0.005
        limiter.on_success()
    limiter.rpm = 48_000           # where the slow start got to meanwhile
    limiter.on_throttled()
    assert limiter.rpm == pytest.approx(0.9 * 100 / 0.5 * 60)


@pytest.mark.parametrize("latency_s, doublings", [
    (0.05, 5.0),   # a fast server: once every 4 latencies (0.2 s)
    (0.25, 1.0),   # 4 latencies are a second: as before
    (2.0, 1.0),    # a slow one: still once a second, never slower
    (None, 1.0),   # no latency known
])
def test_slow_start_doubles_once_every_four_answered_latencies_at_most_once_a_second(
        latency_s, doublings):
    time = FakeTime()
    limiter = adaptive(time, rpm=60)
    starts(limiter, time, [0, 0])   # the limit is what holds calls back
    limiter.on_success(latency_s)
    before = limiter.rpm
    for _ in range(10):             # answers over the next second
        time.now += 0.1
        limiter.last_wait_at = time.now
        limiter.on_success(latency_s)
    assert limiter.rpm == pytest.approx(before * 2 ** doublings)


def test_on_a_429_the_rate_drops_to_just_under_what_the_server_accepted():
    time = FakeTime()
    limiter = adaptive(time, rpm=3000)
    time.now += 2
    for _ in range(50):            # 50 answers in the last 2 s: 1500 a minute
        limiter.on_success()
    limiter.on_throttled()
    assert limiter.rpm == pytest.approx(1350)


def test_adaptive_rate_grows_additively_after_the_first_429():
    time = FakeTime()
    limiter = adaptive(time, rpm=100)
    limiter.on_throttled()         # 90
    starts(limiter, time, [0, 0])
    limiter.on_success()           # 0.67 s of success at 1% of the rate per second
    assert limiter.rpm == pytest.approx(90.6)


def test_adaptive_rate_does_not_grow_while_something_else_holds_calls_back():
    time = FakeTime()
    limiter = adaptive(time, rpm=60)
    for _ in range(5):
        time.now += 10             # calls come rarely: the limiter never waits
        starts(limiter, time, [0])
        limiter.on_success()
    assert limiter.rpm == 60


def test_429s_that_do_not_follow_the_rate_do_not_cut_it_towards_nothing():
    """A storm on a shared pool: 3 in 10 answers are 429s whatever the rate.
    Each cut lowers what is accepted, which AIMD would follow down forever;
    the rate stays at no less than half the best accepted rate."""
    time = FakeTime()
    limiter = adaptive(time, rpm=600)
    answers = 0
    for second in range(120):
        calls = int(limiter.rpm / 60)
        for i in range(calls):
            time.now = 1000.0 + second + i / calls
            answers += 1
            if answers % 10 < 3:
                limiter.on_throttled()
            else:
                limiter.on_success()
    assert 600 * 0.7 * 0.5 * 0.7 <= limiter.rpm <= 600


def test_adaptive_rate_still_holds_a_tokens_per_minute_limit():
    from vertex.rate_limit import AdaptiveRateLimiter
    time = FakeTime()
    limiter = AdaptiveRateLimiter(6000, tpm=6000, clock=time.clock, sleep=time.sleep)
    assert starts(limiter, time, [100, 100]) == [0.0, 1.0]  # 100 tokens/s, not 100 requests/s
