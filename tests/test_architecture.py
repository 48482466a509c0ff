"""CONVENTIONS' structural rules, checked on the source: dependencies between the apps run one way
(recommendations → predictions → reviews → behavior → catalog → accounts), and the ML packages import no Django."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Each may import those before it.
LAYERS = ["accounts", "catalog", "behavior", "reviews", "predictions", "recommendations", "offers", "deliveries",
          "forecasts", "privacy"]
ML_PACKAGES = ["catalog/ml", "predictions/ml", "recommendations/ml", "offers/ml", "forecasts/ml", "reviews/ml"]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in the file, inside functions too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _sources(folder: Path):
    return [p for p in folder.rglob("*.py") if "migrations" not in p.parts]


@pytest.mark.parametrize("app", LAYERS)
def test_an_app_imports_no_app_above_it(app):
    above = set(LAYERS[LAYERS.index(app) + 1:])
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {module}"
             for path in _sources(ROOT / app) for line, module in _imports(path) if module.split(".")[0] in above]
    assert wrong == []


def _pure(module: str) -> bool:
    """An ml package (its own or another app's: the forecasts reuse predictions' BG/NBD) is pure code too."""
    return any(module == p.replace("/", ".") or module.startswith(p.replace("/", ".") + ".") for p in ML_PACKAGES)


@pytest.mark.parametrize("package", ML_PACKAGES)
def test_ml_packages_import_no_django_and_no_app(package):
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {module}"
             for path in _sources(ROOT / package) for line, module in _imports(path)
             if module.split(".")[0] in {"django", "rest_framework", "celery", "ecomsight", *LAYERS}
             and not _pure(module)]
    assert wrong == []
