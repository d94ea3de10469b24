"""Random sequences of operations against a plain Python model of the stock (SQLite, in-process).

Whatever the order of receipts, shipments, adjustments, transfers, reservations, commits and releases,
the service agrees with the model on every level, refuses exactly when the model has too little, and
its ledger reconciles.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.inventory.app import create_app
from tests.inventory.conftest import settings_for

pytestmark = pytest.mark.slow

LOCS = ("A", "B")
_counter = itertools.count()

op = st.one_of(
    st.tuples(st.just("receipt"), st.sampled_from(LOCS), st.integers(1, 20)),
    st.tuples(st.just("shipment"), st.sampled_from(LOCS), st.integers(1, 20)),
    st.tuples(st.just("adjust_down"), st.sampled_from(LOCS), st.integers(1, 20)),
    st.tuples(st.just("transfer"), st.sampled_from(LOCS), st.integers(1, 20)),
    st.tuples(st.just("reserve"), st.sampled_from(LOCS), st.integers(1, 20)),
    st.tuples(st.just("commit"), st.sampled_from(LOCS), st.integers(0, 5)),
    st.tuples(st.just("release"), st.sampled_from(LOCS), st.integers(0, 5)),
)


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('model')) / 'model.db'}"
    with TestClient(create_app(settings_for(url))) as client:
        for loc in LOCS:
            client.post("/locations", json={"code": loc, "name": loc})
        yield client


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(op, min_size=1, max_size=25))
def test_service_matches_the_model(app_client: TestClient, ops: list[tuple[str, str, int]]) -> None:
    client = app_client
    sku = f"M-{next(_counter)}"
    assert client.post("/skus", json={"code": sku, "name": sku}).status_code == 201
    on_hand = dict.fromkeys(LOCS, 0)
    for loc in LOCS:  # start with stock, so most operations have something to work on
        client.post("/movements", json={"type": "receipt", "sku": sku, "location": loc, "quantity": 30})
        on_hand[loc] = 30
    reserved = dict.fromkeys(LOCS, 0)
    held: dict[str, list[tuple[str, int]]] = {loc: [] for loc in LOCS}  # active reservations per location
    for kind, loc, n in ops:
        available = on_hand[loc] - reserved[loc]
        if kind in ("receipt", "shipment", "adjust_down", "transfer"):
            body: dict[str, object] = {"type": kind, "sku": sku, "location": loc, "quantity": n}
            if kind == "adjust_down":
                body |= {"type": "adjustment", "direction": "decrease", "reason": "damaged"}
            if kind == "transfer":
                body["to_location"] = next(other for other in LOCS if other != loc)
            resp = client.post("/movements", json=body)
            if kind != "receipt" and n > available:
                assert resp.status_code == 409, resp.text
                continue
            assert resp.status_code == 201, resp.text
            on_hand[loc] += n if kind == "receipt" else -n
            if kind == "transfer":
                on_hand[str(body["to_location"])] += n
        elif kind == "reserve":
            resp = client.post("/reservations", json={"sku": sku, "location": loc, "quantity": n})
            if n > available:
                assert resp.status_code == 409
                continue
            assert resp.status_code == 201
            held[loc].append((resp.json()["reservation"]["id"], n))
            reserved[loc] += n
        elif held[loc]:
            rid, qty = held[loc].pop(n % len(held[loc]))
            assert client.post(f"/reservations/{rid}/{kind}").status_code == 200
            reserved[loc] -= qty
            if kind == "commit":
                on_hand[loc] -= qty
        for where in LOCS:
            items = client.get("/levels", params={"sku": sku, "location": where}).json()["items"]
            got = (items[0]["on_hand"], items[0]["reserved"]) if items else (0, 0)
            assert got == (on_hand[where], reserved[where])
    assert client.get("/reconciliation").json()["ok"] is True
