"""An SDK belongs to its backend: nothing in superbatch outside ``backends/azure/`` imports
the Azure SDKs or names their namespace (say, to recognise their exceptions); the backend
turns them into superbatch's errors itself (``backends/azure/sdkerrors.py``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AZURE_BACKEND = ROOT / "superbatch" / "backends" / "azure"
SDK_PACKAGES = ("azure", "msrest")
# "azure." (a module prefix) or an SDK module's name; the spec's `azure:` section is no SDK.
SDK_NAME = re.compile(r"^(azure\.$|azure\.(core|batch|storage|identity|mgmt|common)\b|msrest\b)")


def _sdk_names(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value] if SDK_NAME.match(node.value) else []
        else:
            continue
        found += [
            (node.lineno, n) for n in names if n.split(".")[0] in SDK_PACKAGES or SDK_NAME.match(n)
        ]
    return found


def test_only_the_azure_backend_names_the_azure_sdks():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in sorted((ROOT / "superbatch").rglob("*.py"))
        if AZURE_BACKEND not in path.parents
        for line, name in _sdk_names(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert offenders == []


def test_the_check_sees_an_import_and_a_module_prefix():
    source = 'import azure.core\nfrom msrest import x\nok = "azure" in "azure.pool"\nt = "azure."'
    assert [line for line, _ in _sdk_names(ast.parse(source))] == [1, 2, 4]
