"""Server-rendered pages for commune officials: search, plan outline, gap check, targets, upload.

Each route reads its state from the URL or the form, calls the same core functions as the API
(helpers in ``cchc.api.http``) and renders one Jinja template. Templates autoescape, so document
text (which may contain anything, ``<script>`` included) is always shown as text; the only
markup added to it is the ``<mark>`` of matched words, built here from escaped pieces.
Pages need no JavaScript except the upload progress bar (``static/app.js``, which falls back to
a meta refresh).
"""

from __future__ import annotations

import io
import re
import threading
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.datastructures import UploadFile as StarletteUploadFile

from cchc.api import http as core
from cchc.corpus.models import AREAS, KINDS, SECTION_SEPARATOR
from cchc.corpus.textnorm import canonical, fold
from cchc.errors import CCHCError

router = APIRouter(include_in_schema=False)

PAGE_TOP_K = 40
STATUS_LABELS = {"covered": "Đã có", "partial": "Có một phần", "missing": "Còn thiếu"}
MODE_LABELS = {"hybrid": "Kết hợp (khuyên dùng)", "lexical": "Theo từ khóa", "dense": "Theo ý nghĩa"}
INGEST_LABELS = {"added": "Đã nạp", "replaced": "Đã thay thế", "unchanged": "Đã có sẵn", "failed": "Lỗi"}


# --- template environment ------------------------------------------------------------------

_WORD_RE = re.compile(r"\w+")


def _agrees_with_query(term: str, query: str | None) -> bool:
    """False for a matched term that only matches a query word once diacritics are dropped
    ("toàn" for a query "thanh toán"); terms a query typed without diacritics matches, and
    terms not in the query at all (abbreviation expansions), are kept."""
    if not query:
        return True
    accents: dict[str, set[str] | None] = {}
    for w in _WORD_RE.findall(query):
        f, c = fold(w), canonical(w)
        if c == f:  # typed without diacritics: any accented form is meant
            accents[f] = None
        elif accents.get(f, set()) is not None:
            accents.setdefault(f, set()).add(c)
    for w in _WORD_RE.findall(term):
        forms = accents.get(fold(w), None)
        if forms and canonical(w) not in forms:
            return False
    return True


def highlight(text: str | None, matched: list[str] | None, query: str | None = None) -> Markup:
    """``text`` escaped, with the phrases of ``matched`` wrapped in ``<mark>``.

    Words are compared folded (case- and diacritic-insensitive, so a query typed without
    diacritics still lights up), but a multi-word term must match as a whole phrase: for
    "trực tuyến" the "tuyên" of "tuyên truyền" stays plain. Given the ``query``, a term that
    differs from a query word typed with diacritics only by its diacritics is not marked.
    Adjacent marks merge."""
    text = text or ""
    kept = [t for t in (matched or []) if _agrees_with_query(t, query)]
    terms = {tuple(fold(w) for w in _WORD_RE.findall(t)) for t in kept}
    terms.discard(())
    if not terms:
        return escape(text)
    words = list(_WORD_RE.finditer(text))
    folded = [fold(m.group(0)) for m in words]
    hit = [False] * len(words)
    for term in terms:
        n = len(term)
        for i in range(len(words) - n + 1):
            if tuple(folded[i : i + n]) == term:
                for j in range(i, i + n):
                    hit[j] = True
    spans: list[list[int]] = []
    for m, on in zip(words, hit, strict=True):
        if not on:
            continue
        if spans and not text[spans[-1][1] : m.start()].strip():
            spans[-1][1] = m.end()
        else:
            spans.append([m.start(), m.end()])
    out, pos = [], 0
    for a, b in spans:
        out.append(escape(text[pos:a]))
        out.append(Markup("<mark>%s</mark>") % text[a:b])
        pos = b
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def pct(value: Any, digits: int = 0) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    return f"{v * 100:.{digits}f}".replace(".", ",") + "%"


def number(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—" if value in (None, "") else str(value)
    if v != v:  # NaN
        return "—"
    s = f"{v:,.2f}".rstrip("0").rstrip(".")
    # Vietnamese: "." groups thousands, "," is the decimal mark.
    return s.replace(",", "\u0001").replace(".", ",").replace("\u0001", ".")


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(core.HERE / "templates")),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(highlight=highlight, pct=pct, number=number, ticks=ticks, sentence=sentence)
    env.globals.update(
        AREAS=AREAS,
        KINDS=KINDS,
        STATUS_LABELS=STATUS_LABELS,
        MODE_LABELS=MODE_LABELS,
        INGEST_LABELS=INGEST_LABELS,
        SEP=SECTION_SEPARATOR,
        version=core.package_version(),
    )
    return env


