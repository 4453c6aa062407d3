"""What a launch does not pay for (ARCHITECTURE.md, Start-up): the OpenAPI models load with the
first /openapi.json and python-jose with the first token, in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import sys, orjson
from app.config import Settings
from app.main import create_app
LAZY = ["app.routers.musubi.schemas", "app.routers.broker.schemas",
        "app.routers.order_entry.schemas", "app.routers.admin_schemas", "jose"]
app = create_app(Settings(database_url=sys.argv[1], admin_token="x"))
built = [m for m in LAZY if m in sys.modules]
doc = app.openapi()
after = [m for m in LAZY if m in sys.modules]
print(orjson.dumps({"built": built, "after": after, "paths": len(doc["paths"])}).decode())
"""


def test_contract_models_and_jose_load_on_first_use(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    out = subprocess.run(
        [sys.executable, "-c", PROBE, url], cwd=ROOT, capture_output=True, check=True, timeout=120
    )
    seen = orjson.loads(out.stdout.splitlines()[-1])
    assert seen["built"] == [], "imported while building the app"
    assert seen["after"][:4] == [
        "app.routers.musubi.schemas",
        "app.routers.broker.schemas",
        "app.routers.order_entry.schemas",
        "app.routers.admin_schemas",
    ]
    assert seen["paths"] > 50
