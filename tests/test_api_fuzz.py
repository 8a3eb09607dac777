"""Property-based fuzzing of the HTTP API from its own OpenAPI schema (schemathesis), in
process against the ASGI app over a private copy of the sample library: for every operation,
with data that fits the schema and with data that does not (uploads included), the server never
answers 5xx, and every 4xx keeps the one error shape. Bounded: a few derandomised examples per
operation and mode, well under a minute of requests."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis to run the API fuzz tests")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402

from conftest import make_settings  # noqa: E402

EXAMPLES = {"positive": 40, "negative": 15}


def check_response(case, response) -> str | None:
    """Why ``response`` is wrong, or None."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:300]}"
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            return f"{response.status_code} without a JSON body: {response.text[:200]}"
        if set(body) != {"error"} or set(body["error"]) != {"code", "message", "source"} or not body["error"]["message"]:
            return f"{response.status_code} not in the error shape: {body}"
    return None


def fuzz_operation(op, mode_name: str, n: int, failures: list[str], calls: dict) -> None:
    """Run ``n`` generated requests (valid or invalid, per ``mode_name``) against ``op``."""
    label = f"{op.method.upper()} {op.path} [{mode_name}]"

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy(generation_mode=schemathesis.GenerationMode(mode_name)))
    def run(case):
        calls["n"] += 1
        try:
            response = case.call()
        except Exception as e:  # an exception escaping the app is a 500 for the client
            failures.append(f"{label} raised {type(e).__name__}: {e}")
            return
        problem = check_response(case, response)
        if problem:
            failures.append(f"{label} {problem}\n  {case.as_curl_command()}")

    try:
        run()
    except Unsatisfiable:  # e.g. no invalid input exists for an operation without parameters
        pass


def test_api_never_answers_5xx(sample_library):
    from cchc.api.http import create_app

    app = create_app(make_settings(sample_library.settings.home, max_upload_mb=1.0, max_upload_files=3))
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 10
    failures: list[str] = []
    calls = {"n": 0}
    for op in operations:
        for mode_name, n in EXAMPLES.items():
            fuzz_operation(op, mode_name, n, failures, calls)
    assert calls["n"] >= len(operations) * 4
    assert not failures, "\n".join(failures[:10])
