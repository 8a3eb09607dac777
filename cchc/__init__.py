"""CCHC Lens: đọc, tìm kiếm và so sánh kế hoạch cải cách hành chính.

The repository keeps the domain code in the top-level folders ``corpus/`` (reading and
segmenting documents), ``indexing/`` (store, embeddings, indexes), ``search/`` (queries, gap
analysis, targets) and ``api/`` (CLI, HTTP, web); they install as ``cchc.corpus`` and so on.
This package holds only what every layer shares: the settings object and the error type.
"""

__version__ = "0.1.0"
