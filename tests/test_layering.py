"""app/engine is the domain: it never imports a web framework."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "app" / "engine"
WEB = {"fastapi", "starlette", "uvicorn", "sse_starlette", "websockets", "httpx"}


def test_engine_imports_no_web_framework() -> None:
    """No module under app/engine imports FastAPI, Starlette, uvicorn, sse-starlette, websockets or httpx."""
    offenders = []
    files = list(ENGINE.rglob("*.py"))
    assert files
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in WEB or name.startswith(
                    ("app.routers", "app.main", "app.deps", "app.edge", "app.errors")
                ):
                    offenders.append(f"{path.relative_to(ENGINE.parent.parent)}: {name}")
    assert offenders == []
