"""The single domain error type.

Every failure a user can cause (bad file, unknown plan, empty library, model mismatch …) is a
``CCHCError`` with a stable machine ``code`` and a Vietnamese ``message`` that says what went
wrong and, where it helps, what to do. The CLI prints ``message`` on one line and exits non-zero;
the HTTP API maps it to one JSON shape with ``status``.
"""

from __future__ import annotations


class CCHCError(Exception):
    def __init__(self, code: str, message: str, *, source: str | None = None, status: int = 400):
        self.code = code
        self.message = message
        self.source = source
        self.status = status
        super().__init__(self.line())

    def line(self) -> str:
        """One line for a terminal: the file (if any) then the reason."""
        return f"{self.source}: {self.message}" if self.source else self.message

    def to_dict(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "source": self.source}}
