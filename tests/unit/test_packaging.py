"""The Cloud Functions build installs what the package declares, and main.py stays thin."""

from __future__ import annotations

import ast
import re
import tomllib

from tests.conftest import REPO


def _normalise(requirement: str) -> str:
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)(.*)", requirement.strip())
    assert match, requirement
    name, spec = match.groups()
    return re.sub(r"[-_.]+", "-", name).lower() + spec.replace(" ", "")


def test_requirements_txt_matches_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = sorted(_normalise(r) for r in project["dependencies"])
    lines = (REPO / "functions" / "requirements.txt").read_text().splitlines()
    built = sorted(_normalise(line) for line in lines if line.strip() and not line.startswith("#"))
    assert built == declared


def test_main_py_only_imports_the_entry_points_from_the_package() -> None:
    tree = ast.parse((REPO / "functions" / "main.py").read_text())
    imports = [node for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert [(node.module, sorted(a.name for a in node.names)) for node in imports] == [
        ("pullfix.entrypoints", ["approve", "notify", "remediate", "verify"])
    ]
    others = [node for node in tree.body if not isinstance(node, ast.ImportFrom | ast.Expr)]
    assert [ast.unparse(node) for node in others] == [
        "__all__ = ['approve', 'notify', 'remediate', 'verify']"
    ]


def test_every_variable_the_functions_read_is_in_the_readmes_environment_table() -> None:
    # The environment is a public contract: a variable the deployed package reads (dev/ is
    # never deployed) and the README does not name is one a user cannot know to set.
    package = REPO / "functions" / "pullfix"
    read = {
        name
        for path in package.rglob("*.py")
        if "dev" not in path.relative_to(package).parts
        for name in re.findall(r'"(PULLFIX_[A-Z_]+)"', path.read_text())
    }
    readme = (REPO / "README.md").read_text()
    table = readme.split("## Function environment", 1)[1].split("\n## ", 1)[0]
    assert read, "no PULLFIX_ variable found: the scan is broken"
    assert sorted(name for name in read if f"`{name}`" not in table) == []


def _layout_rows() -> dict[str, set[str]]:
    """The README's layout table: each folder of the package and the modules it names."""
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("| folder | role | modules |") :]
    rows: dict[str, set[str]] = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        folder, _, modules = (cell.strip() for cell in line.strip("|").split("|"))
        # A module is named first in its entry: `name` (what it does); a folder as `name/`.
        entries = re.split(r"[,;] (?![^(]*\))", modules)
        named = {m.group(1) for e in entries if (m := re.match(r"`([\w/]+?)/?`", e.strip()))}
        rows[folder.strip("`").rstrip("/")] = named
    return rows


def test_the_readmes_layout_table_names_every_module_of_each_folder_and_no_other() -> None:
    package = REPO / "functions" / "pullfix"
    rows = _layout_rows()
    folders = {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    assert set(rows) == folders
    for folder, named in rows.items():
        here = package / folder
        present = {
            p.stem if p.suffix == ".py" else p.name
            for p in here.iterdir()
            if (p.suffix == ".py" and p.stem not in ("__init__", "__main__"))
            or (p / "__init__.py").is_file()
        }
        assert named == present, (
            f"{folder}/: missing from the README {sorted(present - named)}, "
            f"not in the tree {sorted(named - present)}"
        )
