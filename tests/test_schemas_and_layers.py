"""schemas/ matches the pydantic models; modules import only layers below their own."""

from __future__ import annotations

import ast
from pathlib import Path

from defectscreen.schemas.export import json_schemas

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "defectscreen"
LAYERS = ["physics", "readers", "engines", "mlip", "schemas", "analysis", "jobs", "flows", "storage", "builders", "reports",
          "cli"]


def test_schema_files_in_sync() -> None:
    for file_name, text in json_schemas().items():
        path = REPO / "schemas" / file_name
        assert path.is_file() and path.read_text() == text, (
            f"schemas/{file_name} is stale: run python -m defectscreen.schemas.export schemas"
        )


def test_imports_point_down() -> None:
    for layer_index, layer in enumerate(LAYERS):
        for module in (PACKAGE / layer).rglob("*.py"):
            for node in ast.walk(ast.parse(module.read_text())):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("defectscreen."):
                    target = node.module.split(".")[1]
                    if target in LAYERS:
                        assert LAYERS.index(target) <= layer_index, (
                            f"{module.relative_to(REPO)} imports upward from {node.module}"
                        )
