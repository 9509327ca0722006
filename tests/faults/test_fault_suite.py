"""The fault suite's short form (the long one is ``python -m benchmarks.faults``): real
worker, beat and redis-server processes, SIGKILLed or robbed of their broker messages while
jobs over the three providers run against a sandbox that answers 429/500/503 on 15 % of calls.

What must hold today is asserted for every job: 0 duplicate provider batches, every request
back once, the callback once (twice only after a kill inside it) and the webhook at least once.
That every job *ends* needs the stall sweep (issue 13 part 1), which re-drives a job whose
message was lost: with it the test asserts it, without it the stuck jobs are reported as an
expected failure, so the figures stay visible until the sweep lands.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from batchline.sandbox import Sandbox
from benchmarks.faults import KILLS, LOST_MESSAGES, Scenario, has_stall_sweep, run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SHORT = {"jobs": 6, "requests": 8, "chaos_for": 20.0, "deadline": 75.0}


@pytest.mark.parametrize("scenario", [KILLS, LOST_MESSAGES], ids=lambda s: s.name)
def test_faults_cost_no_duplicate_batch_and_every_ended_job_is_whole(
    sandbox: Sandbox, tmp_path: Path, scenario: Scenario
) -> None:
    report = run(replace(scenario, **SHORT), seed=7, sandbox=sandbox, workdir=tmp_path)

    print(f"{scenario.name}: {len(report.stuck)} stuck, kills {report.kills}")
    assert report.problems() == []
    assert sum(o.duplicate_batches for o in report.outcomes) == 0
    stuck = [f"{o.job_id} ({o.model}) in {o.state}" for o in report.stuck]
    if stuck and not has_stall_sweep():
        pytest.xfail(f"without the stall sweep, {len(stuck)} job(s) never ended: {stuck}")
    assert stuck == []
