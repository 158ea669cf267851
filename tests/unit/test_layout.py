"""The test tree's own rules: tiers by directory, shared helpers in tests/helpers/."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
TIERS = {"unit", "integration", "e2e"}


def _python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if ".hypothesis" not in p.parts)


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_module_imports_a_test_module_or_conftest() -> None:
    """What two test modules share goes to tests/helpers/, fixtures stay in conftest files."""
    offenders = []
    for path in _python_files():
        for module in _imported_modules(path):
            first = module.split(".")[0]
            if first == "conftest" or first.startswith("test_") or module == "sinks":
                offenders.append(f"{path.relative_to(TESTS)} imports {module}")
    assert not offenders, "\n".join(offenders)


def test_every_test_module_is_in_a_tier_directory() -> None:
    misplaced = [
        str(path.relative_to(TESTS))
        for path in _python_files()
        if path.name.startswith("test_") and path.relative_to(TESTS).parts[0] not in TIERS
    ]
    assert not misplaced, misplaced


def test_unit_areas_mirror_the_package() -> None:
    """tests/unit/<area>/ only for areas that exist in sshchat/."""
    package = TESTS.parent / "sshchat"
    areas = {p.name for p in (TESTS / "unit").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert areas <= {p.name for p in package.iterdir() if (p / "__init__.py").exists()}
