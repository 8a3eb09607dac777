"""Clause kind and reform area.

Both come from the headings above a clause where the plan says them ("2. Cải cách thể chế",
"II. MỘT SỐ CHỈ TIÊU CHỦ YẾU"). Where the headings don't name an area — target lists, task
table rows without a group row, "Tổ chức thực hiện" paragraphs — a small scikit-learn model
trained on the heading-labelled clauses of the bundled sample corpus predicts it, and only when
it is confident; otherwise the area stays empty.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from cchc.corpus.models import Clause
from cchc.corpus.textnorm import canonical, fold

# Kind keywords, checked on the nearest heading first. Within one heading the order matters:
# "Mục tiêu, chỉ tiêu" is a target list, "Nhiệm vụ và giải pháp" a task list.
_KIND_RULES: list[tuple[str, tuple[str, ...]]] = [
    ("other", ("phần mở đầu", "quyết định")),
    ("budget", ("kinh phí",)),
    ("assignment", ("tổ chức thực hiện", "trách nhiệm", "phân công")),
    ("target", ("chỉ tiêu",)),
    ("task", ("nhiệm vụ", "giải pháp", "danh mục", "phụ lục")),
    ("purpose", ("mục đích", "yêu cầu", "mục tiêu", "quan điểm")),
]

# Area phrases a heading starts with (after its numbering and a leading verb like "Đẩy mạnh").
_AREA_PHRASES: list[tuple[str, tuple[str, ...]]] = [
    ("institutions", ("cải cách thể chế", "thể chế")),
    ("procedures", ("cải cách thủ tục hành chính", "cải cách tthc", "thủ tục hành chính", "kiểm soát thủ tục hành chính")),
    ("organisation", ("cải cách tổ chức bộ máy", "cải cách bộ máy", "tổ chức bộ máy")),
    ("civil_service", ("cải cách chế độ công vụ", "chế độ công vụ")),
    ("public_finance", ("cải cách tài chính công", "tài chính công")),
    (
        "digital_government",
        ("chính quyền điện tử", "chính quyền số", "chính phủ điện tử", "chính phủ số", "chuyển đổi số", "áp dụng iso", "ứng dụng công nghệ thông tin"),
    ),
    ("direction", ("chỉ đạo", "triển khai nhiệm vụ cải cách hành chính")),
]
_LEAD_WORDS = re.compile(r"^(?:(?:công tác|tăng cường|đẩy mạnh|tiếp tục|xây dựng và phát triển|xây dựng, phát triển|về)\s+)+")
_LABEL_RE = re.compile(r"^(?:[ivxl]+|\d+(?:\.\d+)*|[a-zđ])[.)]\s*")


def _heading_core(heading: str) -> str:
    c = canonical(heading).strip()
    c = _LABEL_RE.sub("", c)
    c = c.replace(",", " ").replace("  ", " ")
    return _LEAD_WORDS.sub("", " ".join(c.split()))


# A path entry longer than this is a clause acting as the parent of its sub-items, not a
# heading: its wording ("… các nhiệm vụ tại Phụ lục số 02 …") says nothing about the kind.
MAX_HEADING_WORDS_FOR_LABELS = 25


def _headings(path: list[str]) -> list[str]:
    return [h for h in reversed(path) if len(h.split()) <= MAX_HEADING_WORDS_FOR_LABELS]


def kind_from_path(path: list[str]) -> str:
    for heading in _headings(path):
        c = canonical(heading)
        for kind, keys in _KIND_RULES:
            if any(k in c for k in keys):
                return kind
    return "other"


def area_from_heading(heading: str) -> str | None:
    core = _heading_core(heading)
    flat = core.replace(" ", "")
    for area, phrases in _AREA_PHRASES:
        for p in phrases:
            p2 = p.replace(",", " ")
            if core.startswith(" ".join(p2.split())) or flat.startswith(p2.replace(" ", "")):
                return area
    return None


def area_from_path(path: list[str]) -> str | None:
    for heading in _headings(path):
        area = area_from_heading(heading)
        if area:
            return area
    return None


# --- the classifier ----------------------------------------------------------------------

PREDICT_KINDS = {"target", "task", "assignment"}
MIN_CONFIDENCE = 0.45


@dataclass
class AreaModel:
    pipeline: object
    classes: list[str]
    n_train: int

    def predict(self, texts: list[str]) -> list[tuple[str | None, float]]:
        if not texts:
            return []
        probs = self.pipeline.predict_proba([fold(t) for t in texts])
        out = []
        for row in probs:
            best = int(row.argmax())
            p = float(row[best])
            out.append((str(self.classes[best]) if p >= MIN_CONFIDENCE else None, p))
        return out


def train_area_model(clauses: list[Clause]) -> AreaModel:
    """Fit TF-IDF (word and character n-grams over folded text) + logistic regression on the
    clauses whose area the headings gave."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    labelled = [c for c in clauses if c.area_source == "heading" and c.area]
    texts = [fold(c.text) for c in labelled]
    labels = [c.area for c in labelled]
    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True),
    )
    pipe = make_pipeline(features, LogisticRegression(C=8.0, max_iter=2000, class_weight="balanced"))
    pipe.fit(texts, labels)
    return AreaModel(pipeline=pipe, classes=[str(c) for c in pipe.classes_], n_train=len(labelled))


