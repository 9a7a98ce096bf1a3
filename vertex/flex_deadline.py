"""Flex first, Standard for what Flex cannot finish by the deadline
(--service_tier flex --finish_by ...). One per worker process, on its event loop.

Flex PayGo costs half of Standard but is slow by design and its capacity is
shared: it answers 429 when busy. The planner watches what Flex really does
in this process (its answers a second over the last minute, its latency) and
sends each record that asked for Flex by the job's default (a record's own
"service_tier" is never moved) to Flex or to Standard:

- Flex, while the records already given to it (sent, queued or retrying)
  are fewer than it can answer before the deadline, and its answer can
  still come in time (at its latency, 90th percentile, with a margin). What
  Flex can answer: until it refuses a call, what the calls in flight do at
  its latency; once it has (it is full), the answers a second it gave;
- with the job's record count known (local input), Flex gets, evenly spread,
  the share of the records not yet given a tier that it can answer in time
  beyond those it has, and Standard the rest all along, not left to the end
  (without a count, the rule above alone decides).

A call Flex keeps refusing (MAX_FLEX_429 429s) moves to Standard when Flex
has more than it can finish in time. Without a deadline nothing leaves Flex.
The clock is injectable for tests.
"""
from __future__ import annotations

import time
from collections import deque

WINDOW_S = 60.0          # the span Flex's pace is measured over
LATENCY_SAMPLES = 50     # the recent answers whose latency is the estimate
WARM_UP = 5              # Flex answers before its pace is trusted
MIN_SPAN_S = 1.0         # its pace is never taken from less time than this
MIN_PENDING = 4          # Flex always gets a few: its pace is measured on what it is given
MAX_FLEX_429 = 3         # 429s from Flex after which a call may move to Standard
FLEX_RECHECK_S = 0.25    # how often a Flex call waiting its turn asks whether to move
END_MARGIN_S = 1.0       # the last answers are wanted this much before the deadline
SAFETY = 1.2             # Flex's latency is taken as 1.2 times what it showed, its pace 1/1.2


class FlexByDeadline:
    def __init__(self, deadline: float, in_flight: int, records: int | None = None,
                 clock=time.time):
        self.deadline = deadline      # epoch seconds
        self.in_flight = in_flight    # calls this process keeps in flight at most
        self.records = records        # this process's share of the job's records, when known
        self.clock = clock
        self.saturated = False        # Flex answered 429: it is full, its pace is its capacity
        self.pending = 0              # records given to Flex and not done there
        self._credit = 0.0            # spreads the records Flex can take over the run
        self.sent_flex = self.sent_standard = self.moved = 0
        self.flex_answered = 0
        self._answers: deque[float] = deque()       # when Flex answered (last minute)
        self._latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._first_sent: float | None = None

    # the decisions

    def tier(self) -> str:
        """The tier of the next record that asked for Flex by the job's default."""
        now = self.clock()
        if self._takes_more(now) and self._its_turn(now):
            self.pending += 1
            self.sent_flex += 1
            if self._first_sent is None:
                self._first_sent = now
            return "flex"
        self.sent_standard += 1
        return "standard"

    def leave_flex(self, flex_429s: int | None) -> bool:
        """Whether a call given to Flex goes to Standard now: one Flex refused
        MAX_FLEX_429 times, or one still waiting its turn (flex_429s None),
        when Flex has more than it can finish in time, or its answer would
        come after the deadline."""
        now = self.clock()
        if (flex_429s is not None and flex_429s < MAX_FLEX_429) or (
                self._takes_more(now, waiting=1) and now + self.latency() <= self.deadline):
            return False
        self.pending -= 1
        self.moved += 1
        return True

    def stay(self) -> None:
        """Undoes a leave_flex whose call got its Flex turn meanwhile."""
        self.pending += 1
        self.moved -= 1

    # what Flex does

    def answered(self, latency_s: float) -> None:
        self.flex_answered += 1
        self._answers.append(self.clock())
        self._latencies.append(latency_s)

    def refused(self) -> None:
        """Flex answered 429: from now on its measured pace is what it can do."""
        self.saturated = True

    def done(self) -> None:
        """A record given to Flex is done there (answered, or failed for good)."""
        self.pending -= 1

    # estimates

    def latency(self) -> float:
        """Flex's latency as shown (90th percentile), with a margin; 0 before any answer."""
        if not self._latencies:
            return 0.0
        ordered = sorted(self._latencies)
        return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * SAFETY

    def pace(self, now: float) -> float:
        """Flex's answers a second over the last minute (since it was first given work)."""
        while self._answers and self._answers[0] < now - WINDOW_S:
            self._answers.popleft()
        if self._first_sent is None:
            return 0.0
        return len(self._answers) / max(MIN_SPAN_S, min(WINDOW_S, now - self._first_sent))

    def _its_turn(self, now: float) -> bool:
        """With the job's record count known: Flex gets, evenly spread, the
        share of the records not yet given a tier that it can still answer
        in time beyond those it has (the rest is for Standard all along,
        not left to the end)."""
        if self.records is None or self.flex_answered < WARM_UP:
            return True
        unassigned = self.records - self.flex_answered - self.sent_standard - self.moved \
            - self.pending
        if unassigned <= 0:
            return True
        room = self._capacity(now) - self.pending
        self._credit += max(0.0, min(1.0, room / unassigned))
        if self._credit >= 1.0:
            self._credit -= 1.0
            return True
        return False

    def _capacity(self, now: float) -> float:
        """Records Flex can still answer before the deadline."""
        time_left = self.deadline - END_MARGIN_S - now - self.latency()
        if time_left <= 0:
            return 0.0
        if not self.saturated:  # Flex takes all it is given: the calls in flight bound it
            pace = self.in_flight / (self.latency() or 1.0)
        elif self.flex_answered >= WARM_UP:
            pace = self.pace(now) / SAFETY
        else:
            pace = 0.0  # full before it has shown a pace: a few only
        return pace * time_left

    def _takes_more(self, now: float, waiting: int = 0) -> bool:
        """Whether Flex can answer one more record (beyond `waiting` of its own
        already counted) before the deadline."""
        if self.deadline - END_MARGIN_S - now - self.latency() <= 0:
            return False
        return self.pending - waiting < max(MIN_PENDING, self._capacity(now))
