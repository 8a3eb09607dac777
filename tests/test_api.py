"""The HTTP API and the web pages, through FastAPI's TestClient against a real temp library
(a private copy of the indexed sample corpus)."""

from __future__ import annotations

import io
import sqlite3
import threading
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import make_settings

DRAFT = """ỦY BAN NHÂN DÂN
XÃ AN BÌNH

KẾ HOẠCH
Cải cách hành chính xã An Bình năm 2026

I. MỤC ĐÍCH, YÊU CẦU

1. Mục đích

Đẩy mạnh cải cách hành chính, xây dựng chính quyền xã phục vụ người dân, doanh nghiệp.

II. CHỈ TIÊU

1. Tỷ lệ giao dịch thanh toán trực tuyến đạt tối thiểu 50%.

2. 100% hồ sơ thủ tục hành chính được giải quyết đúng hạn.

III. NHIỆM VỤ, GIẢI PHÁP

1. Cải cách thủ tục hành chính

a) Niêm yết công khai đầy đủ thủ tục hành chính tại Bộ phận một cửa của xã.

b) Số hóa hồ sơ, kết quả giải quyết thủ tục hành chính theo quy định.

2. Chính quyền số

a) Duy trì hoạt động Tổ công nghệ số cộng đồng tại các thôn.

IV. TỔ CHỨC THỰC HIỆN

Văn phòng HĐND và UBND xã chủ trì theo dõi, tổng hợp, báo cáo kết quả thực hiện kế hoạch.
"""


def plan_text(unit: str, marker: str, extra: str = "") -> str:
    """A small but well-formed commune plan; ``marker`` is a phrase found nowhere else."""
    return f"""ỦY BAN NHÂN DÂN
XÃ {unit.upper()}

KẾ HOẠCH
Cải cách hành chính xã {unit} năm 2026

I. MỤC ĐÍCH, YÊU CẦU

1. Mục đích

Nâng cao chất lượng phục vụ người dân của chính quyền xã {unit}.

II. CHỈ TIÊU

1. Tỷ lệ hồ sơ được số hóa đạt 90%.

III. NHIỆM VỤ, GIẢI PHÁP

1. Cải cách thủ tục hành chính

a) Triển khai {marker} tại Bộ phận một cửa của xã.

{extra}
"""


def dump(db: Path) -> list:
    conn = sqlite3.connect(db)
    try:
        return [
            (t, conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall())
            for t in ("plans", "clauses", "table_fields", "boilerplate", "meta")
        ]
    finally:
        conn.close()


def make_client(home: Path, **kw) -> TestClient:
    from cchc.api.http import create_app

    return TestClient(create_app(make_settings(home, **kw)), raise_server_exceptions=False)


@pytest.fixture
def home(sample_library) -> Path:
    return Path(sample_library.settings.home)


@pytest.fixture
def client(home):
    with make_client(home) as c:
        yield c


def assert_error(r, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "source"}
    assert body["error"]["message"] and isinstance(body["error"]["message"], str)
    assert "Traceback" not in r.text
    if code:
        assert body["error"]["code"] == code
    return body["error"]


