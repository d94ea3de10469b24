"""The hostile-input suite's stack and its tally.

One stack (``python -m sync.cli up``, demo data loaded) serves every fuzz test of a run. The admin token is
set, so the admin routes are fuzzed too (with the token) instead of answering 401 to every case.
"""

from __future__ import annotations

import os
import secrets
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.stack import Stack, running_stack

SEED = int(os.environ.get("FUZZ_SEED", "20261203"))
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "12"))
ADMIN_TOKEN = secrets.token_urlsafe(24)

#: cases sent, per target ("inventory direct", "ml via gateway", ...), and the operations each covered
CASES: Counter[str] = Counter()
OPERATIONS: dict[str, set[str]] = {}
STATUSES: Counter[tuple[str, int]] = Counter()


@pytest.fixture(scope="session")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # limits out of the way: the suite checks how input is handled, not how many requests a minute are admitted
    # and the gateway's timeout above what a whole-catalogue simulation takes on a busy 2-core machine
    env = {"ADMIN_TOKEN": ADMIN_TOKEN, "LOG_LEVEL": "WARNING", "RATE_LIMIT_DEFAULT_PER_MINUTE": "10000000",
           "RATE_LIMIT_DEFAULT_PER_HOUR": "10000000", "GATEWAY_TIMEOUT": "180"}
    with running_stack(tmp_path_factory.mktemp("fuzz"), env) as stack:
        yield stack




def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CASES:
        return
    terminalreporter.section("hostile-input suite (schemathesis)")
    terminalreporter.write_line(f"seed {SEED}, at most {MAX_EXAMPLES} generated cases per operation and target")
    for target in sorted(CASES):
        statuses = ", ".join(f"{code}: {n}" for (t, code), n in sorted(STATUSES.items()) if t == target)
        terminalreporter.write_line(
            f"{target:<22} {len(OPERATIONS[target]):>3} operations {CASES[target]:>6} cases   ({statuses})"
        )
    terminalreporter.write_line(
        f"{'total':<22} {sum(len(v) for v in OPERATIONS.values()):>3} operations {sum(CASES.values()):>6} cases"
    )
