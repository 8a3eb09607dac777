"""The HTTP API (``/api/…``) and the app factory that also mounts the web pages.

Routes are thin, datasette-style: parse and bound the input, call one core function, map its
``CCHCError`` to one JSON shape. Slow work (ingest, embedding, index rebuild, gap analysis) runs
in sync handlers, i.e. in Starlette's thread pool, never on the event loop; writes go through a
single writer thread so two uploads never rebuild the index at the same time, while searches go
on reading the last published index snapshot.

Every error, whatever raised it (a ``CCHCError``, request validation, an unknown route, a too
large body, a bug) is answered as::

    {"error": {"code": "...", "message": "<Vietnamese sentence>", "source": "..." | null}}

Pages outside ``/api`` get the same message as a small HTML page instead.
"""


import logging
import secrets
import threading
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, File, Form, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from cchc.corpus.models import AREAS, KINDS, Clause, Plan
from cchc.errors import CCHCError
from cchc.indexing.library import Library
from cchc.settings import Settings, get_settings

log = logging.getLogger("cchc.api")

HERE = Path(__file__).resolve().parent
MAX_ID = 2**53  # plan/clause ids beyond SQLite's range are refused by validation, not by a crash
MODES = ("hybrid", "dense", "lexical")
REPORT_FORMATS = ("md", "html", "csv", "xlsx")
MEDIA_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}


# =============================================================================================
# Response models (the OpenAPI schema documents these)
# =============================================================================================


class ErrorBody(BaseModel):
    code: str = Field(description="Mã lỗi ổn định cho máy đọc, ví dụ `plan_not_found`.")
    message: str = Field(description="Câu giải thích bằng tiếng Việt.")
    source: str | None = Field(None, description="Tệp hoặc tham số gây lỗi, nếu có.")


class ErrorResponse(BaseModel):
    error: ErrorBody


class PlanOut(BaseModel):
    id: int
    unit: str | None = Field(None, description="Đơn vị ban hành, ví dụ 'xã Hải Hậu'.")
    level: str | None = Field(None, description="Cấp: xã, phường, huyện, tỉnh …")
    province: str | None = None
    period: str | None = Field(None, description="Kỳ kế hoạch như văn bản ghi, ví dụ 'năm 2026'.")
    year: int | None = None
    doc_number: str | None = None
    issued: str | None = Field(None, description="Ngày ban hành (ISO).")
    source: str = Field(description="Tên tệp gốc.")
    n_clauses: int


class ClauseOut(BaseModel):
    id: int
    plan_id: int
    position: int
    label: str | None = Field(None, description="Số thứ tự riêng của điều khoản, ví dụ 'a)'.")
    section: str = Field(description="Đường dẫn mục, nối bằng ' › '.")
    path: list[str]
    kind: str = Field(description="Loại điều khoản: " + ", ".join(KINDS))
    kind_label: str
    area: str | None = Field(None, description="Lĩnh vực cải cách: " + ", ".join(AREAS))
    area_label: str | None = None
    text: str
    responsible: str | None = None
    partners: str | None = None
    deadline: str | None = None
    output: str | None = None


class PlanDetail(PlanOut):
    title: str | None = None
    year_end: int | None = None
    parents: list[str] = Field(default_factory=list, description="Văn bản cấp trên mà kế hoạch thực hiện.")
    format: str
    ingested_at: str
    clauses: list[ClauseOut]


class SearchHitOut(BaseModel):
    clause_id: int
    plan_id: int
    unit: str | None = None
    province: str | None = None
    period: str | None = None
    source: str
    section: str
    kind: str
    area: str | None = None
    text: str
    score: float
    matched: list[str] = Field(description="Các từ trong điều khoản khớp với câu tìm (để tô sáng).")


class SearchResponse(BaseModel):
    query: str
    mode: str
    top_k: int
    n_hits: int
    hits: list[SearchHitOut]


class IngestResultOut(BaseModel):
    source: str
    status: Literal["added", "replaced", "unchanged", "failed"]
    plan_id: int | None = None
    n_clauses: int = 0
    unit: str | None = None
    message: str | None = None
    notes: list[str] = Field(default_factory=list)


class IndexInfoOut(BaseModel):
    n_clauses: int
    embedded: int
    model_id: str
    dim: int
    kind: str
    generation: int
    snapshot: str


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    phase: str = Field(description="queued, reading (đang đọc tệp), indexing (đang cập nhật chỉ mục), done")
    total: int = Field(description="Số tệp.")
    done: int = Field(description="Số tệp đã xử lý.")
    progress: float = Field(description="Tiến độ 0…1.")
    results: list[IngestResultOut]
    index: IndexInfoOut | None = None
    error: ErrorBody | None = None
    created_at: str
    finished_at: str | None = None


class DeleteOut(BaseModel):
    deleted: int
    index: IndexInfoOut | None = None


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str
    plans: int
    clauses: int
    generation: int
    index_fresh: bool = Field(description="Chỉ mục tìm kiếm đã gồm mọi thay đổi của thư viện chưa.")
    jobs_running: int


class TargetRowOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    plan_id: int
    unit: str | None = None
    level: str | None = None
    province: str | None = None
    period: str | None = None
    year: int | None = None
    indicator: str | None = None
    indicator_label: str | None = None
    value: float | None = None
    unit_of_measure: str | None = None
    comparator: str | None = None
    deadline: str | None = None
    clause_id: int | None = None
    text: str | None = None


