"""``validate`` of ``worker.function: module:function``: the module's file is among the
worker's files and binds the name at module level. Read with ``ast``: nothing of the user's
code is imported or run."""

from __future__ import annotations

import ast

from superbatch.errors import SpecError


def check_function(spec) -> None:
    target = spec.model.worker.function
    if not target:
        return
    where = f"{spec.where('worker', 'function')}: worker.function: {target}"
    module, _, name = target.partition(":")
    base = spec.worker_directory.joinpath(*module.split("."))
    candidates = [base.with_name(base.name + ".py"), base / "__init__.py"]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise SpecError(
            f"{where}: the module {module} is not in worker.directory ({spec.worker_directory}): "
            f"neither {candidates[0]} nor {candidates[1]} exists."
        )
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except SyntaxError as exc:
        raise SpecError(f"{where}: {path}, line {exc.lineno}: {exc.msg}.") from None
    except OSError as exc:
        raise SpecError(f"{where}: cannot read {path} ({exc.strerror}).") from None
    if name not in _bound(tree.body):
        raise SpecError(f"{where}: {path} defines no {name} at module level.")


def _bound(nodes) -> set[str]:
    """The names a module's top-level statements bind (also inside if/try/with)."""
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add(alias.asname or alias.name.partition(".")[0])
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []) or []:
                    names |= _bound(child.body if isinstance(child, ast.ExceptHandler) else [child])
    return names
