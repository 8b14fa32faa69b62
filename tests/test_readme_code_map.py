"""The README's code map ("A request's way through the code") matches the tree: every file and
folder it names exists, and every package and module of ``agentsite/`` is named in it.

A map line is ``<indent><names><two or more spaces><what they hold>``; the names are files or
folders (ending in ``/``) inside the folder the indentation puts them in."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADING = "### A request's way through the code"
# Not modules a reader looks for: Django's own folders and package boilerplate.
UNMAPPED_PARTS = {"migrations", "management", "static", "templates", "__pycache__"}
UNMAPPED_NAMES = {"__init__.py", "__main__.py"}


def code_map_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = readme.split(HEADING, 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def named_paths() -> set[str]:
    folders: list[tuple[int, str]] = []
    paths: set[str] = set()
    for line in code_map_lines():
        indent = len(line) - len(line.lstrip())
        folders = [(depth, name) for depth, name in folders if depth < indent]
        prefix = "".join(name for _, name in folders)
        names = re.split(r"\s{2,}", line.strip())[0].split(" ")
        paths.update(prefix + name for name in names)
        if len(names) == 1 and names[0].endswith("/"):
            folders.append((indent, names[0]))
    return paths


def agentsite_modules() -> set[str]:
    modules = set()
    for path in (ROOT / "agentsite").rglob("*"):
        relative = path.relative_to(ROOT)
        if UNMAPPED_PARTS & set(relative.parts) or path.name in UNMAPPED_NAMES:
            continue
        if path.suffix == ".py":
            modules.add(str(relative))
        elif path.is_dir() and (path / "__init__.py").exists():
            modules.add(f"{relative}/")
    return modules


def test_every_path_in_the_code_map_exists():
    paths = named_paths()
    missing = sorted(path for path in paths if not (ROOT / path).exists())
    assert not missing, f"the README's code map names paths that do not exist: {missing}"


def test_every_agentsite_package_and_module_is_in_the_code_map():
    modules = agentsite_modules()
    assert "agentsite/runs/driver.py" in modules
    unnamed = sorted(modules - named_paths())
    assert not unnamed, f"modules missing from the README's code map: {unnamed}"
