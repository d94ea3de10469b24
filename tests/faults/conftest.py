"""The fault suite's table, printed at the end of the run (and written to ``FAULTS_REPORT`` when set)."""

from __future__ import annotations

import json
import os

import pytest

from tests.faults.harness import RESULTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    terminalreporter.section("fault suite")
    terminalreporter.write_line(f"{'scenario':<46} {'sent':>6} {'ok':>6} {'lost':>5} {'double':>6} {'recovery':>9}  "
                                "failed (final status: count), note")
    for row in RESULTS:
        recovery = "-" if row["recovery_s"] is None else f"{row['recovery_s']:.2f} s"
        terminalreporter.write_line(
            f"{row['scenario']:<46} {row['sent']:>6} {row['succeeded']:>6} {row['lost']:>5} {row['double']:>6} "
            f"{recovery:>9}  {row['failed'] or '{}'} {row['note']}")
    if os.environ.get("FAULTS_REPORT"):
        with open(os.environ["FAULTS_REPORT"], "w") as fh:
            json.dump(RESULTS, fh, indent=1)
