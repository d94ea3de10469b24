"""Hostile input, generated from each service's own OpenAPI document (schemathesis).

Every operation of every service is called with generated input, valid by its schema and deliberately invalid,
directly and through the gateway. A case fails on any 5xx, a status the operation does not document, a body
that breaks the documented schema, or a wrong content type. Bounded: ``FUZZ_MAX_EXAMPLES`` cases per operation,
generation mode and target (12 by default; a quarter of that for the operations that forecast the whole
catalogue), from a fixed seed (``FUZZ_SEED``) so a failure reproduces; the
terminal summary prints the seed and the counts. All failures of a target are reported together, each with a
curl command that reproduces it.
"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from tests.fuzz.conftest import ADMIN_TOKEN, CASES, MAX_EXAMPLES, OPERATIONS, SEED, STATUSES
from tests.stack import Stack

pytestmark = [pytest.mark.fuzz, pytest.mark.e2e, pytest.mark.slow]

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.response_schema_conformance,
    checks.content_type_conformance,
]
HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: operations that forecast the whole catalogue per call: fewer cases, so the suite stays within minutes
HEAVY = {"POST /forecast", "POST /backtest", "POST /simulate", "POST /plan", "POST /train"}
HEAVY_EXAMPLES = max(MAX_EXAMPLES // 4, 2)
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
    report_multiple_bugs=False,
)


#: statuses the gateway itself may answer in front of any service (docs/gateway.md): a request line it refuses
#: (a control character in the path) and a rate limit. Never a 5xx: those fail the case wherever they come from.
GATEWAY_OWN = {400, 429}


def _fuzz(schema: schemathesis.BaseSchema, base_url: str, target: str, *, via_gateway: bool = False) -> list[str]:
    """Every operation of ``schema`` against ``base_url``; the failures found, one line each."""
    session = requests.Session()
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @seed(SEED)
            @settings(FUZZ_SETTINGS, max_examples=HEAVY_EXAMPLES if operation.label in HEAVY else MAX_EXAMPLES)
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case: schemathesis.Case) -> None:
                response = case.call(base_url=base_url, session=session, headers=HEADERS, timeout=300)
                CASES[target] += 1
                OPERATIONS.setdefault(target, set()).add(case.operation.label)
                STATUSES[(target, response.status_code)] += 1
                if via_gateway and response.status_code in GATEWAY_OWN and "error" in response.json():
                    return  # the gateway's own answer, not the service's: the service's schema does not list it
                case.validate_response(response, checks=CHECKS, headers=HEADERS)

            try:
                call()
            except Unsatisfiable:  # nothing to make invalid (an operation without inputs)
                continue
            except (AssertionError, BaseExceptionGroup) as failure:  # FailureGroup holds the reproducer
                failures.append(f"{operation.label} ({mode.value}): {failure}")
    return failures


TARGETS = [
    ("inventory", False), ("inventory", True),
    ("analytics", False), ("analytics", True),
    ("ml", False), ("ml", True),
]


@pytest.mark.parametrize(("service", "through_gateway"), TARGETS,
                         ids=[f"{s}-{'gateway' if g else 'direct'}" for s, g in TARGETS])
def test_service_survives_generated_input(fuzz_stack: Stack, service: str, through_gateway: bool) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_stack.url(service)}/openapi.json")
    base_url = f"{fuzz_stack.base}/{service}" if through_gateway else fuzz_stack.url(service)
    target = f"{service} {'via gateway' if through_gateway else 'direct'}"
    failures = _fuzz(schema, base_url, target, via_gateway=through_gateway)
    assert not failures, f"{len(failures)} operation(s) of {target} failed:\n\n" + "\n\n".join(failures)


def test_reconciliation_is_clean_after_fuzzing(fuzz_stack: Stack) -> None:
    """Whatever the generated writes did, cached levels still equal the ledger's sums."""
    resp = requests.get(f"{fuzz_stack.url('inventory')}/reconciliation", timeout=60)
    assert resp.status_code == 200, resp.text
    assert resp.json()["ok"] is True, resp.json()


def test_gateway_own_api_survives_generated_input(fuzz_stack: Stack) -> None:
    """Last in the module: fuzzing the gateway's admin API re-registers and removes instances, which would
    break routing for the tests above."""
    schema = schemathesis.openapi.from_url(f"{fuzz_stack.base}/openapi.json")
    failures = _fuzz(schema, fuzz_stack.base, "gateway own API")
    assert not failures, f"{len(failures)} operation(s) of the gateway's API failed:\n\n" + "\n\n".join(failures)
