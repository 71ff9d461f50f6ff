"""The playground's JSON API: numbers equal a direct fit(), bad values are 422s with a message."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

import reglab
from reglab.data import linear_regression, pure_noise, zero_column
from reglab.playground import PRESETS, PlayRequest, create_app, spec_of
from reglab.spec import build_fit_kwargs


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app())


def _direct(req: PlayRequest) -> reglab.FitResult:
    """The fit the request stands for, written out by hand."""
    data = {"zero_column": lambda: zero_column(n=req.n, p=req.p, column=0, seed=req.seed),
            "weak_dependence": lambda: linear_regression(req.n, req.p, scales=[req.scale] + [1.0] * (req.p - 1),
                                                         seed=req.seed),
            "pure_noise": lambda: pure_noise(n=req.n, p=req.p, seed=req.seed)}[req.scenario]()
    kind = {"l2": reglab.L2, "l1": reglab.L1}
    terms = [] if req.penalty == "none" else [kind[req.penalty](req.lam, update=req.rule)]
    return reglab.fit(req.model, data, penalties=terms, optimizer=req.optimizer, lr=req.lr, steps=req.steps,
                      seed=req.seed, record={"every": 1}, on_divergence="stop")


@pytest.mark.parametrize("settings", [
    {"penalty": "l1", "rule": "gradient", "lam": 0.1, "lr": 0.05, "steps": 200},
    {"penalty": "l1", "rule": "proximal", "lam": 0.2, "lr": 0.1, "steps": 150, "seed": 3},
    {"penalty": "l2", "rule": "decoupled", "optimizer": "adam", "lam": 0.05, "lr": 0.01, "steps": 100},
    {"penalty": "none", "scenario": "weak_dependence", "scale": 0.05, "steps": 80},
    {"penalty": "l2", "scenario": "pure_noise", "n": 150, "p": 7, "lam": 1.0, "steps": 60},
])
def test_run_equals_direct_fit(client: TestClient, settings: dict) -> None:
    reply = client.post("/api/run", json=settings)
    assert reply.status_code == 200, reply.text
    out = reply.json()
    res = _direct(PlayRequest(**settings))
    traj = res.trajectory
    assert out["steps"] == traj.steps.tolist()
    for w in out["weights"]:
        np.testing.assert_array_equal(np.array(w["values"], dtype=float), traj.path(w["name"]))
    np.testing.assert_array_equal(out["history"]["objective"], res.history.objective)
    diag = reglab.diagnose(res)
    assert {r["name"]: r["cls"] for r in out["diagnosis"]["per_weight"]} == dict(
        zip(diag.per_weight["name"], diag.per_weight["cls"]))
    assert out["status"] == res.status


def test_theory_of_l1_and_l2(client: TestClient) -> None:
    out = client.post("/api/run", json={"penalty": "l1", "rule": "gradient", "lam": 0.1, "lr": 0.05}).json()
    w = out["weights"][0]
    assert w["name"] == "linear.weight[0,0]" and w["theory"]["kind"] == "l1_band"
    tail = np.array(w["values"][-20:])
    assert math.isclose(tail.max(), max(w["theory"]["eps"], w["theory"]["other"]), abs_tol=1e-12)
    assert math.isclose(tail.min(), min(w["theory"]["eps"], w["theory"]["other"]), abs_tol=1e-12)
    assert math.isclose(tail.max() - tail.min(), 0.05 * 0.1, rel_tol=1e-9)
    out = client.post("/api/run", json={"penalty": "l1", "rule": "proximal", "lam": 0.1, "lr": 0.05}).json()
    w = out["weights"][0]
    path, k = np.array(w["values"]), w["theory"]["step"]
    assert path[k] == 0.0 and path[k - 1] != 0.0 and np.all(path[k:] == 0.0)
    out = client.post("/api/run", json={"penalty": "l2", "rule": "gradient", "lam": 0.1, "lr": 0.05}).json()
    w = out["weights"][0]
    np.testing.assert_allclose(w["values"], w["theory"]["values"], rtol=1e-9, atol=1e-15)


def test_yaml_is_the_same_run(client: TestClient) -> None:
    import yaml

    out = client.post("/api/run", json={"steps": 30}).json()
    spec = yaml.safe_load(out["yaml"])
    res = reglab.fit(**build_fit_kwargs(spec))
    assert res.history.objective[-1] == out["history"]["objective"][-1]
    assert "reglab.fit(" in out["python"] and "reglab.L1(0.1, update='gradient')" in out["python"]


@pytest.mark.parametrize(("body", "field"), [
    ({"steps": 5001}, "steps"), ({"steps": 0}, "steps"), ({"n": 5000}, "n"), ({"lam": -1}, "lam"),
    ({"lr": 0}, "lr"), ({"lr": "fast"}, "lr"), ({"rule": "magic"}, "rule"), ({"scenario": "/etc/passwd"}, "scenario"),
    ({"path": "x.csv"}, "path"), ({"weights": ["w" * 100]}, "weights"),
])
def test_bad_values_are_422_with_the_field(client: TestClient, body: dict, field: str) -> None:
    reply = client.post("/api/run", json=body)
    assert reply.status_code == 422
    assert reply.json()["error"].startswith(field) or field in reply.json()["error"]


def test_too_large_a_run_is_refused(client: TestClient) -> None:
    reply = client.post("/api/run", json={"steps": 5000, "n": 2000, "p": 20, "model": "mlp", "hidden": 2})
    assert reply.status_code == 422 and "too large" in reply.json()["error"]


def test_library_refusal_is_422_with_its_message(client: TestClient) -> None:
    reply = client.post("/api/run", json={"penalty": "l1", "rule": "proximal", "optimizer": "adam"})
    assert reply.status_code == 422
    with pytest.raises(ValueError) as err:
        reglab.fit("linear", zero_column(n=100, p=5), penalties=[reglab.L1(0.1, update="proximal")],
                   optimizer="adam", lr=0.05, steps=10)
    assert reply.json()["error"] == str(err.value)


def test_unknown_weight_is_named(client: TestClient) -> None:
    reply = client.post("/api/run", json={"weights": ["fc9.weight[0,0]"]})
    assert reply.status_code == 422 and "'fc9.weight[0,0]' is not tracked" in reply.json()["error"]


def test_presets_are_valid_and_run(client: TestClient) -> None:
    from reglab.claims import CLAIM_IDS

    listing = client.get("/api/presets").json()["presets"]
    assert set(listing) == set(PRESETS)
    for key, p in listing.items():
        assert p["claim"] in CLAIM_IDS
        reply = client.post("/api/run", json=p["request"])
        assert reply.status_code == 200, (key, reply.text)
        assert reply.json()["claim"]["id"] == p["claim"], key
        assert reply.json()["claim"]["href"] == f"reglab-report/index.html#{p['claim']}"


def test_static_files_are_a_fixed_set(client: TestClient) -> None:
    assert client.get("/").status_code == 200
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert client.get("/static/play.js").status_code == 200
    for name in ("../runs.py", "..%2F__init__.py", "index.html", "%2Fetc%2Fpasswd"):
        assert client.get(f"/static/{name}").status_code == 404


def test_spec_of_is_a_valid_spec() -> None:
    from reglab.spec import validate_spec

    for p in PRESETS.values():
        validate_spec(spec_of(p.request))
