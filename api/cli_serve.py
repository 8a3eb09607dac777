"""``cchc serve``: run the web app and the HTTP API.

Registers itself on the ``cchc`` click group. On a fresh or empty data directory it first
ingests and indexes the bundled sample plans so the site works at once; it refuses to listen on
a non-loopback address unless a write token is set (CCHC_TOKEN), because uploads and deletions
would otherwise be open to the whole network.
"""

from __future__ import annotations

import ipaddress
import sys

import click

from cchc.api.cli import cli, handle_errors
from cchc.errors import CCHCError
from cchc.settings import get_settings


def is_loopback(host: str) -> bool:
    h = host.strip().strip("[]").lower()
    if h in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False  # any other name may resolve to a public interface


def ensure_samples(library, echo=click.echo) -> bool:
    """Ingest and index the bundled samples when the library has no plan. True if it did."""
    if library.plans():
        return False
    from cchc.corpus.bundled import sample_paths
    from cchc.indexing.ingest import ingest
    from cchc.search.index_manager import refresh_indexes

    echo("Thư viện trống: đang nạp bộ kế hoạch mẫu (lần đầu có thể mất vài phút)…")
    results = ingest(library, sample_paths(), progress=lambda r: echo(f"  {r.source}: {r.status}"))
    if not any(r.ok for r in results):
        raise CCHCError("samples_failed", "không nạp được bộ kế hoạch mẫu")

    def progress(done: int, total: int) -> None:
        echo(f"  đang tính véc-tơ: {done}/{total}")

    info = refresh_indexes(library, progress=progress)
    echo(f"Đã lập chỉ mục {info.n_clauses} điều khoản.")
    return True


def warm_up(library) -> None:
    """Load the index snapshot and the embedding model before the first request."""
    from cchc.search.engine import search

    try:
        search(library, "thanh toán trực tuyến", top_k=1)
    except CCHCError:
        pass


@cli.command()
@click.option("--host", default=None, help="Địa chỉ lắng nghe (mặc định 127.0.0.1, hoặc CCHC_HOST).")
@click.option("--port", type=int, default=None, help="Cổng (mặc định 8000, hoặc CCHC_PORT).")
@click.option("--no-samples", is_flag=True, help="Không tự nạp bộ kế hoạch mẫu khi thư viện trống.")
@handle_errors
def serve(host, port, no_samples):
    """Chạy trang web và API (mặc định http://127.0.0.1:8000)."""
    import uvicorn

    from cchc.api.http import create_app
    from cchc.indexing.library import Library

    base = get_settings()
    settings = base.model_copy(update={"host": host or base.host, "port": port or base.port})
    if not 0 < settings.port < 65536:
        raise CCHCError("bad_port", f"cổng {settings.port} không hợp lệ (1–65535)")
    if not is_loopback(settings.host) and not settings.token:
        click.echo(
            f"Lỗi: không chạy trên địa chỉ {settings.host} khi chưa đặt mã truy cập: mọi người trong mạng sẽ "
            "tải lên và xóa được kế hoạch. Hãy đặt biến môi trường CCHC_TOKEN (ví dụ CCHC_TOKEN=$(openssl rand -hex 16)) "
            "hoặc chạy trên 127.0.0.1.",
            err=True,
        )
        sys.exit(2)
    with Library(settings) as lib:
        if not no_samples:
            ensure_samples(lib, echo=lambda m: click.echo(m, err=True))
        click.echo("Đang nạp chỉ mục và mô hình…", err=True)
        warm_up(lib)
    app = create_app(settings)
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    click.echo(f"CCHC Lens đang chạy tại http://{shown}:{settings.port}/  (Ctrl+C để dừng)", err=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)