class TargetsResponse(BaseModel):
    n_rows: int
    rows: list[TargetRowOut]


class GapMatchOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    clause_id: int | None = Field(None, description="Điều khoản của kế hoạch làm bằng chứng (null nếu dự thảo không lưu).")
    text: str
    section: str | None = None
    score: float


class GapTargetOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    template_value: str | None = None
    plan_value: str | None = None
    comparison: str = Field(description="weaker (thấp hơn khung), stronger, equal, no_figure (kế hoạch không nêu số).")


class GapItemOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    item_id: int = Field(description="Mã điều khoản của khung mẫu (hoặc vị trí nếu khung là tệp tải lên).")
    text: str
    section: str
    area: str | None = None
    kind: str
    status: Literal["covered", "partial", "missing"]
    score: float
    matches: list[GapMatchOut] = Field(default_factory=list)
    target: GapTargetOut | None = None


class PlanRefOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int | None = Field(None, description="Mã kế hoạch (null nếu là tệp tải lên không lưu).")
    source: str
    unit: str | None = None
    title: str | None = None
    period: str | None = None
    province: str | None = None
    n_clauses: int


class AreaCoverageOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    area: str
    label: str
    items: int
    covered: int
    partial: int
    missing: int
    coverage: float


class GapReportOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    template: PlanRefOut = Field(description="Khung mẫu.")
    plan: PlanRefOut = Field(description="Kế hoạch (dự thảo) được đối chiếu.")
    coverage: float = Field(description="Mức bao phủ: (đã có + ½ một phần) / số nội dung của khung.")
    counts: dict[str, int] = Field(default_factory=dict)
    by_area: list[AreaCoverageOut]
    items: list[GapItemOut]
    extra: list[dict[str, Any]] = Field(default_factory=list, description="Nội dung kế hoạch có mà khung không có.")
    checks: list[dict[str, Any]] = Field(default_factory=list, description="Lưu ý về chính dự thảo.")


class ConsensusGroupOut(BaseModel):
    kind: str
    area: str | None = None
    text: str = Field(description="Nội dung đại diện của nhóm.")
    representative_id: int
    member_ids: list[int]
    plan_ids: list[int]
    share: float = Field(description="Tỷ lệ kế hoạch có nội dung này.")


class ConsensusOut(BaseModel):
    plan_id: int | None = Field(description="Mã của mẫu đồng thuận trong thư viện (dùng làm `template` của /api/gap).")
    source: str
    scope: str
    n_plans: int
    n_clauses: int
    n_groups: int
    replaced: list[int] = Field(default_factory=list, description="Mẫu đồng thuận cũ cùng phạm vi đã được thay.")
    seconds: float
    timings: dict[str, float] = Field(default_factory=dict)
    groups: list[ConsensusGroupOut]


# =============================================================================================
# Errors: one shape for everything
# =============================================================================================

_VALIDATION_REASONS = {
    "missing": "là bắt buộc nhưng chưa có",
    "int_parsing": "phải là số nguyên",
    "int_type": "phải là số nguyên",
    "int_from_float": "phải là số nguyên",
    "float_parsing": "phải là số",
    "bool_parsing": "phải là true hoặc false",
    "bool_type": "phải là true hoặc false",
    "greater_than_equal": "phải lớn hơn hoặc bằng {ge}",
    "greater_than": "phải lớn hơn {gt}",
    "less_than_equal": "phải nhỏ hơn hoặc bằng {le}",
    "less_than": "phải nhỏ hơn {lt}",
    "string_too_long": "dài quá {max_length} ký tự",
    "string_too_short": "phải có ít nhất {min_length} ký tự",
    "literal_error": "phải là một trong: {expected}",
    "enum": "phải là một trong: {expected}",
    "list_type": "phải là một danh sách",
    "string_type": "phải là chuỗi ký tự",
    "value_error": "không hợp lệ",
    "json_invalid": "không phải JSON hợp lệ",
    "too_long": "có quá nhiều phần tử (tối đa {max_length})",
}
_FIELD_NAMES = {
    "q": "câu tìm kiếm (q)",
    "top_k": "số kết quả (top_k)",
    "files": "tệp tải lên (files)",
}
_FIELD_CODES = {
    ("q", "string_too_long"): "query_too_long",
    ("q", "string_too_short"): "empty_query",
    ("q", "missing"): "empty_query",
    ("top_k", None): "bad_top_k",
    ("mode", None): "bad_mode",
}


def _validation_error(errors: list[dict]) -> CCHCError:
    parts, code, source = [], "invalid_request", None
    for err in errors[:3]:
        loc = [str(x) for x in err.get("loc", ()) if x not in ("query", "body", "path", "header")]
        name = loc[0] if loc else "yêu cầu"
        kind = err.get("type", "value_error")
        ctx = {k: v for k, v in (err.get("ctx") or {}).items()}
        try:
            reason = _VALIDATION_REASONS.get(kind, "không hợp lệ").format(**ctx)
        except (KeyError, IndexError):
            reason = "không hợp lệ"
        parts.append(f"tham số {_FIELD_NAMES.get(name, repr(name))} {reason}")
        if source is None:
            source = ".".join(str(x) for x in err.get("loc", ()))
            code = _FIELD_CODES.get((name, kind)) or _FIELD_CODES.get((name, None)) or code
    message = "; ".join(parts) or "yêu cầu không hợp lệ"
    return CCHCError(code, message[0].upper() + message[1:] + ".", source=source, status=422)