def install(app: FastAPI) -> None:
    app.state.templates = Jinja2Templates(env=_env())
    app.include_router(router)


def render(request: Request, name: str, ctx: dict, status: int = 200, headers: dict | None = None):
    st = core.state(request)
    base = {"nav": ctx.pop("nav", ""), "writes_need_token": bool(st.settings.token)}
    return request.app.state.templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status, headers=headers)


def _same_origin(request: Request) -> None:
    """Refuse a form post sent from another site (a page elsewhere must not be able to make
    an official's browser upload or store documents)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return
    if urlsplit(origin).netloc != request.headers.get("host", ""):
        raise CCHCError("cross_site", "Biểu mẫu phải được gửi từ chính trang CCHC Lens.", status=403)


# --- search ----------------------------------------------------------------------------------


def _group_hits(hits) -> list[dict]:
    groups: dict[int, dict] = {}
    for h in hits:
        g = groups.get(h.plan_id)
        if g is None:
            g = groups[h.plan_id] = {
                "plan_id": h.plan_id,
                "unit": h.unit,
                "province": h.province,
                "period": h.period,
                "source": h.source,
                "hits": [],
            }
        g["hits"].append(h)
    return list(groups.values())


def _filter_options(facets: dict) -> dict[str, list[tuple[str, str]]]:
    return {
        "province": [(p, p) for p in facets["provinces"]],
        "unit": [(u, u) for u in facets["units"]],
        "year": [(str(y), str(y)) for y in facets["years"]],
        "area": list(AREAS.items()),
        "kind": list(KINDS.items()),
    }


def _one(values: list[str]) -> str:
    return next((v for v in values if v), "")


@router.get("/", name="search_page")
def search_page(
    request: Request,
    q: Annotated[str, Query(max_length=2000)] = "",
    mode: Annotated[str, Query(max_length=20)] = "hybrid",
    province: Annotated[list[str], Query()] = [],  # noqa: B006
    unit: Annotated[list[str], Query()] = [],  # noqa: B006
    level: Annotated[list[str], Query()] = [],  # noqa: B006
    year: Annotated[str, Query(max_length=10)] = "",
    area: Annotated[list[str], Query()] = [],  # noqa: B006
    kind: Annotated[list[str], Query()] = [],  # noqa: B006
    k: Annotated[int, Query(ge=1, le=1000)] = PAGE_TOP_K,
):
    st = core.state(request)
    facets = st.facets()
    mode = mode if mode in core.MODES else "hybrid"
    top_k = min(k, st.settings.max_top_k)
    form = {
        "q": q,
        "mode": mode,
        "province": _one(province),
        "unit": _one(unit),
        "level": _one(level),
        "year": year.strip(),
        "area": _one(area),
        "kind": _one(kind),
    }
    error, groups, hits = None, [], []
    year_int = int(form["year"]) if form["year"].isdigit() and len(form["year"]) == 4 else None
    if q.strip():
        try:
            hits = core.run_search(
                st.library, q, mode=mode, top_k=top_k, province=[form["province"]], unit=[form["unit"]],
                level=[form["level"]], year=year_int, area=[form["area"]], kind=[form["kind"]],
            )
            groups = _group_hits(hits)
        except CCHCError as e:
            error = e
    more_url = None
    if len(hits) >= top_k and top_k < st.settings.max_top_k:
        more_url = "/?" + urlencode({**{k_: v for k_, v in form.items() if v}, "k": min(top_k * 2, st.settings.max_top_k)})
    return render(
        request,
        "search.html",
        {
            "nav": "search",
            "form": form,
            "facets": facets,
            "options": _filter_options(facets),
            "groups": groups,
            "n_hits": len(hits),
            "error": error,
            "more_url": more_url,
            "max_query_chars": st.settings.max_query_chars,
            "examples": ["thanh toán trực tuyến", "số hóa hồ sơ", "chỉ số hài lòng", "đối thoại với người dân"],
        },
    )


# --- plans -----------------------------------------------------------------------------------


@router.get("/plans", name="plans_page")
def plans_page(request: Request):
    st = core.state(request)
    return render(request, "plans.html", {"nav": "plans", "plans": st.library.plans()})


def outline_rows(clauses) -> list[dict]:
    """Headings (when the section path changes) interleaved with clauses, for the outline."""
    rows: list[dict] = []
    shown: list[str] = []
    for c in clauses:
        for depth, heading in enumerate(c.path):
            if len(shown) > depth and shown[depth] == heading:
                continue
            shown = shown[:depth] + [heading]
            rows.append({"type": "heading", "depth": depth, "text": heading})
        rows.append({"type": "clause", "depth": len(c.path), "clause": c})
    return rows


@router.get("/plans/{plan_id}", name="plan_page")
def plan_page(request: Request, plan_id: Annotated[int, PathParam(ge=1, le=core.MAX_ID)]):
    st = core.state(request)
    plan = st.library.plan(plan_id)
    clauses = st.library.clauses(plan_id)
    counts: dict[str, int] = {}
    for c in clauses:
        if c.area:
            counts[c.area] = counts.get(c.area, 0) + 1
    return render(
        request,
        "plan.html",
        {"nav": "plans", "plan": plan, "rows": outline_rows(clauses), "area_counts": counts, "n": len(clauses)},
    )


# --- gap check -------------------------------------------------------------------------------


def is_consensus(plan) -> bool:
    return (plan.source or "").startswith("consensus-")


def _template_choices(st: core.AppState) -> list[dict]:
    """Consensus templates first (they are stored as plans), then every other plan."""
    plans = st.library.plans()
    out = [{"value": str(p.id), "label": _plan_label(p), "consensus": True} for p in plans if is_consensus(p)]
    out += [{"value": str(p.id), "label": _plan_label(p), "consensus": False} for p in plans if not is_consensus(p)]
    return out


def _plan_label(p) -> str:
    m = p.meta
    bits = [m.unit or p.source]
    if m.province:
        bits.append(m.province)
    if m.period:
        bits.append(m.period)
    return f"{p.id}. " + " · ".join(bits)


def _gap_ctx(st: core.AppState, form: dict) -> dict:
    return {
        "nav": "gap",
        "choices": _template_choices(st),
        "plans": [p for p in st.library.plans() if not is_consensus(p)],
        "provinces": st.facets()["provinces"],
        "form": form,
    }


@router.get("/gap", name="gap_page")
def gap_page(
    request: Request,
    template: Annotated[str, Query(max_length=200)] = "",
    plan: Annotated[str, Query(max_length=200)] = "",
    built: Annotated[str, Query(max_length=20)] = "",
):
    st = core.state(request)
    ctx = _gap_ctx(st, {"template": template, "plan": plan})
    if built.isdigit():
        ctx["built"] = next((p for p in st.library.plans() if str(p.id) == built), None)
    return render(request, "gap.html", ctx)


@router.post("/gap/template", name="gap_build_template")
async def gap_build_template(request: Request):
    from starlette.concurrency import run_in_threadpool

    _same_origin(request)
    st = core.state(request)
    fields, _files = await _form_uploads(request)
    try:
        core.check_token(st.settings, fields.get("token") or None)
        result = await run_in_threadpool(st.run_write, core.build_template, st.library, 0.6, fields.get("province") or None)
    except CCHCError as e:
        return render(request, "gap.html", {**_gap_ctx(st, {}), "error": e}, status=e.status)
    pid = result["plan_id"]
    return RedirectResponse(f"/gap?template={pid}&built={pid}", status_code=303)


async def _form_uploads(request: Request) -> tuple[dict, dict[str, list[StarletteUploadFile]]]:
    st = core.state(request)
    form = await request.form(max_files=st.settings.max_upload_files + 2, max_fields=50)
    fields: dict[str, str] = {}
    files: dict[str, list] = {}
    for key, value in form.multi_items():
        if isinstance(value, StarletteUploadFile):
            if value.filename or value.size:
                files.setdefault(key, []).append(value)
        else:
            fields.setdefault(key, str(value)[:1000])
    return fields, files


@router.post("/gap", name="gap_run")
async def gap_run(request: Request):
    from starlette.concurrency import run_in_threadpool

    _same_origin(request)
    st = core.state(request)
    fields, files = await _form_uploads(request)
    template = fields.get("template", "") if not files.get("template_file") else ""
    plan = fields.get("plan", "") if not files.get("plan_file") else ""
    store = fields.get("store") in ("1", "on", "true")
    ctx = _gap_ctx(st, fields)
    try:
        report, stored = await run_in_threadpool(
            core.gap_from_form,
            st,
            template,
            (files.get("template_file") or [None])[0],
            plan,
            (files.get("plan_file") or [None])[0],
            store,
            fields.get("token") or None,
        )
    except CCHCError as e:
        return render(request, "gap.html", {**ctx, "error": e}, status=e.status if e.status != 500 else 500)
    rid = st.keep_report(report)
    return render(request, "gap.html", {**ctx, "report": report_view(report.to_json()), "rid": rid, "stored": stored})


def _side_label(ref: dict) -> str:
    bits = [ref.get("unit") or ref.get("title") or ref.get("source") or "?"]
    if ref.get("period"):
        bits.append(ref["period"])
    label = " · ".join(bits)
    return f"{label} (kế hoạch {ref['id']})" if ref.get("id") else f"{label} (tệp tải lên)"


def _by_area_groups(items: list[dict]) -> list[tuple[str, list[dict]]]:
    groups: dict[str | None, list[dict]] = {}
    for it in items:
        groups.setdefault(it.get("area") if it.get("area") in AREAS else None, []).append(it)
    order = [a for a in AREAS if a in groups] + ([None] if None in groups else [])
    return [(AREAS.get(a, "Chưa xác định lĩnh vực") if a else "Chưa xác định lĩnh vực", groups[a]) for a in order]


def report_view(rep: dict) -> dict:
    """The report reshaped for the page: items split by status, weaker targets, side labels."""
    items = rep.get("items") or []
    by_status: dict[str, list] = {"missing": [], "partial": [], "covered": []}
    for it in items:
        by_status.setdefault(it.get("status") or "missing", []).append(it)
    weaker = [it for it in items if (it.get("target") or {}).get("comparison") == "weaker"]
    return {
        **rep,
        "template_label": _side_label(rep.get("template") or {}),
        "plan_label": _side_label(rep.get("plan") or {}),
        "missing": by_status["missing"],
        "partial": by_status["partial"],
        "covered": by_status["covered"],
        "weaker": weaker,
        "missing_groups": _by_area_groups(by_status["missing"]),
        "areas": rep.get("by_area") or [],
        "overall": rep.get("coverage"),
    }


@router.get("/gap/report/{rid}.{fmt}", name="gap_download")
def gap_download(request: Request, rid: Annotated[str, PathParam(max_length=64)], fmt: str):
    if fmt not in core.REPORT_FORMATS:
        raise CCHCError("bad_format", "định dạng báo cáo phải là md, html, csv hoặc xlsx", status=404)
    return core.report_download(core.state(request).report(rid), fmt)


# --- targets ---------------------------------------------------------------------------------

_chart_lock = threading.Lock()  # matplotlib's font cache and text layout are not thread-safe


def chart_svg(rows: list[dict], label: str) -> Markup | None:
    """A horizontal bar chart of the values per unit, as inline SVG markup."""
    if not rows:
        return None
    from matplotlib.figure import Figure

    data = [(str(r.get("unit") or r.get("plan_id")), float(r["value"])) for r in rows if isinstance(r.get("value"), (int, float))]
    if not data:
        return None
    # One bar per unit: the most ambitious value it commits to.
    best: dict[str, float] = {}
    for name, v in data:
        best[name] = max(v, best.get(name, v))
    items = sorted(best.items(), key=lambda kv: kv[1])
    uom = next((r.get("unit_of_measure") for r in rows if r.get("unit_of_measure")), None)
    percent = uom == "percent"
    with _chart_lock:
        fig = Figure(figsize=(5.2, 0.7 + 0.46 * len(items)), dpi=96)
        ax = fig.add_subplot()
        names = [n for n, _ in items]
        values = [v for _, v in items]
        bars = ax.barh(names, values, color="#1f5fa8", height=0.62)
        ax.bar_label(bars, labels=[number(v) + ("%" if percent else "") for v in values], padding=4, fontsize=13)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(axis="y", labelsize=13, length=0)
        ax.tick_params(axis="x", labelsize=11)
        top = max(values) if values else 1
        ax.set_xlim(0, 112 if percent and top <= 100 else (top * 1.18 if top > 0 else 1))
        if percent:
            ax.xaxis.set_major_formatter(lambda x, _pos: f"{x:g}%")
        ax.grid(axis="x", color="#dde3ea", linewidth=0.8)
        ax.set_axisbelow(True)
        fig.tight_layout()
        buf = io.StringIO()
        import matplotlib

        with matplotlib.rc_context({"svg.fonttype": "none", "font.family": "DejaVu Sans"}):
            fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    svg = svg[svg.find("<svg") :]  # drop the XML prolog and doctype: this is inline HTML
    svg = svg.replace("<svg ", '<svg role="img" aria-label="%s" ' % escape(label), 1)
    return Markup(svg)


def _indicator_choices(df) -> list[dict]:
    seen: dict[str, dict] = {}
    if df is not None and len(df):
        for code, label in df[["indicator", "indicator_label"]].itertuples(index=False):
            if code and code not in seen:
                seen[code] = {"code": code, "label": label or code, "n": 0}
            if code:
                seen[code]["n"] += 1
    return sorted(seen.values(), key=lambda d: (-d["n"], d["label"]))


@router.get("/targets", name="targets_page")
def targets_page(
    request: Request,
    indicator: Annotated[str, Query(max_length=100)] = "",
    province: Annotated[str, Query(max_length=100)] = "",
    year: Annotated[str, Query(max_length=10)] = "",
):
    st = core.state(request)
    error, rows, choices, chart, label = None, [], [], None, ""
    year_int = int(year) if year.isdigit() and len(year) == 4 else None
    try:
        all_df = core.targets_frame(st.library)
        templates = {p.id for p in st.library.plans() if is_consensus(p)}
        choices = _indicator_choices(all_df[~all_df["plan_id"].isin(templates)] if templates else all_df)
        if not indicator and choices:
            indicator = choices[0]["code"]
        if indicator:
            df = core.targets_frame(st.library, indicator=indicator, province=province or None, year=year_int)
            templates = {p.id for p in st.library.plans() if is_consensus(p)}
            # a consensus template is not a unit: it stays out of the comparison
            rows = [r for r in core.frame_records(df) if r.get("plan_id") not in templates]
            label = next((c["label"] for c in choices if c["code"] == indicator), indicator)
            chart = chart_svg(rows, label)
    except CCHCError as e:
        error = e
    query = urlencode({k: v for k, v in {"indicator": indicator, "province": province, "year": year}.items() if v})
    return render(
        request,
        "targets.html",
        {
            "nav": "targets",
            "choices": choices,
            "form": {"indicator": indicator, "province": province, "year": year},
            "facets": st.facets(),
            "rows": rows,
            "chart": chart,
            "label": label,
            "error": error,
            "query": query,
        },
    )


# --- upload ----------------------------------------------------------------------------------


@router.get("/upload", name="upload_page")
def upload_page(request: Request):
    st = core.state(request)
    return render(request, "upload.html", {"nav": "upload", "settings": st.settings})


@router.post("/upload", name="upload_run")
async def upload_run(request: Request):
    _same_origin(request)
    st = core.state(request)
    try:
        fields, files = await _form_uploads(request)
        core.check_token(st.settings, fields.get("token") or None)
        from starlette.concurrency import run_in_threadpool

        uploads = await run_in_threadpool(core.read_uploads, files.get("files", []), st.settings)
    except CCHCError as e:
        return render(request, "upload.html", {"nav": "upload", "settings": st.settings, "error": e}, status=e.status)
    job = st.submit_ingest(uploads, fields.get("replace") in ("1", "on", "true"))
    return RedirectResponse(f"/upload/jobs/{job.id}", status_code=303)


@router.get("/upload/jobs/{job_id}", name="job_page")
def job_page(request: Request, job_id: Annotated[str, PathParam(max_length=64)]):
    job = core.state(request).job(job_id)
    return render(request, "job.html", {"nav": "upload", "job": job.to_json()})


# --- API documentation, rendered locally from the OpenAPI schema ----------------------------


@router.get("/api/docs", name="api_docs")
def api_docs(request: Request):
    schema = request.app.openapi()
    components = schema.get("components", {}).get("schemas", {})
    ops = []
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            fields = []
            for media in (op.get("requestBody") or {}).get("content", {}).values():
                body = media.get("schema", {})
                if "$ref" in body:
                    body = components.get(body["$ref"].rsplit("/", 1)[-1], {})
                required = set(body.get("required", []))
                for name, prop in body.get("properties", {}).items():
                    fields.append({"name": name, "required": name in required, "description": prop.get("description", "")})
            ops.append({"path": path, "method": method.upper(), "op": op, "fields": fields})
    return render(request, "api_docs.html", {"nav": "api", "ops": ops, "schema": schema})


def sentence(text: str | None) -> str:
    """A core message as a sentence: capital first letter, final full stop."""
    t = (text or "").strip()
    if not t:
        return ""
    t = t[0].upper() + t[1:]
    return t if t[-1] in ".!?…" else t + "."


_TICKS = re.compile(r"`([^`]+)`")


def ticks(text: str | None) -> Markup:
    """Escaped text with `backticks` shown as code (for the OpenAPI descriptions)."""
    return Markup(_TICKS.sub(lambda m: f"<code>{m.group(1)}</code>", str(escape(text or ""))))