def upload(client, *files, replace=False, token=None, url="/api/plans"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = {"replace": "true"} if replace else {}
    return client.post(
        url, files=[("files", (name, content, "text/plain")) for name, content in files], data=data, headers=headers
    )


# --- search --------------------------------------------------------------------------------


def test_search_without_diacritics_finds_several_communes(client):
    r = client.get("/api/search", params={"q": "thanh toan truc tuyen", "top_k": 20})
    assert r.status_code == 200
    body = r.json()
    assert body["query"] == "thanh toan truc tuyen" and body["mode"] == "hybrid"
    assert body["n_hits"] == len(body["hits"]) > 0
    units = {h["unit"] for h in body["hits"]}
    assert len(units) >= 3, units
    top = body["hits"][0]
    assert "thanh toán trực tuyến" in top["text"].lower()
    assert {"clause_id", "plan_id", "section", "kind", "area", "score", "matched"} <= set(top)
    assert top["matched"]


def test_search_filters(client):
    plans = {p["unit"]: p for p in client.get("/api/plans").json()}
    hl = plans["phường Bắc Hồng Lĩnh"]
    q = {"q": "thanh toán trực tuyến", "top_k": 30}

    r = client.get("/api/search", params={**q, "province": "Hà Tĩnh"}).json()
    assert r["hits"] and {h["province"] for h in r["hits"]} == {"Hà Tĩnh"}
    r = client.get("/api/search", params={**q, "province": "ha tinh"}).json()  # folded
    assert r["hits"] and {h["province"] for h in r["hits"]} == {"Hà Tĩnh"}

    r = client.get("/api/search", params={**q, "kind": "target"}).json()
    assert r["hits"] and {h["kind"] for h in r["hits"]} == {"target"}

    r = client.get("/api/search", params={**q, "area": "procedures"}).json()
    assert r["hits"] and {h["area"] for h in r["hits"]} == {"procedures"}

    r = client.get("/api/search", params={**q, "plan": [hl["id"]]}).json()
    assert r["hits"] and {h["plan_id"] for h in r["hits"]} == {hl["id"]}

    r = client.get("/api/search", params={**q, "unit": "Hải Hậu"}).json()
    assert r["hits"] and {h["unit"] for h in r["hits"]} == {"xã Hải Hậu"}

    r = client.get("/api/search", params={**q, "per_plan": 1}).json()
    ids = [h["plan_id"] for h in r["hits"]]
    assert len(ids) == len(set(ids)) >= 3

    r = client.get("/api/search", params={**q, "year": 1999}).json()
    assert r["hits"] == []

    r = client.get("/api/search", params={**q, "mode": "lexical", "top_k": 3}).json()
    assert len(r["hits"]) == 3 and r["mode"] == "lexical"

    assert_error(client.get("/api/search", params={**q, "area": "không có"}), 422, "bad_filter")
    assert_error(client.get("/api/search", params={**q, "mode": "fuzzy"}), 422, "bad_mode")


def test_search_limits(client):
    err = assert_error(client.get("/api/search", params={"q": "x" * 501}), 422, "query_too_long")
    assert "500" in err["message"]
    assert_error(client.get("/api/search", params={"q": "thuế", "top_k": 0}), 422, "bad_top_k")
    assert_error(client.get("/api/search", params={"q": "thuế", "top_k": 201}), 422, "bad_top_k")
    assert_error(client.get("/api/search", params={"q": "thuế", "top_k": "mười"}), 422, "bad_top_k")
    assert_error(client.get("/api/search"), 422, "empty_query")
    assert_error(client.get("/api/search", params={"q": "   "}), 422, "empty_query")
    assert_error(client.get("/api/search", params={"q": "a", "plan": 2**63}), 422)


def test_search_on_empty_library_is_a_clear_error(tmp_path):
    with make_client(tmp_path / "empty") as c:
        err = assert_error(c.get("/api/search", params={"q": "thanh toán"}), 409, "empty_library")
        assert "nạp" in err["message"]
        page = c.get("/", params={"q": "thanh toán"})
        assert page.status_code == 200 and "Thư viện chưa có kế hoạch nào" in page.text


# --- plans ---------------------------------------------------------------------------------


def test_plans_and_outline(client):
    plans = client.get("/api/plans").json()
    assert len(plans) == 5
    assert {"id", "unit", "province", "period", "n_clauses", "source"} <= set(plans[0])
    p = next(p for p in plans if p["unit"] == "xã Gia Phúc")
    d = client.get(f"/api/plans/{p['id']}").json()
    assert d["id"] == p["id"] and d["unit"] == "xã Gia Phúc"
    assert len(d["clauses"]) == p["n_clauses"] > 10
    c = d["clauses"][0]
    assert {"id", "section", "path", "kind", "kind_label", "area", "text", "position"} <= set(c)
    assert [c["position"] for c in d["clauses"]] == sorted(c["position"] for c in d["clauses"])
    assert any(c.get("responsible") for c in d["clauses"])  # Gia Phúc has a task table
    assert_error(client.get("/api/plans/9999"), 404, "plan_not_found")
    assert_error(client.get("/api/plans/abc"), 422)
    assert_error(client.get("/api/nothing-here"), 404, "not_found")
    assert_error(client.put("/api/plans"), 405)


# --- upload / delete -------------------------------------------------------------------------


def test_upload_one_file_is_searchable(client):
    text = plan_text("Tân Lập", "máy lấy số thông minh kiểu mới")
    r = upload(client, ("ke-hoach-tan-lap.txt", text.encode("utf-8")))
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["status"] == "done" and job["results"][0]["status"] == "added"
    pid = job["results"][0]["plan_id"]
    assert job["index"]["n_clauses"] > 0
    assert any(p["id"] == pid for p in client.get("/api/plans").json())
    hits = client.get("/api/search", params={"q": "máy lấy số thông minh", "top_k": 3}).json()["hits"]
    assert hits[0]["plan_id"] == pid
    # the same content again: unchanged, 200
    again = upload(client, ("ke-hoach-tan-lap.txt", text.encode("utf-8")))
    assert again.status_code == 200 and again.json()["results"][0]["status"] == "unchanged"
    # a changed version under the same name needs replace
    changed = text.replace("kiểu mới", "thế hệ mới").encode("utf-8")
    assert_error(upload(client, ("ke-hoach-tan-lap.txt", changed)), 409, "plan_exists")
    r = upload(client, ("ke-hoach-tan-lap.txt", changed), replace=True)
    assert r.status_code == 201 and r.json()["results"][0]["status"] == "replaced"
    assert r.json()["results"][0]["plan_id"] == pid


@pytest.mark.parametrize(
    "name,content,code",
    [
        ("virus.exe", b"MZ\x90\x00binary", "unsupported_format"),
        ("rong.txt", b"   \n\n", "empty_file"),
        ("hong.docx", b"this is not a zip file at all", None),
        ("hong.pdf", b"%PDF-1.4 garbage", None),
    ],
)
def test_bad_upload_leaves_library_unchanged(client, home, name, content, code):
    before = dump(home / "library.sqlite3")
    r = upload(client, (name, content))
    assert 400 <= r.status_code < 500
    err = assert_error(r, r.status_code, code)
    assert err["source"] == name
    assert dump(home / "library.sqlite3") == before


def test_many_files_run_as_a_background_job(client):
    files = [
        ("a.txt", plan_text("Phú An", "bảng điện tử tra cứu hồ sơ").encode()),
        ("b.txt", plan_text("Phú Bình", "ki-ốt đánh giá mức độ hài lòng").encode()),
        ("c.exe", b"nope"),
    ]
    r = upload(client, *files)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/api/jobs/{r.json()['id']}"
    job = r.json()
    assert job["total"] == 3
    import time

    deadline = time.time() + 120
    while job["status"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.2)
        job = client.get(f"/api/jobs/{job['id']}").json()
    assert job["status"] == "done" and job["progress"] == 1.0
    statuses = {r["source"]: r["status"] for r in job["results"]}
    assert statuses == {"a.txt": "added", "b.txt": "added", "c.exe": "failed"}
    assert len(client.get("/api/plans").json()) == 7
    assert_error(client.get("/api/jobs/khong-co"), 404, "job_not_found")


def test_upload_names_are_never_paths(client, tmp_path):
    evil = "../../../../" + str(tmp_path / "pwned.txt").lstrip("/")
    for name in (evil, "..\\..\\windows\\x;rm -rf ~.txt", "$(touch injected).txt"):
        r = upload(client, (name, plan_text("Hòa " + str(len(name)), "tên tệp lạ " + str(len(name))).encode()))
        assert r.status_code == 201, r.text
        source = client.get(f"/api/plans/{r.json()['results'][0]['plan_id']}").json()["source"]
        assert "/" not in source and "\\" not in source
    assert not (tmp_path / "pwned.txt").exists()
    assert not Path("injected").exists()


def test_writes_need_the_token_when_set(home):
    with make_client(home, token="s3cret") as c:
        pid = c.get("/api/plans").json()[0]["id"]
        r = c.delete(f"/api/plans/{pid}")
        assert_error(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == "Bearer"
        assert_error(c.delete(f"/api/plans/{pid}", headers={"Authorization": "Bearer wrong"}), 401)
        assert_error(upload(c, ("x.txt", plan_text("Mới", "abc").encode())), 401)
        assert_error(c.post("/api/templates", data={}), 401)
        # reads stay open
        assert c.get("/api/plans").status_code == 200
        assert c.get("/api/search", params={"q": "một cửa"}).status_code == 200
        r = c.delete(f"/api/plans/{pid}", headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200 and r.json()["deleted"] == pid
        assert_error(c.get(f"/api/plans/{pid}"), 404)
        hits = c.get("/api/search", params={"q": "thanh toán trực tuyến", "top_k": 50}).json()["hits"]
        assert pid not in {h["plan_id"] for h in hits}
        assert_error(c.delete(f"/api/plans/{pid}", headers={"Authorization": "Bearer s3cret"}), 404)


def test_delete_without_token_setting_is_open(client):
    pid = client.get("/api/plans").json()[-1]["id"]
    assert client.delete(f"/api/plans/{pid}").status_code == 200
    assert len(client.get("/api/plans").json()) == 4


# --- limits --------------------------------------------------------------------------------


def test_upload_too_large_is_413_before_reading(home):
    with make_client(home, max_upload_mb=0.05) as c:
        big = b"a" * (200 * 1024)
        err = assert_error(upload(c, ("big.txt", big)), 413, "upload_too_large")
        assert "0.05 MB" in err["message"]
        assert len(c.get("/api/plans").json()) == 5


def test_upload_too_large_when_streamed_without_length(home):
    """A chunked body (no Content-Length) is cut off once it passes the limit."""
    from cchc.api.http import create_app
    import anyio

    app = create_app(make_settings(home, max_upload_mb=0.05))
    sent = {"chunks": 0}
    chunk = b"x" * 8192

    async def run():
        messages = []
        boundary = b"----b"
        head = b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n\r\n'

        async def receive():
            sent["chunks"] += 1
            if sent["chunks"] == 1:
                return {"type": "http.request", "body": head, "more_body": True}
            if sent["chunks"] > 1000:
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": chunk, "more_body": True}

        async def send(message):
            messages.append(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": "/api/plans", "raw_path": b"/api/plans", "query_string": b"",
            "root_path": "", "server": ("test", 80), "client": ("test", 1),
            "headers": [(b"host", b"test"), (b"content-type", b"multipart/form-data; boundary=" + boundary)],
        }
        await app(scope, receive, send)
        return messages

    messages = anyio.run(run)
    start = next(m for m in messages if m["type"] == "http.response.start")
    assert start["status"] == 413
    assert sent["chunks"] < 20  # stopped reading soon after 50 KiB, not after 8 MB


def test_too_many_files_is_422(home):
    with make_client(home, max_upload_files=2) as c:
        files = [(f"{i}.txt", plan_text(f"Số {i}", f"dấu hiệu {i}").encode()) for i in range(3)]
        err = assert_error(upload(c, *files), 422, "too_many_files")
        assert "2" in err["message"]


# --- gap -----------------------------------------------------------------------------------


def _plan_id(client, unit: str) -> int:
    return next(p["id"] for p in client.get("/api/plans").json() if p["unit"] == unit)


def test_gap_with_uploaded_draft_is_not_stored(client, home):
    template = _plan_id(client, "phường Bắc Hồng Lĩnh")
    before = dump(home / "library.sqlite3")
    r = client.post(
        "/api/gap", data={"template": str(template)}, files={"plan_file": ("du-thao.txt", DRAFT.encode(), "text/plain")}
    )
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["template"]["id"] == template and rep["plan"]["id"] is None
    assert rep["plan"]["unit"] == "xã An Bình"
    statuses = [i["status"] for i in rep["items"]]
    assert statuses.count("missing") > 10 and "missing" in statuses
    assert 0 <= rep["coverage"] < 0.5
    assert rep["by_area"] and all({"area", "coverage", "missing"} <= set(a) for a in rep["by_area"])
    weaker = [i for i in rep["items"] if (i.get("target") or {}).get("comparison") == "weaker"]
    assert any("50%" in (i["target"]["plan_value"] or "") for i in weaker)
    assert dump(home / "library.sqlite3") == before  # the draft was not stored

    # asked to store: it is, and the report points at the stored plan
    r = client.post(
        "/api/gap",
        data={"template": str(template), "store": "true"},
        files={"plan_file": ("du-thao.txt", DRAFT.encode(), "text/plain")},
    )
    assert r.status_code == 200, r.text
    assert r.json()["plan"]["id"] is not None
    assert len(client.get("/api/plans").json()) == 6


def test_gap_store_needs_token_when_set(home):
    with make_client(home, token="s3cret") as c:
        tid = _plan_id(c, "xã Hải Hậu")
        files = {"plan_file": ("du-thao.txt", DRAFT.encode(), "text/plain")}
        assert_error(c.post("/api/gap", data={"template": str(tid), "store": "true"}, files=files), 401)
        assert len(c.get("/api/plans").json()) == 5


def test_gap_report_formats_and_errors(client):
    t, p = _plan_id(client, "xã Hải Hậu"), _plan_id(client, "xã Định Hưng")
    r = client.post("/api/gap", data={"template": str(t), "plan": str(p), "format": "xlsx"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in r.headers["content-disposition"]
    assert zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    r = client.post("/api/gap", data={"template": str(t), "plan": str(p), "format": "md"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
    assert "Hải Hậu" in r.text
    r = client.post("/api/gap", data={"template": str(t), "plan": str(p), "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")

    assert_error(client.post("/api/gap", data={"plan": str(p)}), 422, "missing_input")
    assert_error(client.post("/api/gap", data={"template": "9999", "plan": str(p)}), 404)
    err = assert_error(client.post("/api/gap", data={"template": "/etc/passwd", "plan": str(p)}), 422, "bad_input")
    assert "passwd" not in (err["source"] or "")
    assert_error(client.post("/api/gap", data={"template": str(t), "plan": str(p), "format": "pdf"}), 422)


# --- targets -------------------------------------------------------------------------------


def test_targets_json_csv_xlsx(client):
    r = client.get("/api/targets", params={"indicator": "online_payment"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["n_rows"] == len(body["rows"]) >= 3
    row = body["rows"][0]
    assert {"plan_id", "unit", "province", "indicator", "value", "unit_of_measure", "clause_id", "text"} <= set(row)
    assert {r["indicator"] for r in body["rows"]} == {"online_payment"}
    assert len({r["unit"] for r in body["rows"]}) >= 3

    only = client.get("/api/targets", params={"indicator": "online_payment", "province": "Hà Tĩnh"}).json()
    assert only["rows"] and {r["province"] for r in only["rows"]} == {"Hà Tĩnh"}

    r = client.get("/api/targets", params={"indicator": "online_payment", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    text = r.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("plan_id") and "thanh toán" in text
    r = client.get("/api/targets", params={"format": "xlsx"})
    assert r.status_code == 200
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.active.max_row > 5
    assert_error(client.get("/api/targets", params={"format": "doc"}), 422)


def test_targets_filter_with_a_plan_without_province(client):
    """A plan whose text names no province must not break the province filter."""
    r = upload(client, ("khong-tinh.txt", plan_text("Vô Danh", "máy tính bảng cho bộ phận một cửa").encode()))
    assert r.status_code == 201, r.text
    assert client.get(f"/api/plans/{r.json()['results'][0]['plan_id']}").json()["province"] is None
    r = client.get("/api/targets", params={"province": "Hà Tĩnh"})
    assert r.status_code == 200, r.text
    assert {row["province"] for row in r.json()["rows"]} == {"Hà Tĩnh"}


# --- templates -----------------------------------------------------------------------------


def test_build_consensus_template_then_gap_against_it(client):
    r = client.post("/api/templates", data={"min_share": "0.4"})
    assert r.status_code == 201, r.text
    built = r.json()
    assert built["plan_id"] and built["n_plans"] == 5 and built["n_groups"] == len(built["groups"]) > 0
    plans = client.get("/api/plans").json()
    assert built["plan_id"] in {p["id"] for p in plans}
    # the gap page offers it as a template, and the gap runs against it
    assert "Mẫu đồng thuận" in client.get("/gap").text
    r = client.post("/api/gap", data={"template": str(built["plan_id"])}, files={"plan_file": ("d.txt", DRAFT.encode(), "text/plain")})
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) > 0
    # building again replaces it
    again = client.post("/api/templates", data={"min_share": "0.4"}).json()
    assert again["replaced"] == [built["plan_id"]]
    # from the gap page too
    r = client.post("/gap/template", data={"province": ""}, follow_redirects=False)
    assert r.status_code == 303 and "built=" in r.headers["location"]
    page = client.get(r.headers["location"]).text
    assert "Đã dựng mẫu đồng thuận" in page
    assert_error(client.post("/api/templates", data={"min_share": "0"}), 422)
    assert_error(client.post("/api/templates", data={"province": "Không Có Tỉnh"}), 409, "too_few_plans")


# --- errors, schema, health --------------------------------------------------------------------


def test_unexpected_error_is_500_in_the_error_shape(client, monkeypatch):
    from cchc.api import http

    def boom(*a, **k):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(http, "run_search", boom)
    r = client.get("/api/search", params={"q": "một cửa"})
    assert_error(r, 500, "internal_error")
    assert "secret internal detail" not in r.text


def test_openapi_schema_has_typed_models(client):
    schema = client.get("/api/openapi.json").json()
    names = set(schema["components"]["schemas"])
    assert {"SearchResponse", "SearchHitOut", "PlanOut", "PlanDetail", "JobOut", "ErrorResponse", "GapReportOut",
            "TargetsResponse", "HealthOut"} <= names
    ok = schema["paths"]["/api/search"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/SearchResponse")
    err = schema["paths"]["/api/search"]["get"]["responses"]["422"]["content"]["application/json"]["schema"]
    assert err["$ref"].endswith("/ErrorResponse")
    params = {p["name"]: p for p in schema["paths"]["/api/search"]["get"]["parameters"]}
    assert params["top_k"]["schema"]["maximum"] == 200 and params["q"]["schema"]["maxLength"] == 500
    assert {"province", "unit", "level", "year", "area", "kind", "plan", "per_plan", "mode"} <= set(params)
    upload_op = schema["paths"]["/api/plans"]["post"]
    assert "multipart/form-data" in upload_op["requestBody"]["content"]
    assert upload_op["security"]
    assert client.get("/api/docs").status_code == 200


def test_health(client):
    h = client.get("/api/health").json()
    assert h["status"] == "ok" and h["plans"] == 5 and h["index_fresh"] is True


def test_search_keeps_working_during_reindex(client, home):
    """Index rebuilds in another thread publish snapshots atomically; searches never fail."""
    from cchc.indexing.library import Library
    from cchc.search.index_manager import refresh_indexes

    stop = threading.Event()
    errors: list[BaseException] = []

    def rebuild():
        lib = Library(make_settings(home))
        try:
            while not stop.is_set():
                refresh_indexes(lib)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            lib.close()

    t = threading.Thread(target=rebuild)
    t.start()
    try:
        for q in ["thanh toán trực tuyến", "so hoa ho so", "một cửa", "TTHC", "chỉ số hài lòng"] * 4:
            r = client.get("/api/search", params={"q": q, "top_k": 5})
            assert r.status_code == 200, r.text
            assert r.json()["hits"]
    finally:
        stop.set()
        t.join()
    assert not errors


# --- web pages -------------------------------------------------------------------------------


def test_search_page_groups_and_highlights(client):
    r = client.get("/", params={"q": "thanh toán trực tuyến"})
    assert r.status_code == 200
    html = r.text
    assert html.count('class="card plan-group"') >= 3
    assert "<mark>thanh toán trực tuyến</mark>" in html
    assert 'href="/plans/' in html and "#c" in html
    assert "<mark>toàn</mark>" not in html  # "toàn" ≠ "toán" when the query has diacritics
    # state lives in the URL: the filters come back selected
    r = client.get("/", params={"q": "thanh toán", "province": "Hà Tĩnh", "kind": "target"})
    assert '<option value="Hà Tĩnh" selected>' in r.text and '<option value="target" selected>' in r.text
    assert "xã Hải Hậu" not in r.text.split('class="results"')[-1]
    # a bad query shows a friendly message, not an error page
    r = client.get("/", params={"q": "x", "area": "không có"})
    assert r.status_code == 200 and "không hợp lệ" in r.text


def test_pages_render(client):
    pid = _plan_id(client, "xã Gia Phúc")
    r = client.get(f"/plans/{pid}")
    assert r.status_code == 200 and 'id="c' in r.text and "Nhiệm vụ, giải pháp" in r.text
    for url in ("/plans", "/gap", "/upload", "/targets", "/api/docs", "/static/style.css", "/static/app.js"):
        assert client.get(url).status_code == 200, url
    r = client.get("/plans/9999")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"] and "Không tìm thấy" in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]


def test_targets_page_has_chart(client):
    r = client.get("/targets", params={"indicator": "online_payment"})
    assert r.status_code == 200
    assert "<svg" in r.text and "format=xlsx" in r.text


def test_web_upload_and_job_page(client):
    r = client.post(
        "/upload",
        files=[("files", ("web.txt", plan_text("Web Test", "trang web nạp thử").encode(), "text/plain"))],
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/upload/jobs/")
    import time

    deadline = time.time() + 120
    while time.time() < deadline:
        page = client.get(r.headers["location"])
        if "Đã xong" in page.text:
            break
        time.sleep(0.3)
    assert "Đã xong" in page.text and "Đã nạp" in page.text
    # a form posted from another site is refused
    r = client.post(
        "/upload",
        files=[("files", ("x.txt", b"abc", "text/plain"))],
        headers={"Origin": "http://evil.example"},
    )
    assert r.status_code == 403


def test_web_gap_page_shows_missing_items_and_downloads(client):
    t = _plan_id(client, "phường Bắc Hồng Lĩnh")
    r = client.post("/gap", data={"template": str(t)}, files={"plan_file": ("du-thao.txt", DRAFT.encode(), "text/plain")})
    assert r.status_code == 200, r.text
    assert "Nội dung còn thiếu" in r.text and 'class="item st-missing"' in r.text
    assert "Chỉ tiêu thấp hơn khung mẫu" in r.text
    import re

    link = re.search(r'href="(/gap/report/[0-9a-f]+\.xlsx)"', r.text).group(1)
    d = client.get(link)
    assert d.status_code == 200 and d.content[:2] == b"PK"
    assert client.get(link.replace(".xlsx", ".md")).status_code == 200
    assert len(client.get("/api/plans").json()) == 5


def test_plan_text_is_escaped(client):
    text = plan_text("Kịch Bản", "<script>alert(1)</script> biểu mẫu điện tử", extra="b) Dùng thẻ <b>in đậm</b> & <img src=x onerror=alert(2)>.")
    r = upload(client, ("xss.txt", text.encode()))
    assert r.status_code == 201, r.text
    pid = r.json()["results"][0]["plan_id"]
    page = client.get(f"/plans/{pid}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page and "<img src=x" not in page and "<b>in đậm" not in page
    res = client.get("/", params={"q": "script alert biểu mẫu", "unit": "Kịch Bản"}).text
    results = res.split('class="results"')[1]
    assert "Kịch Bản" in results
    assert "<script" not in results and "<img" not in results and "<b>" not in results
    assert "&lt;<mark>script</mark>&gt;<mark>alert</mark>(1)&lt;/<mark>script</mark>&gt;" in results
    api = client.get(f"/api/plans/{pid}").json()
    assert any("<script>alert(1)</script>" in c["text"] for c in api["clauses"])  # JSON keeps the text as is
