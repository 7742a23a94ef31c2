"""The PostgreSQL budget of a test run (tests/pgbudget.py): how many stacks may run at once."""
from pgbudget import BUDGET_SHARE, STACK_SESSIONS, WORKER_SESSIONS, slots_for


def _worst_case(max_connections: int, workers: int) -> float:
    """Sessions when `slots_for` stacks run and every other worker runs an integration module."""
    slots = slots_for(max_connections, workers)
    return slots * STACK_SESSIONS + (workers - slots) * WORKER_SESSIONS


def test_the_worst_case_fits_the_budget_on_a_default_server():
    for workers in range(1, 9):
        assert _worst_case(100, workers) <= BUDGET_SHARE * 100 or slots_for(100, workers) == 1


def test_three_workers_run_three_stacks_on_a_default_server():
    # 3 x 22 = 66 sessions of 90: every worker may run a stack at once.
    assert slots_for(100, 3) == 3
    assert slots_for(100, 4) == 4  # 4 x 22 = 88 of 90
    assert slots_for(100, 5) == 3  # 3 x 22 + 2 x 12 = 90


def test_never_more_slots_than_workers_and_always_one():
    assert slots_for(1000, 2) == 2
    assert slots_for(20, 3) == 1  # a tiny server still runs its stacks, one at a time
