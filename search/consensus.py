"""A consensus template: the tasks and targets most plans of the library share.

``build_consensus(library, min_share=0.6, province=None)`` groups similar task and target
clauses across plans and keeps the groups present in at least ``min_share`` of the plans (of one
province, when asked). Each group gets a representative text — its medoid, the member closest to
all others — and is stored, with the kind and reform area most of its members have, as one
clause of a plan named ``consensus-<province slug|all>-<date>`` whose unit is "Mẫu đồng thuận
…". ``gap`` then uses it like any other template. Building again replaces the previous
consensus of the same scope (in one transaction), then refreshes the search indexes.

Clustering, sized for 500 plans ≈ 50 000 clauses from cached vectors in well under a minute:

* clauses are clustered **within each reform area** (clauses of no area form one more block),
  which cuts the problem into a handful of independent blocks;
* in a block, FAISS finds every clause's ``KNN`` nearest neighbours (exact inner product); the
  pairs at cosine ≥ ``MIN_COSINE`` form a sparse graph whose connected components are the
  candidate groups (time grows with n·k, not n²);
* each component is split with scikit-learn's ``AgglomerativeClustering`` (average linkage,
  cosine distance below ``1 − MIN_COSINE``) so that a chain A≈B≈C of different tasks does not
  stay one group. Components are small — one task across the plans that state it — so this
  quadratic step is cheap. (Agglomerative clustering of a whole block with a kNN connectivity
  graph was measured too: over two minutes for 4 500 clauses, see bench/RESULTS.md.)

``MIN_COSINE`` was set by looking at the five bundled samples (bench/RESULTS.md, speed
section): with the bundled model the same task in two plans' wording sits at cosine 0.93–0.97,
clearly different tasks below 0.90, and 0.90–0.94 is mixed (the 4-bit model separates poorly
there), so a group is "the same task or a very close one", not an exact paraphrase class.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date

import numpy as np

from cchc.corpus.models import AREAS, Clause, ParsedPlan, PlanMeta
from cchc.corpus.textnorm import fold, text_hash
from cchc.errors import CCHCError
from cchc.indexing import store
from cchc.indexing.embeddings import Embedder, embed_passages_cached, get_embedder, truncate_for_embedding
from cchc.indexing.library import Library

SOURCE_PREFIX = "consensus-"
KINDS_USED = ("task", "target")
KNN = 10
MIN_COSINE = 0.93
MAX_COMPONENT = 3000  # larger similarity-graph components are cut by k-means first
MEDOID_SAMPLE = 300  # medoid of a larger group: among a sample of its members
SECTION = "Mẫu đồng thuận"


@dataclass
class ConsensusGroup:
    kind: str
    area: str | None
    text: str
    representative_id: int
    member_ids: list[int]
    plan_ids: list[int]
    share: float

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class ConsensusResult:
    plan_id: int | None
    source: str
    scope: str
    n_plans: int
    n_clauses: int
    groups: list[ConsensusGroup]
    replaced: list[int] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "plan_id": self.plan_id,
            "source": self.source,
            "scope": self.scope,
            "n_plans": self.n_plans,
            "n_clauses": self.n_clauses,
            "n_groups": len(self.groups),
            "replaced": self.replaced,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "groups": [g.to_json() for g in self.groups],
        }


def scope_slug(province: str | None) -> str:
    if not province:
        return "all"
    return re.sub(r"[^a-z0-9]+", "-", fold(province)).strip("-") or "all"


def is_consensus(source: str) -> bool:
    return source.startswith(SOURCE_PREFIX)


# --- loading -----------------------------------------------------------------------------------


@dataclass
class _Rows:
    ids: np.ndarray
    plan_ids: np.ndarray
    kinds: list[str]
    areas: list[str | None]
    texts: list[str]
    hashes: list[str]


def _select_plans(library: Library, province: str | None) -> list[int]:
    with library.lock:
        rows = library.conn.execute("SELECT id, source, province FROM plans ORDER BY id").fetchall()
    wanted = fold(province).strip() if province else None
    return [
        r["id"] for r in rows
        if not is_consensus(r["source"]) and (wanted is None or fold(r["province"] or "").strip() == wanted)
    ]


def _load_rows(library: Library, plan_ids: list[int], kinds: tuple[str, ...]) -> _Rows:
    keep = set(plan_ids)
    sql = (
        "SELECT id, plan_id, kind, area, text, text_hash FROM clauses "
        f"WHERE kind IN ({','.join('?' * len(kinds))}) ORDER BY id"
    )
    with library.lock:
        rows = [r for r in library.conn.execute(sql, kinds) if r["plan_id"] in keep]
    return _Rows(
        ids=np.array([r["id"] for r in rows], dtype=np.int64),
        plan_ids=np.array([r["plan_id"] for r in rows], dtype=np.int64),
        kinds=[r["kind"] for r in rows],
        areas=[r["area"] for r in rows],
        texts=[r["text"] for r in rows],
        hashes=[r["text_hash"] for r in rows],
    )


def _vectors(library: Library, embedder: Embedder, rows: _Rows) -> np.ndarray:
    """Cached vectors of the clauses; only clauses never embedded are sent to the model.

    The cache key is the hash of the text as embedded (cut to ``max_embed_chars``); for the
    usual clause, shorter than that, it is the ``text_hash`` already stored with the clause, so
    50 000 clauses need no re-hashing.
    """
    from cchc.indexing.embeddings import _lookup

    max_chars = library.settings.max_embed_chars
    keys = [
        h if len(t) <= max_chars else text_hash(truncate_for_embedding(t, max_chars))
        for t, h in zip(rows.texts, rows.hashes)
    ]
    dim = int(embedder.dim)
    with library.lock:
        found = _lookup(library.conn, embedder.model_id, list(dict.fromkeys(keys)), dim)
    missing = [i for i, k in enumerate(keys) if k not in found]
    if missing:
        with library.lock:
            vecs = embed_passages_cached(
                library.conn, embedder, [rows.texts[i] for i in missing], max_chars=max_chars
            )
        for i, v in zip(missing, vecs):
            found[keys[i]] = v
    out = np.empty((len(keys), dim), dtype=np.float32)
    for i, k in enumerate(keys):
        out[i] = found[k]
    return out


# --- clustering --------------------------------------------------------------------------------


def cluster_block(vectors: np.ndarray, *, min_cosine: float = MIN_COSINE, knn: int = KNN) -> np.ndarray:
    """Cluster labels for one block of L2-normalised vectors (see the module docstring)."""
    import faiss
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    n = len(vectors)
    if n <= 1:
        return np.zeros(n, dtype=np.int64)
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    k = min(knn + 1, n)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    sims, nbrs = index.search(x, k)
    ok = (nbrs.ravel() >= 0) & (sims.ravel() >= min_cosine)
    rows = np.repeat(np.arange(n), k)[ok]
    graph = sp.csr_matrix((np.ones(len(rows)), (rows, nbrs.ravel()[ok])), shape=(n, n))
    n_comp, comp = connected_components(graph, directed=False)
    labels = np.empty(n, dtype=np.int64)
    next_label = 0
    order = np.argsort(comp, kind="stable")
    for members in np.split(order, np.flatnonzero(np.diff(comp[order])) + 1):
        sub = _split_component(x[members], min_cosine)
        labels[members] = sub + next_label
        next_label += int(sub.max()) + 1
    return labels


def _split_component(x: np.ndarray, min_cosine: float) -> np.ndarray:
    """Average-linkage clusters of one connected component of the similarity graph.

    The graph's components can chain different tasks together (A≈B≈C); average linkage over
    the component's full distance matrix undoes that. Components are small (one task across
    the plans that have it), so the O(m²) step is cheap; a rare giant component is first cut
    by k-means into pieces of at most ``MAX_COMPONENT``.
    """
    m = len(x)
    if m == 1:
        return np.zeros(1, dtype=np.int64)
    if m > MAX_COMPONENT:
        from sklearn.cluster import MiniBatchKMeans

        parts = MiniBatchKMeans(n_clusters=-(-m // MAX_COMPONENT), random_state=0, n_init=3).fit_predict(x)
        out = np.empty(m, dtype=np.int64)
        offset = 0
        for p in np.unique(parts):
            idx = np.flatnonzero(parts == p)
            sub = _split_component(x[idx], min_cosine) if len(idx) < m else np.zeros(len(idx), dtype=np.int64)
            out[idx] = sub + offset
            offset += int(sub.max()) + 1
        return out
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(
        n_clusters=None, distance_threshold=1.0 - min_cosine, metric="cosine", linkage="average"
    )
    return model.fit_predict(x).astype(np.int64)


def _medoid(vectors: np.ndarray, rng: np.random.Generator) -> int:
    n = len(vectors)
    if n <= 2:
        return 0
    pool = np.arange(n) if n <= MEDOID_SAMPLE else np.sort(rng.choice(n, MEDOID_SAMPLE, replace=False))
    sims = vectors[pool] @ vectors.T
    return int(pool[int(sims.sum(axis=1).argmax())])


def find_groups(
    rows: _Rows,
    vectors: np.ndarray,
    n_plans: int,
    min_share: float,
    *,
    min_cosine: float = MIN_COSINE,
) -> list[ConsensusGroup]:
    rng = np.random.default_rng(0)
    groups: list[ConsensusGroup] = []
    blocks: dict[str | None, list[int]] = {}
    for i, area in enumerate(rows.areas):
        blocks.setdefault(area, []).append(i)
    for area, members in blocks.items():
        idx = np.array(members, dtype=np.int64)
        labels = cluster_block(vectors[idx], min_cosine=min_cosine)
        order = np.argsort(labels, kind="stable")
        bounds = np.flatnonzero(np.diff(labels[order])) + 1
        for chunk in np.split(order, bounds):
            cluster = idx[chunk]
            plans = sorted(set(rows.plan_ids[cluster].tolist()))
            share = len(plans) / n_plans
            if share < min_share:
                continue
            rep = int(cluster[_medoid(vectors[cluster], rng)])
            kind = Counter(rows.kinds[i] for i in cluster).most_common(1)[0][0]
            groups.append(
                ConsensusGroup(
                    kind=kind,
                    area=area,
                    text=rows.texts[rep],
                    representative_id=int(rows.ids[rep]),
                    member_ids=sorted(int(rows.ids[i]) for i in cluster),
                    plan_ids=plans,
                    share=round(share, 4),
                )
            )
    area_order = {a: k for k, a in enumerate(AREAS)}
    groups.sort(key=lambda g: (area_order.get(g.area, len(area_order)), g.kind != "target", -g.share, g.representative_id))
    return groups


# --- storing -----------------------------------------------------------------------------------


def consensus_plan(groups: list[ConsensusGroup], scope: str, province: str | None, n_plans: int, min_share: float, day: date) -> ParsedPlan:
    where = f"tỉnh/thành phố {province}" if province else "toàn thư viện"
    clauses = [
        Clause(
            position=k,
            text=g.text,
            path=[SECTION, AREAS.get(g.area or "", "Nội dung khác")],
            kind=g.kind,
            area=g.area,
            area_source="consensus",
            label=f"{round(100 * g.share)}%",
        )
        for k, g in enumerate(groups)
    ]
    digest = text_hash(json.dumps([scope, day.isoformat(), [g.text for g in groups]], ensure_ascii=False))
    meta = PlanMeta(
        title=f"Mẫu đồng thuận kế hoạch CCHC ({where})",
        unit=f"Mẫu đồng thuận ({where})",
        province=province,
        period=f"dựng ngày {day.strftime('%d/%m/%Y')}",
        year=day.year,
        year_end=day.year,
    )
    return ParsedPlan(
        source=f"{SOURCE_PREFIX}{scope}-{day.isoformat()}",
        format="consensus",
        content_hash=f"consensus:{digest}",
        meta=meta,
        clauses=clauses,
        notes=[f"Dựng từ {n_plans} kế hoạch; giữ nội dung có mặt trong ít nhất {round(100 * min_share)}% kế hoạch."],
    )


def _store(library: Library, parsed: ParsedPlan, scope: str) -> tuple[int, list[int]]:
    from cchc.indexing.lexical import tokenize_passage

    tokens = [tokenize_passage(c.text).to_json() for c in parsed.clauses]
    conn = library.conn
    with library.lock, store.transaction(conn):
        old = [
            r["id"] for r in conn.execute(
                "SELECT id FROM plans WHERE source LIKE ? ESCAPE '\\'",
                (SOURCE_PREFIX + scope.replace("_", "\\_").replace("%", "\\%") + "-%",),
            )
        ]
        for pid in old:
            store.delete_plan(conn, pid)
        pid = store.insert_plan(conn, parsed, lex_tokens=tokens)
        store.bump_generation(conn)
    return pid, old


def build_consensus(
    library: Library,
    *,
    min_share: float = 0.6,
    province: str | None = None,
    kinds: tuple[str, ...] = KINDS_USED,
    embedder: Embedder | None = None,
    save: bool = True,
    refresh: bool = True,
    today: date | None = None,
) -> ConsensusResult:
    """Group the library's tasks and targets, keep what ``min_share`` of the plans share, and
    (``save``) store it as the consensus plan of its scope, replacing the previous one."""
    if not 0.0 < min_share <= 1.0:
        raise CCHCError("bad_min_share", "min-share phải lớn hơn 0 và không quá 1 (ví dụ 0.6)", status=422)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    scope = scope_slug(province)
    plan_ids = _select_plans(library, province)
    if len(plan_ids) < 2:
        where = f" của {province}" if province else ""
        raise CCHCError(
            "too_few_plans",
            f"cần ít nhất 2 kế hoạch{where} trong thư viện để dựng mẫu đồng thuận (hiện có {len(plan_ids)})",
            status=409,
        )
    rows = _load_rows(library, plan_ids, kinds)
    timings["load"] = time.perf_counter() - t0
    t = time.perf_counter()
    vectors = _vectors(library, embedder or get_embedder(library.settings.embedder), rows)
    timings["vectors"] = time.perf_counter() - t
    t = time.perf_counter()
    groups = find_groups(rows, vectors, len(plan_ids), min_share)
    timings["cluster"] = time.perf_counter() - t
    if not groups:
        raise CCHCError(
            "empty_consensus",
            f"không có nội dung nào xuất hiện trong ít nhất {round(100 * min_share)}% số kế hoạch; hãy giảm --min-share",
            status=422,
        )
    parsed = consensus_plan(groups, scope, province, len(plan_ids), min_share, today or date.today())
    result = ConsensusResult(None, parsed.source, scope, len(plan_ids), len(rows.ids), groups)
    if save:
        t = time.perf_counter()
        result.plan_id, result.replaced = _store(library, parsed, scope)
        timings["store"] = time.perf_counter() - t
        if refresh:
            from cchc.search.index_manager import refresh_indexes

            t = time.perf_counter()
            refresh_indexes(library, embedder=embedder)
            timings["refresh_indexes"] = time.perf_counter() - t
    result.timings = timings
    result.seconds = time.perf_counter() - t0
    return result


__all__ = ["ConsensusGroup", "ConsensusResult", "build_consensus", "cluster_block", "find_groups", "is_consensus", "scope_slug"]
