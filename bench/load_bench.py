"""HTTP load on ``cchc serve``: throughput and latency of searches with several clients at once.

    python bench/load_bench.py                      # 8 clients, 30 s, writes bench/RESULTS.md
    python bench/load_bench.py --seconds 5 --clients 4 --no-results   # the short CI variant

Starts ``cchc serve`` as a subprocess on 127.0.0.1 (a free port) over a data directory holding
the sample corpus (``bench/out/load-home`` by default, kept between runs; on first use the
server itself ingests and indexes the bundled samples, which takes a few minutes), waits for
``/api/health``, warms up, then runs a closed-loop load generator: ``--clients`` asyncio tasks
sharing one httpx client, each sending the next request as soon as the previous one is
answered, for ``--seconds``. Requests are realistic searches (the dev-set queries of
bench/eval_queries.json plus unaccented and abbreviated variants, four in seven with a filter): three in
four go to the JSON API (``/api/search``), one in four to the HTML search page an official uses
(``/?q=…``). Prints one JSON object::

    {"clients", "seconds", "requests", "throughput_rps", "p50_ms", "p95_ms", "p99_ms",
     "max_ms", "errors", "by_kind": {"api": {...}, "page": {...}}, ...}

and exits non-zero if any request failed (non-2xx or a transport error). Bounded on purpose:
loopback only, at most 64 clients and 600 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
DEFAULT_HOME = HERE / "out" / "load-home"

EXTRA_QUERIES = [
    "thanh toan truc tuyen",
    "dich vu cong truc tuyen toan trinh",
    "TTHC",
    "so hoa ho so",
    "chỉ số hài lòng của người dân",
    "SIPAS",
    "PAR INDEX",
    "một cửa liên thông",
    "kiem tra cong vu",
    "chuyển đổi số",
    "CBCCVC",
    "văn bản QPPL",
    "tự chủ tài chính đơn vị sự nghiệp",
    "Tổ công nghệ số cộng đồng",
    "đối thoại với người dân",
]
FILTERS = [
    {},
    {},
    {},
    {"kind": "target"},
    {"province": "Hải Phòng"},
    {"area": "procedures"},
    {"year": "2026"},
]


def load_queries() -> list[str]:
    queries = list(EXTRA_QUERIES)
    try:
        data = json.loads((HERE / "eval_queries.json").read_text(encoding="utf-8"))
        queries += [q["q"] for q in data.get("queries", [])]
    except (OSError, ValueError, KeyError):
        pass
    return queries


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, port: int, log_path: Path) -> subprocess.Popen:
    env = dict(os.environ, CCHC_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("CCHC_TOKEN", None)  # loopback: no token needed
    cmd = [
        sys.executable, "-c", "from cchc.api.cli import cli; cli()",
        "serve", "--host", "127.0.0.1", "--port", str(port),
    ]
    log = log_path.open("wb")
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(base: str, proc: subprocess.Popen, timeout: float) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"cchc serve exited with code {proc.returncode} before it was ready")
        try:
            r = httpx.get(base + "/api/health", timeout=2.0)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"cchc serve was not ready after {timeout:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def percentile(sorted_ms: list[float], p: float) -> float:
    if not sorted_ms:
        return float("nan")
    k = (len(sorted_ms) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(sorted_ms) - 1)
    return sorted_ms[lo] + (sorted_ms[hi] - sorted_ms[lo]) * (k - lo)


def summary(latencies: list[float], seconds: float) -> dict:
    s = sorted(latencies)
    return {
        "requests": len(s),
        "throughput_rps": round(len(s) / seconds, 2) if seconds else 0.0,
        "p50_ms": round(percentile(s, 50), 1),
        "p95_ms": round(percentile(s, 95), 1),
        "p99_ms": round(percentile(s, 99), 1),
        "max_ms": round(s[-1], 1) if s else float("nan"),
        "mean_ms": round(statistics.fmean(s), 1) if s else float("nan"),
    }


UPLOAD_TEMPLATE = """KẾ HOẠCH
Cải cách hành chính xã Tải Thử {n} năm 2026
Thực hiện Kế hoạch số 148/KH-UBND của UBND tỉnh Ninh Bình.
I. MỤC ĐÍCH, YÊU CẦU
Nâng cao chất lượng phục vụ người dân của xã Tải Thử {n}.
II. CHỈ TIÊU
1. Tỷ lệ giao dịch thanh toán trực tuyến đạt tối thiểu {pct}%.
2. 100% hồ sơ TTHC được số hóa khi tiếp nhận (đợt {n}).
III. NHIỆM VỤ
1. Cải cách thủ tục hành chính
- Niêm yết công khai đầy đủ thủ tục hành chính tại Bộ phận Một cửa (lần {n}).
"""


async def load(base: str, clients: int, seconds: float, seed: int, mix: bool = False) -> dict:
    queries = load_queries()
    rng = random.Random(seed)
    latencies: dict[str, list[float]] = {"api": [], "page": [], "gap": [], "upload": []}
    upload_counter = iter(range(10**6))
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=limits) as client:
        # warm-up: model, index snapshot, templates
        for q in queries[:3]:
            await client.get("/api/search", params={"q": q})
            await client.get("/", params={"q": q})
        start = time.perf_counter()
        deadline = start + seconds

        plan_ids = [p["id"] for p in (await client.get("/api/plans")).json()][:5] if mix else []

        async def mixed_request(r: random.Random) -> bool:
            """A gap check between two stored plans or the upload of a new small plan
            (mix mode): returns False when the caller should do a search instead."""
            roll = r.random()
            if roll < 0.15 and len(plan_ids) >= 2:
                a, b = r.sample(plan_ids, 2)
                t0 = time.perf_counter()
                try:
                    resp = await client.post("/api/gap", data={"template": str(a), "plan": str(b)})
                    if resp.status_code != 200 or "items" not in resp.json():
                        errors.append(f"{resp.status_code} /api/gap: {resp.text[:200]}")
                        return True
                except (httpx.HTTPError, ValueError) as e:
                    errors.append(f"{type(e).__name__} /api/gap: {e}")
                    return True
                latencies["gap"].append((time.perf_counter() - t0) * 1000)
                return True
            if roll < 0.20:
                n = next(upload_counter)
                body = UPLOAD_TEMPLATE.format(n=f"{seed}-{n}", pct=80 + n % 20).encode("utf-8")
                t0 = time.perf_counter()
                try:
                    resp = await client.post("/api/plans", files={"files": (f"tai-thu-{seed}-{n}.txt", body, "text/plain")})
                    if resp.status_code not in (200, 201, 202):
                        errors.append(f"{resp.status_code} POST /api/plans: {resp.text[:200]}")
                        return True
                except httpx.HTTPError as e:
                    errors.append(f"{type(e).__name__} POST /api/plans: {e}")
                    return True
                latencies["upload"].append((time.perf_counter() - t0) * 1000)
                return True
            return False

        async def worker(i: int) -> None:
            r = random.Random(rng.random() + i)
            while time.perf_counter() < deadline:
                if mix and await mixed_request(r):
                    continue
                q = r.choice(queries)
                params = {"q": q, **r.choice(FILTERS)}
                kind = "page" if r.random() < 0.25 else "api"
                url = "/" if kind == "page" else "/api/search"
                if kind == "api":
                    params["top_k"] = "10"
                t0 = time.perf_counter()
                try:
                    resp = await client.get(url, params=params)
                    ok = resp.status_code == 200 and (kind == "page" or "hits" in resp.json())
                    if not ok:
                        errors.append(f"{resp.status_code} {url} {params}: {resp.text[:200]}")
                except (httpx.HTTPError, ValueError) as e:
                    errors.append(f"{type(e).__name__} {url} {params}: {e}")
                    continue
                latencies[kind].append((time.perf_counter() - t0) * 1000)

        await asyncio.gather(*(worker(i) for i in range(clients)))
        elapsed = time.perf_counter() - start
    everything = [x for v in latencies.values() for x in v]
    return {
        **summary(everything, elapsed),
        "elapsed_s": round(elapsed, 2),
        "errors": len(errors),
        "error_samples": errors[:5],
        "by_kind": {k: summary(v, elapsed) for k, v in latencies.items() if v},
        "distinct_queries": len(set(queries)),
    }


def write_results(result: dict) -> None:
    sys.path.insert(0, str(HERE))
    from results_md import write_section

    api, page = result["by_kind"]["api"], result["by_kind"]["page"]
    body = f"""Script: `python bench/load_bench.py --clients {result['clients']} --seconds {result['seconds']}`. `cchc serve` (uvicorn, one process) on 127.0.0.1 over the five sample plans ({result['server']['clauses']} clauses), default hybrid search; the load generator (asyncio + httpx, closed loop: each client sends its next request when the previous answer arrives) runs on the same 2-core machine. Queries: the {result['distinct_queries']} dev-set and extra queries (accented, unaccented, abbreviations; four in seven with a filter); 3/4 JSON API, 1/4 HTML search page.