_HTTP_ERRORS = {
    400: ("bad_request", "Không đọc được nội dung yêu cầu (dữ liệu gửi lên bị hỏng hoặc sai định dạng)."),
    401: ("unauthorized", "Cần mã truy cập hợp lệ để thực hiện thao tác này."),
    403: ("forbidden", "Không được phép thực hiện thao tác này."),
    404: ("not_found", "Không tìm thấy địa chỉ này."),
    405: ("method_not_allowed", "Địa chỉ này không hỗ trợ phương thức HTTP đã dùng."),
    413: ("too_large", "Dữ liệu tải lên quá lớn."),
    415: ("unsupported_media_type", "Kiểu dữ liệu gửi lên không được hỗ trợ."),
}


class BodyTooLarge(StarletteHTTPException):
    """Raised from the wrapped ``receive`` when an upload grows past the limit."""

    def __init__(self, limit_mb: float):
        super().__init__(413, f"Dữ liệu tải lên vượt quá giới hạn {limit_mb:g} MB.")


def _wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith("/api/") or path == "/api":
        return False
    return "text/html" in request.headers.get("accept", "") or request.method == "GET"


def error_response(request: Request, err: CCHCError, headers: dict | None = None) -> Response:
    headers = dict(headers or {})
    if err.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    if _wants_html(request) and getattr(request.app.state, "templates", None) is not None:
        return request.app.state.templates.TemplateResponse(
            request, "error.html", {"err": err}, status_code=err.status, headers=headers
        )
    return JSONResponse(err.to_dict(), status_code=err.status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CCHCError)
    async def _cchc(request: Request, exc: CCHCError):
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return error_response(request, _validation_error(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code, message = _HTTP_ERRORS.get(exc.status_code, ("http_error", "Yêu cầu không thực hiện được."))
        if isinstance(exc, BodyTooLarge):
            code, message = "upload_too_large", str(exc.detail)
        err = CCHCError(code, message, status=exc.status_code)
        return error_response(request, err, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        err = CCHCError(
            "internal_error",
            "Máy chủ gặp lỗi không mong đợi. Vui lòng thử lại; nếu lỗi lặp lại, hãy báo quản trị viên.",
            status=500,
        )
        return error_response(request, err)


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorResponse, "description": "Tham số không hợp lệ."},
    500: {"model": ErrorResponse, "description": "Lỗi máy chủ."},
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    out = dict(_ERROR_RESPONSES)
    for c in codes:
        out[c] = {"model": ErrorResponse, "description": _HTTP_ERRORS.get(c, ("", "Lỗi."))[1]}
    return out


# =============================================================================================
# Body size limit (checked while streaming, before anything is parsed)
# =============================================================================================


class BodyLimitMiddleware:
    """Refuses request bodies over ``limit`` bytes: at once when Content-Length says so, else
    as soon as the streamed bytes pass it, so an upload is never read unbounded."""

    def __init__(self, app, limit: int, limit_mb: float):
        self.app = app
        self.limit = limit
        self.limit_mb = limit_mb

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = None
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    length = int(v)
                except ValueError:
                    length = None
        started = False

        async def send_wrapper(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        if length is not None and length > self.limit:
            await self._reject(scope, receive, send_wrapper)
            return
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit_mb)
            return message

        try:
            await self.app(scope, limited_receive, send_wrapper)
        except BodyTooLarge:
            if started:
                raise
            await self._reject(scope, receive, send_wrapper)

    async def _reject(self, scope, receive, send):
        err = CCHCError("upload_too_large", f"Dữ liệu tải lên vượt quá giới hạn {self.limit_mb:g} MB.", status=413)
        if "app" in scope:
            response = error_response(Request(scope, receive), err, headers={"Connection": "close"})
        else:
            response = JSONResponse(err.to_dict(), status_code=413, headers={"Connection": "close"})
        await response(scope, receive, send)


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
]


class SecurityHeadersMiddleware:
    """Adds the security headers to every response. The CSP allows scripts from this site only,
    so even text that slipped past escaping could not run; inline styles are allowed for the
    server-rendered SVG charts and progress bars."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in SECURITY_HEADERS if k not in present
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


# =============================================================================================
# Auth
# =============================================================================================

_bearer = HTTPBearer(
    auto_error=False,
    description="Mã truy cập (CCHC_TOKEN). Bắt buộc cho các thao tác ghi khi máy chủ đặt mã.",
)


def check_token(settings: Settings, presented: str | None) -> None:
    """Raise 401 unless writes are open (no token set) or ``presented`` is the token."""
    if not settings.token:
        return
    if not presented or not secrets.compare_digest(presented.encode("utf-8"), settings.token.encode("utf-8")):
        raise CCHCError(
            "unauthorized",
            "Cần mã truy cập hợp lệ (tiêu đề Authorization: Bearer <mã>) để thay đổi thư viện.",
            status=401,
        )


def require_token(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    check_token(request.app.state.cchc.settings, creds.credentials if creds else None)


# =============================================================================================
# Application state: library, writer thread, jobs, report cache
# =============================================================================================


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Upload:
    """An uploaded file read into memory (bounded by the body limit)."""

    name: str
    data: bytes


@dataclass
class Job:
    id: str
    total: int
    status: str = "queued"
    phase: str = "queued"
    done: int = 0
    results: list = field(default_factory=list)
    index: dict | None = None
    error: dict | None = None
    created_at: str = field(default_factory=_now)
    finished_at: str | None = None
    embed_done: int = 0
    embed_total: int = 0

    def to_json(self) -> dict:
        if self.status == "done":
            progress = 1.0
        else:
            # Reading counts for 60 %, embedding/indexing for the rest.
            read = self.done / self.total if self.total else 1.0
            emb = self.embed_done / self.embed_total if self.embed_total else 0.0
            progress = 0.6 * read + (0.4 * emb if self.phase == "indexing" else 0.0)
        return {
            "id": self.id,
            "status": self.status,
            "phase": self.phase,
            "total": self.total,
            "done": self.done,
            "progress": round(min(progress, 1.0), 3),
            "results": [r.to_json() for r in self.results],
            "index": self.index,
            "error": self.error,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
        }


class AppState:
    """Everything one app instance owns. One ``Library`` (one SQLite connection shared by the
    request threads under its lock) and one writer thread, so writes are serialised while reads
    go on."""

    MAX_JOBS = 200
    MAX_REPORTS = 32

    def __init__(self, settings: Settings):
        self.settings = settings
        self.library = Library(settings)
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cchc-writer")
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.reports: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._facets: tuple[int, dict] | None = None

    def close(self) -> None:
        self.writer.shutdown(wait=True, cancel_futures=False)
        self.library.close()

    # --- jobs ----------------------------------------------------------------------------

    def new_job(self, total: int) -> Job:
        job = Job(id=uuid.uuid4().hex, total=total)
        with self._lock:
            self.jobs[job.id] = job
            while len(self.jobs) > self.MAX_JOBS:
                oldest = next(iter(self.jobs))
                if self.jobs[oldest].status in ("done", "failed"):
                    self.jobs.pop(oldest)
                else:
                    break
        return job

    def job(self, job_id: str) -> Job:
        with self._lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise CCHCError("job_not_found", f"không có tác vụ mã '{job_id}' (có thể đã hết hạn)", status=404)
        return job

    def running_jobs(self) -> int:
        with self._lock:
            return sum(1 for j in self.jobs.values() if j.status in ("queued", "running"))

    def submit_ingest(self, uploads: list[Upload], replace: bool) -> Job:
        job = self.new_job(len(uploads))
        self.writer.submit(run_ingest_job, self, job, uploads, replace)
        return job

    def run_write(self, fn, *args, **kwargs):
        """Run ``fn`` on the writer thread and wait for it (called from a pool thread)."""
        return self.writer.submit(fn, *args, **kwargs).result()

    # --- gap reports kept for download links from the web page -------------------------------

    def keep_report(self, report) -> str:
        rid = uuid.uuid4().hex
        with self._lock:
            self.reports[rid] = report
            while len(self.reports) > self.MAX_REPORTS:
                self.reports.popitem(last=False)
        return rid

    def report(self, rid: str):
        with self._lock:
            rep = self.reports.get(rid)
        if rep is None:
            raise CCHCError(
                "report_not_found", "báo cáo này không còn được lưu; hãy chạy lại đối chiếu", status=404
            )
        return rep

    # --- dropdown values for the pages, cached per library generation ---------------------

    def facets(self) -> dict:
        gen = self.library.generation
        cached = self._facets
        if cached is not None and cached[0] == gen:
            return cached[1]
        plans = self.library.plans()
        years: set[int] = set()
        for p in plans:
            if p.meta.year:
                end = p.meta.year_end or p.meta.year
                years.update(range(p.meta.year, min(end, p.meta.year + 20) + 1))
        facets = {
            "plans": plans,
            "provinces": sorted({p.meta.province for p in plans if p.meta.province}),
            "units": sorted({p.meta.unit for p in plans if p.meta.unit}),
            "levels": sorted({p.meta.level for p in plans if p.meta.level}),
            "years": sorted(years),
            "areas": AREAS,
            "kinds": KINDS,
        }
        self._facets = (gen, facets)
        return facets


def state(request: Request) -> AppState:
    return request.app.state.cchc


# =============================================================================================
# Core calls shared by the API and the pages
# =============================================================================================


def refresh(library: Library, progress=None) -> dict | None:
    from cchc.search.index_manager import refresh_indexes

    return refresh_indexes(library, progress=progress).to_json()


def ingest_one(library: Library, upload: Upload, replace: bool):
    """Ingest one uploaded file; a parser bug becomes a clear per-file error, not a 500."""
    from cchc.indexing.ingest import ingest_bytes

    try:
        return ingest_bytes(library, upload.data, upload.name, replace=replace)
    except CCHCError:
        raise
    except Exception as e:  # noqa: BLE001 - a broken upload must not take the server down
        log.exception("ingest of upload %r failed", upload.name)
        raise CCHCError(
            "unreadable_file",
            f"không xử lý được tệp ({type(e).__name__}); hãy kiểm tra tệp có đúng định dạng không",
            source=_display_name(upload.name),
            status=422,
        ) from None


def _display_name(name: str) -> str:
    import re

    base = re.split(r"[\\/]", str(name or ""))[-1]
    return "".join(ch for ch in base if ch.isprintable())[:200] or "(không tên)"


def run_ingest_job(st: AppState, job: Job, uploads: list[Upload], replace: bool) -> Job:
    """Ingest ``uploads`` one by one, then rebuild the index once (writer thread)."""
    from cchc.indexing.ingest import IngestResult

    job.status, job.phase = "running", "reading"
    try:
        for up in uploads:
            try:
                result = ingest_one(st.library, up, replace)
            except CCHCError as e:
                result = IngestResult(e.source or _display_name(up.name), "failed", message=e.message)
            job.results.append(result)
            job.done += 1
        if any(r.status in ("added", "replaced") for r in job.results):
            job.phase = "indexing"

            def on_embed(done: int, total: int) -> None:
                job.embed_done, job.embed_total = done, total

            job.index = refresh(st.library, progress=on_embed)
        job.status, job.phase = "done", "done"
    except CCHCError as e:
        job.status, job.error = "failed", e.to_dict()["error"]
    except Exception as e:  # noqa: BLE001
        log.exception("ingest job %s failed", job.id)
        job.status = "failed"
        job.error = {"code": "internal_error", "message": f"Lỗi không mong đợi khi nạp: {type(e).__name__}", "source": None}
    finally:
        job.finished_at = _now()
    return job


def read_uploads(files: list[UploadFile], settings: Settings) -> list[Upload]:
    """Read uploaded files (each at most ``max_file_mb``) after checking how many there are."""
    files = [f for f in files if f is not None and (f.filename or f.size)]
    if not files:
        raise CCHCError("no_files", "Chưa chọn tệp nào để tải lên.", source="files", status=422)
    if len(files) > settings.max_upload_files:
        raise CCHCError(
            "too_many_files",
            f"Tải lên {len(files)} tệp, vượt quá giới hạn {settings.max_upload_files} tệp mỗi lần.",
            source="files",
            status=422,
        )
    limit = int(settings.max_file_mb * 1024 * 1024)
    out = []
    for f in files:
        data = f.file.read(limit + 1)  # the reader refuses limit+1 bytes with a clear 413
        out.append(Upload(name=f.filename or "tai-len.txt", data=data))
    return out


def read_upload_raw(upload: Upload, settings: Settings):
    """An uploaded draft as a ``RawDocument`` (not stored)."""
    from cchc.corpus.reader import read_bytes

    try:
        return read_bytes(upload.data, upload.name, max_bytes=int(settings.max_file_mb * 1024 * 1024))
    except CCHCError:
        raise
    except Exception as e:  # noqa: BLE001
        log.exception("reading upload %r failed", upload.name)
        raise CCHCError(
            "unreadable_file", f"không đọc được tệp ({type(e).__name__})", source=_display_name(upload.name), status=422
        ) from None


def clause_json(c: Clause) -> dict:
    return {
        "id": c.id,
        "plan_id": c.plan_id,
        "position": c.position,
        "label": c.label,
        "section": c.section,
        "path": list(c.path),
        "kind": c.kind,
        "kind_label": KINDS.get(c.kind, c.kind),
        "area": c.area,
        "area_label": AREAS.get(c.area) if c.area else None,
        "text": c.text,
        "responsible": c.responsible,
        "partners": c.partners,
        "deadline": c.deadline,
        "output": c.output,
    }


def plan_detail_json(plan: Plan, clauses: list[Clause]) -> dict:
    d = plan.to_json()
    d.update(
        title=plan.meta.title,
        year_end=plan.meta.year_end,
        parents=list(plan.meta.parents),
        format=plan.format,
        ingested_at=plan.ingested_at,
        clauses=[clause_json(c) for c in clauses],
    )
    return d


def run_search(
    library: Library,
    q: str,
    *,
    mode: str = "hybrid",
    top_k: int = 10,
    province=(),
    unit=(),
    level=(),
    year: int | None = None,
    area=(),
    kind=(),
    plan_ids=(),
    per_plan: int | None = None,
):
    from cchc.search.engine import SearchFilters, search

    filters = SearchFilters(
        province=[x for x in province if x],
        unit=[x for x in unit if x],
        level=[x for x in level if x],
        year=year,
        area=[x for x in area if x],
        kind=[x for x in kind if x],
        plan_ids=list(plan_ids),
    )
    return search(library, q, mode=mode, filters=filters, top_k=top_k, per_plan=per_plan)


def resolve_side(settings: Settings, ref: str | None, upload: Upload | None, what: str):
    """A gap-analysis side: a plan id typed as text, a consensus template's id, or an uploaded
    document. Text is never taken as a path on the server."""
    if upload is not None and ref:
        raise CCHCError(
            "ambiguous_input", f"Chỉ chọn một: mã {what} hoặc tệp {what} tải lên, không cả hai.", source=what, status=422
        )
    if upload is not None:
        return read_upload_raw(upload, settings)
    ref = (ref or "").strip()
    if not ref:
        raise CCHCError("missing_input", f"Chưa chọn {what}: nhập mã kế hoạch hoặc tải tệp lên.", source=what, status=422)
    if ref.isdigit() and len(ref) < 16:
        return int(ref)
    raise CCHCError("bad_input", f"Mã {what} '{ref[:40]}' không hợp lệ: phải là số (mã kế hoạch).", source=what, status=422)


def run_gap(library: Library, template, plan):
    from cchc.search.gap import gap

    return gap(library, template, plan)


def _feature(module: str, what: str):
    """A core module that ships separately; missing → a clear 501, not a 500."""
    import importlib

    try:
        return importlib.import_module(f"cchc.search.{module}")
    except ImportError:
        log.exception("module cchc.search.%s is not available", module)
        raise CCHCError("not_available", f"Máy chủ này chưa có chức năng {what}.", status=501) from None


def render_report_bytes(report, fmt: str) -> bytes:
    render_report = _feature("reports", "xuất báo cáo đối chiếu").render_report

    return render_report(report, fmt)


def report_download(report, fmt: str, stem: str = "doi-chieu-cchc") -> Response:
    data = render_report_bytes(report, fmt)
    return Response(
        data,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{stem}.{fmt}"'},
    )


def targets_frame(library: Library, indicator=None, province=None, year=None):
    from cchc.search import targets as tmod

    fields = getattr(tmod.TargetFilters, "__dataclass_fields__", {})
    kw: dict[str, Any] = {}
    for name, value in (("indicator", indicator), ("province", province), ("year", year)):
        if value in (None, "", []):
            continue
        if name in fields:
            default = fields[name].default
            factory = fields[name].default_factory  # type: ignore[misc]
            is_list = isinstance(default, list) or (factory is not None and callable(factory) and isinstance(factory(), list))
            kw[name] = [value] if is_list and not isinstance(value, list) else value
    return tmod.targets(library, tmod.TargetFilters(**kw))


def frame_records(df) -> list[dict]:
    """DataFrame rows as JSON-safe dicts (NaN → None, numpy scalars → Python)."""
    import math

    out = []
    for rec in df.to_dict(orient="records"):
        clean = {}
        for k, v in rec.items():
            if hasattr(v, "item"):
                v = v.item()
            if isinstance(v, float) and math.isnan(v):
                v = None
            if v is not None and not isinstance(v, (str, int, float, bool, list, dict)):
                v = str(v)
            clean[str(k)] = v
        out.append(clean)
    return out


def frame_download(df, fmt: str, stem: str) -> Response:
    if fmt == "csv":
        data = df.to_csv(index=False).encode("utf-8-sig")  # BOM: Excel opens Vietnamese correctly
    else:
        from cchc.search.targets import to_xlsx

        data = to_xlsx(df)
    return Response(
        data, media_type=MEDIA_TYPES[fmt], headers={"Content-Disposition": f'attachment; filename="{stem}.{fmt}"'}
    )


def package_version() -> str:
    try:
        return version("cchc-lens")
    except PackageNotFoundError:  # pragma: no cover
        return "0"


# =============================================================================================
# Routes
# =============================================================================================


def _api_routes(app: FastAPI, settings: Settings) -> None:
    """The ``/api`` routes; limits come from ``settings`` so the schema documents them."""

    Q = Annotated[
        str,
        Query(
            min_length=1,
            max_length=settings.max_query_chars,
            description="Câu tìm kiếm (có dấu, không dấu hay viết tắt đều được).",
        ),
    ]
    TopK = Annotated[int, Query(ge=1, le=settings.max_top_k, description="Số kết quả.")]

    @app.get(
        "/api/search",
        response_model=SearchResponse,
        tags=["tìm kiếm"],
        summary="Tìm điều khoản trong mọi kế hoạch",
        responses=_errors(409),
    )
    def api_search(
        request: Request,
        q: Q,
        mode: Annotated[
            Literal["hybrid", "dense", "lexical"],
            Query(description="Cách tìm: hybrid (kết hợp, mặc định), lexical (theo từ khóa), dense (theo ý nghĩa)."),
        ] = "hybrid",
        top_k: TopK = 10,
        province: Annotated[list[str], Query(description="Lọc theo tỉnh/thành phố (lặp lại được).")] = [],  # noqa: B006
        unit: Annotated[list[str], Query(description="Lọc theo đơn vị (xã, phường…).")] = [],  # noqa: B006
        level: Annotated[list[str], Query(description="Lọc theo cấp.")] = [],  # noqa: B006
        year: Annotated[int | None, Query(ge=1900, le=2200, description="Kế hoạch có kỳ bao trùm năm này.")] = None,
        area: Annotated[list[str], Query(description="Lĩnh vực cải cách: " + ", ".join(AREAS))] = [],  # noqa: B006
        kind: Annotated[list[str], Query(description="Loại điều khoản: " + ", ".join(KINDS))] = [],  # noqa: B006
        plan: Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Query(description="Chỉ tìm trong các kế hoạch này (mã).")] = [],  # noqa: B006
        per_plan: Annotated[int | None, Query(ge=1, le=settings.max_top_k, description="Tối đa N kết quả mỗi kế hoạch.")] = None,
    ):
        hits = run_search(
            state(request).library, q, mode=mode, top_k=top_k, province=province, unit=unit, level=level,
            year=year, area=area, kind=kind, plan_ids=plan, per_plan=per_plan,
        )
        return {"query": q, "mode": mode, "top_k": top_k, "n_hits": len(hits), "hits": [h.to_json() for h in hits]}

    @app.get("/api/plans", response_model=list[PlanOut], tags=["kế hoạch"], summary="Danh sách kế hoạch")
    def api_plans(request: Request):
        return [p.to_json() for p in state(request).library.plans()]

    @app.get(
        "/api/plans/{plan_id}",
        response_model=PlanDetail,
        tags=["kế hoạch"],
        summary="Thông tin và dàn ý một kế hoạch",
        responses=_errors(404),
    )
    def api_plan(request: Request, plan_id: Annotated[int, PathParam(ge=1, le=MAX_ID)]):
        lib = state(request).library
        return plan_detail_json(lib.plan(plan_id), lib.clauses(plan_id))

    @app.post(
        "/api/plans",
        response_model=JobOut,
        status_code=201,
        tags=["kế hoạch"],
        summary="Nạp kế hoạch (một hoặc nhiều tệp)",
        description=(
            "Tải lên tệp .txt, .md, .docx hoặc .pdf. Một tệp: nạp ngay và trả kết quả (201; 200 nếu "
            "đã có). Nhiều tệp: chạy nền, trả 202 với mã tác vụ; theo dõi tại `GET /api/jobs/{id}`. "
            f"Tối đa {settings.max_upload_files} tệp, tổng {settings.max_upload_mb:g} MB."
        ),
        responses={**_errors(401, 409, 413, 415), 202: {"model": JobOut, "description": "Đã nhận, đang nạp nền."}},
        dependencies=[Depends(require_token)],
    )
    def api_upload(
        request: Request,
        response: Response,
        files: Annotated[list[UploadFile], File(description="Các tệp kế hoạch.")],
        replace: Annotated[bool, Form(description="Thay phiên bản cũ của tệp cùng tên.")] = False,
    ):
        st = state(request)
        uploads = read_uploads(files, st.settings)
        if len(uploads) == 1:
            job = st.new_job(1)

            def one():
                job.status, job.phase = "running", "reading"
                result = ingest_one(st.library, uploads[0], replace)
                job.results.append(result)
                job.done = 1
                if result.status in ("added", "replaced"):
                    job.phase = "indexing"
                    job.index = refresh(st.library)
                job.status, job.phase, job.finished_at = "done", "done", _now()

            try:
                st.run_write(one)
            except CCHCError as e:
                job.status, job.error, job.finished_at = "failed", e.to_dict()["error"], _now()
                raise
            response.status_code = 201 if job.results[0].status != "unchanged" else 200
            return job.to_json()
        job = st.submit_ingest(uploads, replace)
        response.status_code = 202
        response.headers["Location"] = f"/api/jobs/{job.id}"
        return job.to_json()

    @app.get(
        "/api/jobs/{job_id}", response_model=JobOut, tags=["kế hoạch"], summary="Tiến độ một tác vụ nạp", responses=_errors(404)
    )
    def api_job(request: Request, job_id: Annotated[str, PathParam(max_length=64)]):
        return state(request).job(job_id).to_json()

    @app.delete(
        "/api/plans/{plan_id}",
        response_model=DeleteOut,
        tags=["kế hoạch"],
        summary="Xóa một kế hoạch",
        responses=_errors(401, 404),
        dependencies=[Depends(require_token)],
    )
    def api_delete(request: Request, plan_id: Annotated[int, PathParam(ge=1, le=MAX_ID)]):
        from cchc.indexing.ingest import remove_plan

        st = state(request)

        def work():
            remove_plan(st.library, plan_id)
            return refresh(st.library) if st.library.plans() else None

        index = st.run_write(work)
        return {"deleted": plan_id, "index": index}

    @app.post(
        "/api/gap",
        response_model=GapReportOut,
        tags=["đối chiếu"],
        summary="Đối chiếu một kế hoạch (dự thảo) với khung mẫu",
        description=(
            "Khung mẫu: `template` (mã kế hoạch hoặc mã khung đồng thuận) hoặc `template_file` (tải lên). "
            "Kế hoạch: `plan` (mã) hoặc `plan_file` (dự thảo tải lên; không được lưu trừ khi `store=true`, "
            "khi đó cần mã truy cập). `format` = md, html, csv hoặc xlsx để tải báo cáo."
        ),
        responses={
            **_errors(401, 404, 413),
            200: {
                "description": "Báo cáo đối chiếu (JSON, hoặc tệp nếu có `format`).",
                "content": {
                    "application/json": {},
                    **{MEDIA_TYPES[f].split(";")[0]: {} for f in REPORT_FORMATS},
                },
            },
        },
    )
    def api_gap(
        request: Request,
        template: Annotated[str | None, Form(max_length=200, description="Mã khung mẫu.")] = None,
        template_file: Annotated[UploadFile | None, File(description="Tệp khung mẫu.")] = None,
        plan: Annotated[str | None, Form(max_length=200, description="Mã kế hoạch được đối chiếu.")] = None,
        plan_file: Annotated[UploadFile | None, File(description="Tệp dự thảo kế hoạch.")] = None,
        format: Annotated[Literal["json", "md", "html", "csv", "xlsx"], Form(description="Định dạng trả về.")] = "json",
        store: Annotated[bool, Form(description="Lưu dự thảo tải lên vào thư viện.")] = False,
    ):
        st = state(request)
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        report, _ = gap_from_form(st, template, template_file, plan, plan_file, store, token)
        if format != "json":
            return report_download(report, format)
        return report.to_json()

    @app.get(
        "/api/targets",
        response_model=TargetsResponse,
        tags=["chỉ tiêu"],
        summary="So sánh chỉ tiêu giữa các đơn vị",
        responses={
            **_errors(),
            200: {
                "description": "Bảng chỉ tiêu (JSON, hoặc tệp nếu có `format`).",
                "content": {"application/json": {}, "text/csv": {}, MEDIA_TYPES["xlsx"]: {}},
            },
        },
    )
    def api_targets(
        request: Request,
        indicator: Annotated[str | None, Query(max_length=100, description="Mã chỉ tiêu, ví dụ online_payment.")] = None,
        province: Annotated[str | None, Query(max_length=100)] = None,
        year: Annotated[int | None, Query(ge=1900, le=2200)] = None,
        format: Annotated[Literal["json", "csv", "xlsx"], Query(description="json (mặc định), csv hoặc xlsx (tải tệp).")] = "json",
    ):
        df = targets_frame(state(request).library, indicator=indicator, province=province, year=year)
        if format != "json":
            return frame_download(df, format, "chi-tieu-cchc")
        rows = frame_records(df)
        return {"n_rows": len(rows), "rows": rows}

    @app.post(
        "/api/templates",
        response_model=ConsensusOut,
        status_code=201,
        tags=["đối chiếu"],
        summary="Dựng mẫu đồng thuận từ các kế hoạch trong thư viện",
        description=(
            "Gom các nhiệm vụ, chỉ tiêu giống nhau giữa các kế hoạch và giữ những nội dung có trong ít nhất "
            "`min_share` số kế hoạch (của một tỉnh nếu có `province`). Mẫu được lưu như một kế hoạch "
            "(thay mẫu cũ cùng phạm vi) và dùng làm `template` của `/api/gap`."
        ),
        responses=_errors(401, 409),
        dependencies=[Depends(require_token)],
    )
    def api_templates(
        request: Request,
        min_share: Annotated[float, Form(gt=0, le=1, description="Tỷ lệ kế hoạch tối thiểu phải có một nội dung (0–1).")] = 0.6,
        province: Annotated[str | None, Form(max_length=100, description="Chỉ dùng kế hoạch của tỉnh này.")] = None,
    ):
        st = state(request)
        return st.run_write(build_template, st.library, min_share, province or None)

    @app.get("/api/health", response_model=HealthOut, tags=["hệ thống"], summary="Tình trạng máy chủ")
    def api_health(request: Request):
        from cchc.search.index_manager import indexes_fresh

        st = state(request)
        lib = st.library
        with lib.lock:
            n_plans = lib.conn.execute("SELECT COUNT(*) FROM plans").fetchone()[0]
            n_clauses = lib.conn.execute("SELECT COUNT(*) FROM clauses").fetchone()[0]
        return {
            "status": "ok",
            "version": package_version(),
            "plans": n_plans,
            "clauses": n_clauses,
            "generation": lib.generation,
            "index_fresh": bool(indexes_fresh(lib)) if n_clauses else True,
            "jobs_running": st.running_jobs(),
        }


def build_template(library: Library, min_share: float, province: str | None) -> dict:
    consensus = _feature("consensus", "dựng mẫu đồng thuận")
    return consensus.build_consensus(library, min_share=min_share, province=province).to_json()


def gap_from_form(st: AppState, template, template_file, plan, plan_file, store: bool, token: str | None):
    """Shared by the API and the gap page: resolve both sides, optionally store the draft,
    run the analysis. Returns (report, stored ingest result or None)."""
    t_up = read_uploads([template_file], st.settings)[0] if _has_file(template_file) else None
    p_up = read_uploads([plan_file], st.settings)[0] if _has_file(plan_file) else None
    t_side = resolve_side(st.settings, template, t_up, "khung mẫu")
    p_side = resolve_side(st.settings, plan, p_up, "kế hoạch")
    stored = None
    if store and p_up is not None:
        check_token(st.settings, token)

        def work():
            r = ingest_one(st.library, p_up, False)
            if r.status in ("added", "replaced"):
                refresh(st.library)
            return r

        stored = st.run_write(work)
        if stored.plan_id is not None:
            p_side = stored.plan_id
    return run_gap(st.library, t_side, p_side), stored


def _has_file(f) -> bool:
    return f is not None and hasattr(f, "file") and bool(f.filename or f.size)


# =============================================================================================
# App factory
# =============================================================================================


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        app.state.cchc.close()

    app = FastAPI(
        title="CCHC Lens",
        version=package_version(),
        description=(
            "Tìm kiếm, đối chiếu và so sánh kế hoạch cải cách hành chính (CCHC) của xã, phường, tỉnh. "
            "Mọi lỗi có dạng `{\"error\": {\"code\", \"message\", \"source\"}}`. Các thao tác ghi cần "
            "`Authorization: Bearer <mã>` khi máy chủ đặt mã truy cập."
        ),
        openapi_url="/api/openapi.json",
        docs_url=None,  # Swagger UI would load from a CDN; /api/docs is rendered locally instead
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.cchc = AppState(settings)
    _install_error_handlers(app)
    limit_mb = settings.max_upload_mb
    # Multipart framing adds a little to the files themselves.
    app.add_middleware(BodyLimitMiddleware, limit=int(limit_mb * 1024 * 1024) + 16 * 1024, limit_mb=limit_mb)

    app.add_middleware(SecurityHeadersMiddleware)

    _api_routes(app, settings)

    from cchc.api import web

    web.install(app)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app
