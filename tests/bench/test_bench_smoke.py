"""The benchmark's smoke run: the whole harness on a tiny data set, one second per scenario.

It keeps `bench/run.py` working as the service changes (new routes, migrations, settings): every
scenario must either be measured with requests and no errors, or be reported as not available on
this commit. PostgreSQL-only: the benchmark measures the service on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bench import run
from tests.conftest import POSTGRES_ADMIN_URL

pytestmark = pytest.mark.postgres_only


def test_the_smoke_benchmark_measures_every_scenario_without_errors(
    postgres_server: Callable[[], str], tmp_path: Path
) -> None:
    output = tmp_path / "RESULTS.md"
    report = run.main(["--smoke", "--admin-dsn", POSTGRES_ADMIN_URL, "--output", str(output)])

    service = report.run("service", 1)
    assert service is not None
    assert set(service.outcomes) == set(run.SERVICE_SCENARIOS)
    for scenario, outcome in service.outcomes.items():
        if outcome.result is None:
            assert outcome.missing and "not available on this commit" in outcome.missing, scenario
        else:
            assert outcome.result.requests > 0, scenario
            assert outcome.result.errors == 0, scenario
    for reference, scenarios in run.REFERENCE_APPS.items():
        for scenario in scenarios:
            result = report.result(reference, scenario)
            assert result is not None and result.requests > 0 and result.errors == 0, (reference, scenario)
    assert report.ratio("get_case", "ceiling") is not None
    assert all(mib > 0 for mib in service.rss_start + service.rss_end)
    outbox = report.outbox
    assert outbox.pending is None and outbox.in_process is not None and outbox.own_process is not None
    # Every create's event arrived, with the relay in the API's process and in its own.
    assert outbox.in_process.published == outbox.own_process.published == 100
    assert outbox.in_process.errors == outbox.own_process.errors == 0
    assert 0 < outbox.in_process.p50_ms <= outbox.in_process.p99_ms
    assert outbox.drain_seconds > 0

    text = output.read_text()
    assert "| GET case by id |" in text and "service/ceiling" in text
    assert "## Floor under FastAPI" in text and "of the ceiling** on GET by id" in text
    assert "bench/run.py --smoke" in text
    assert "| own process (`case-service relay`) | 100 | 0 |" in text


def test_an_unknown_scenario_is_refused_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run.parse_args(["--only", "get_case,get"])
    assert exited.value.code == 2
    message = capsys.readouterr().err
    assert "unknown scenario get;" in message and "get_case" in message