_model: AreaModel | None = None
_lock = threading.Lock()


def sample_training_clauses() -> list[Clause]:
    from cchc.corpus.reader import read_document
    from cchc.corpus.bundled import sample_paths
    from cchc.corpus.segment import segment

    out: list[Clause] = []
    for path in sample_paths():
        out.extend(segment(read_document(path), predict_areas=False).clauses)
    return out


# Bump when the features or the training change, so cached models are not reused.
MODEL_VERSION = 1


def _cache_path():
    """Where the trained model is kept between processes: every `cchc` command would otherwise
    retrain it (2–10 s). Keyed by the code, sklearn and the training texts, so any change
    retrains."""
    import hashlib
    from pathlib import Path

    import platformdirs
    import sklearn

    from cchc.corpus.bundled import sample_paths

    h = hashlib.sha256(f"{MODEL_VERSION}|{sklearn.__version__}".encode())
    h.update(Path(__file__).read_bytes())
    for p in sample_paths():
        h.update(p.read_bytes())
    for name in ("segment.py", "cleaning.py", "tables.py", "textnorm.py"):
        h.update((Path(__file__).with_name(name)).read_bytes())
    return Path(platformdirs.user_cache_dir("cchc-lens", appauthor=False)) / f"area-model-{h.hexdigest()[:16]}.pkl"


def _load_cached() -> AreaModel | None:
    import pickle

    try:
        path = _cache_path()
        with open(path, "rb") as f:
            model = pickle.load(f)
        return model if isinstance(model, AreaModel) else None
    except Exception:  # missing, unreadable or from another version: retrain
        return None


def _save_cached(model: AreaModel) -> None:
    import os
    import pickle
    import tempfile

    try:
        path = _cache_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(model, f)
        os.replace(tmp, path)
    except Exception:  # a read-only cache dir only costs the retraining
        pass


def get_area_model() -> AreaModel:
    global _model
    with _lock:
        if _model is None:
            _model = _load_cached()
        if _model is None:
            _model = train_area_model(sample_training_clauses())
            _save_cached(_model)
        return _model


def assign_predicted_areas(clauses: list[Clause]) -> None:
    todo = [c for c in clauses if c.area is None and c.kind in PREDICT_KINDS]
    if not todo:
        return
    model = get_area_model()
    for clause, (area, _p) in zip(todo, model.predict([c.text for c in todo])):
        if area:
            clause.area = area
            clause.area_source = "model"