| requests | kind | throughput (req/s) | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |
|---|---|---|---|---|---|---|
| {result['requests']} | all | {result['throughput_rps']} | {result['p50_ms']} | {result['p95_ms']} | {result['p99_ms']} | {result['max_ms']} |
| {api['requests']} | `/api/search` | {api['throughput_rps']} | {api['p50_ms']} | {api['p95_ms']} | {api['p99_ms']} | {api['max_ms']} |
| {page['requests']} | `/?q=` page | {page['throughput_rps']} | {page['p50_ms']} | {page['p95_ms']} | {page['p99_ms']} | {page['max_ms']} |

Errors: {result['errors']} of {result['requests'] + result['errors']} requests. With {result['clients']} clients on 2 cores the latency is mostly queueing: each hybrid search embeds the query with the 4-bit e5 model (one model instance behind a lock, about 20 ms of CPU per query in process), then runs BM25 and the exact dense search (about 2 ms together). Other processes shared the machine (1-minute load average {result['loadavg_before']} before the run, {result['loadavg_after']} at its end with server and load generator), which shows directly in these figures."""
    write_section("load", "HTTP load (cchc serve)", body)


def write_mixed_results(result: dict) -> None:
    sys.path.insert(0, str(HERE))
    from results_md import write_section

    rows = [f"| all | {result['requests']} | {result['throughput_rps']} | {result['p50_ms']} | {result['p95_ms']} | {result['p99_ms']} | {result['max_ms']} |"]
    names = {"api": "`GET /api/search`", "page": "`GET /?q=` page", "gap": "`POST /api/gap` (two stored plans)", "upload": "`POST /api/plans` (new plan, ingest + reindex)"}
    for kind, s in result["by_kind"].items():
        rows.append(f"| {names.get(kind, kind)} | {s['requests']} | {s['throughput_rps']} | {s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} | {s['max_ms']} |")
    body = (
        f"Script: `python bench/load_bench.py --mix --clients {result['clients']} --seconds {result['seconds']}` — `cchc serve` on "
        "127.0.0.1, closed-loop asyncio clients sending as fast as answers come back: 15 % gap checks between two stored "
        "plans, 5 % uploads of a new small plan (each one ingested and the indexes rebuilt while searches go on), the "
        "rest searches (API and HTML).\n\n"
        "| kind | requests | req/s | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows) +
        f"\n\nErrors: {result['errors']}. Load average {result['loadavg_before']} before, {result['loadavg_after']} after."
    )
    write_section("load-mixed", "HTTP mixed load: search, gap, upload", body)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the measured load (s)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients")
    ap.add_argument("--home", type=Path, default=DEFAULT_HOME, help="data directory for the server")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    ap.add_argument("--ready-timeout", type=float, default=900.0, help="how long to wait for the server (s)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-results", action="store_true", help="do not write bench/RESULTS.md")
    ap.add_argument("--mix", action="store_true", help="mixed load: searches, gap checks and uploads")
    args = ap.parse_args(argv)
    if not 1 <= args.clients <= 64:
        ap.error("--clients must be between 1 and 64")
    if not 0 < args.seconds <= 600:
        ap.error("--seconds must be in (0, 600]")

    args.home.mkdir(parents=True, exist_ok=True)
    load_before = round(os.getloadavg()[0], 2)
    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = args.home.parent / "load-serve.log"
    proc = start_server(args.home, port, log_path)
    try:
        health = wait_ready(base, proc, args.ready_timeout)
        result = asyncio.run(load(base, args.clients, args.seconds, args.seed, mix=args.mix))
    finally:
        stop_server(proc)
    result = {
        "clients": args.clients,
        "seconds": args.seconds,
        "mix": args.mix,
        **result,
        "loadavg_before": load_before,
        "loadavg_after": round(os.getloadavg()[0], 2),
        "server": {"plans": health["plans"], "clauses": health["clauses"]},
    }
    print(json.dumps(result, ensure_ascii=False))
    if not args.no_results:
        write_mixed_results(result) if args.mix else write_results(result)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
