"""Imports run one way: pytcn's folders by role, lowest first, and a module imports only from its own folder or a
lower layer (STYLE.md, convention 15).

    0  kernels/ (pytcn.kernels), tasks/ (pytcn.tasks)   nothing of pytcn; each only itself; tasks/ NumPy and the
                                                         standard library only
    1  pytcn/runtime/     backends, memory, passes, validation, files, the archive
    2  pytcn/nn/          the network and its maths, saving and loading
    3  pytcn/training/    configuration, task data, the loop            (+ tasks/)
    4  pytcn/study/       experiments, sweep, figures
       pytcn/estimators/  scikit-learn's TCNClassifier and TCNRegressor (+ scikit-learn)
    5  pytcn/plot.py, pytcn/interop.py, pytcn/testing.py, pytcn/export/ (ONNX graphs of models and estimators):
       each imports layers 0-4, never one another
    6  pytcn/__init__.py  the public face: re-exports from any layer below, never the CLI
    7  pytcn/cli.py, pytcn/__main__.py: anything

Only the command line imports the package ``pytcn`` itself (which imports every layer) to reach a submodule through
it; any module above layer 0 may take ``__version__`` from it (``from .. import __version__``, in a function: the
package defines it after its imports), and that import, of a constant, makes no circle (the package imports the
estimators on first use, which import the training loop, which may take the version). Every import statement
counts, those inside functions included (a lazy import still runs one layer on top of another), and no two modules
may import each other, directly or in a circle, even within one folder. The checker works on {module name:
source}, so the tests plant back-edges and circles in memory, in the real tree's sources, and see exactly those
reported.

Imports made with importlib or __import__ from a string are not seen.
"""
import ast
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: (what it is, its layer, packages: each with every module under it, modules: these names exactly). A unit imports
#: itself and the units of lower layers; two units of one layer never import each other.
UNITS = [
    ("kernels/", 0, ("pytcn.kernels",), ()),
    ("tasks/", 0, ("pytcn.tasks",), ()),
    ("pytcn/runtime/", 1, ("pytcn.runtime",), ()),
    ("pytcn/nn/", 2, ("pytcn.nn",), ()),
    ("pytcn/training/", 3, ("pytcn.training",), ()),
    ("pytcn/study/", 4, ("pytcn.study",), ()),
    ("pytcn/estimators/", 4, ("pytcn.estimators",), ()),
    ("pytcn/plot.py", 5, (), ("pytcn.plot",)),
    ("pytcn/interop.py", 5, (), ("pytcn.interop",)),
    ("pytcn/testing.py", 5, (), ("pytcn.testing",)),
    ("pytcn/course.py", 5, (), ("pytcn.course",)),
    ("pytcn/exercises.py", 6, (), ("pytcn.exercises",)),  # the course's checks, built on pytcn.testing
    ("pytcn/export/", 5, ("pytcn.export",), ()),
    ("pytcn/__init__.py", 6, (), ("pytcn",)),
    ("the command line", 7, (), ("pytcn.cli", "pytcn.__main__")),
]
PACKAGE_FACE = "pytcn/__init__.py"
#: the folders installed under pytcn from the top of the repository (setup.cfg, package_dir)
INSTALLED_AS = {"kernels": "pytcn.kernels", "tasks": "pytcn.tasks"}
#: what tasks/ may import besides itself (and the standard library)
TASKS_MAY_IMPORT = {"numpy"}


@dataclass(frozen=True)
class Problem:
    """One thing the checker found. kind: 'back-edge' (module, line: the import; imported: what it names), 'circle'
    (imported: the modules of the circle, sorted; line 0), 'unplaced' (a module in no unit; line 0), 'third-party'
    (a tasks/ module importing beyond NumPy and the standard library)."""

    kind: str
    module: str
    line: int
    imported: object
    message: str

    def __str__(self):
        return self.message


def unit_of(module):
    """The unit (an entry of UNITS) that ``module`` belongs to, or None."""
    for unit in UNITS:
        _, _, packages, modules = unit
        if module in modules or any(module == p or module.startswith(p + ".") for p in packages):
            return unit
    return None


def path_of(module, packages):
    """Where ``module`` lives in the checkout: pytcn.kernels.conv -> kernels/conv.py, pytcn.nn ->
    pytcn/nn/__init__.py."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in INSTALLED_AS:
        parts = parts[1:]
    return "/".join(parts) + ("/__init__.py" if module in packages else ".py")


def module_of(path):
    """The inverse of path_of: a path relative to the checkout -> (module name, whether it is a package)."""
    parts = list(Path(path).with_suffix("").parts)
    package = parts[-1] == "__init__"
    if package:
        parts.pop()
    if parts[0] in INSTALLED_AS:
        parts = [INSTALLED_AS[parts[0]], *parts[1:]]
    return ".".join(parts), package


def tree_sources(root=ROOT):
    """{module name: source} of every .py file of pytcn/, kernels/ and tasks/ (links not followed: a copy of the
    checkout may link pytcn/kernels to kernels/), and the set of the names that are packages."""
    sources, packages = {}, set()
    for top in ("pytcn", *INSTALLED_AS):
        for folder, dirs, files in os.walk(root / top):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not os.path.islink(os.path.join(folder, d)))
            for name in sorted(files):
                if name.endswith(".py"):
                    path = Path(folder, name)
                    module, package = module_of(path.relative_to(root))
                    sources[module] = path.read_text()
                    if package:
                        packages.add(module)
    return sources, packages


def _imports(module, source, package):
    """(line, module imported, names taken from it) of every import statement of ``source``, anywhere in it, with
    relative imports resolved against the package of ``module``. ``from P import a`` names P.a when that is a
    module (decided by the caller); names are () for ``import P``."""
    home = module.split(".") if package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = home[:len(home) - (node.level - 1)] if node.level - 1 <= len(home) else []
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.append((node.lineno, target, tuple(alias.name for alias in node.names)))
    return found


def _first_party(name):
    """pytcn's name for an imported module (kernels.conv -> pytcn.kernels.conv), or None for another project's."""
    top, _, rest = name.partition(".")
    if top == "pytcn":
        return name
    if top in INSTALLED_AS:
        return INSTALLED_AS[top] + ("." + rest if rest else "")
    return None


def _known(name, sources):
    """The module of the tree that importing ``name`` runs: the longest known prefix of it."""
    while name and name not in sources:
        name = name.rpartition(".")[0]
    return name or None


def check_imports(sources, packages=None):
    """Every import of ``sources`` ({module name: source}) that runs against the layers, and every import circle.
    ``packages``: the names that are packages (an __init__.py); by default those with a module under them."""
    if packages is None:
        packages = {m.rpartition(".")[0] for m in sources if "." in m} & set(sources)
    problems = []
    edges = {m: {} for m in sources}  # module -> {module it imports: first line}
    for module in sorted(sources):
        here = path_of(module, packages)
        unit = unit_of(module)
        if unit is None:
            problems.append(Problem("unplaced", module, 0, None,
                                    f"{here} ({module}) belongs to no layer: add its folder to UNITS, in its place"))
            continue
        where, layer, _, _ = unit
        for line, target, names in _imports(module, sources[module], module in packages):
            first = _first_party(target)
            if first is None:
                if where == "tasks/" and target.split(".")[0] not in sys.stdlib_module_names | TASKS_MAY_IMPORT:
                    problems.append(Problem("third-party", module, line, target,
                                            f"{here}:{line}: tasks/ imports {target}; tasks/ is NumPy and the "
                                            f"standard library only"))
                continue
            said = f"{here}:{line}: {module} ({where}, layer {layer}) imports"
            if first != target:
                problems.append(Problem("back-edge", module, line, target,
                                        f"{said} {target} by its folder's name; installed, it is {first}"))
            # from P import a: P.a where that is a module, else P itself
            imported = ({f"{first}.{n}" if f"{first}.{n}" in sources else first for n in names} if names
                        else {first})
            version_only = first == "pytcn" and set(names) == {"__version__"}
            for name in sorted(imported):
                known = _known(name, sources)
                if known and known != module and not version_only:  # the version: a constant, never a circle
                    edges[module].setdefault(known, line)
                other = unit_of(name)
                if other is None:
                    problems.append(Problem("back-edge", module, line, name,
                                            f"{said} {name}, which belongs to no layer"))
                    continue
                other_where, other_layer, _, _ = other
                if other is unit or (other_layer < layer and layer > 0) or (version_only and layer > 0):
                    continue
                if layer == 0:
                    why = f"{where} imports nothing of pytcn outside itself"
                elif other_where == PACKAGE_FACE:
                    why = "only the command line imports the package itself (it imports every layer): import the " \
                          "module that defines the name"
                elif other_layer == layer:
                    why = f"{other_where} is of the same layer, and units of one layer never import each other"
                else:
                    why = f"{other_where} is layer {other_layer}, above it"
                problems.append(Problem("back-edge", module, line, name, f"{said} {name}: {why}"))
    for circle in _circles(edges):
        start = circle[0]
        path = _shortest_cycle(start, set(circle), edges)
        steps = ", ".join(f"{path_of(a, packages)}:{edges[a][b]} imports {b}" for a, b in zip(path, path[1:]))
        problems.append(Problem("circle", start, 0, tuple(circle),
                                f"import circle: {' -> '.join(path)} ({steps})"
                                + (f"; modules of the circle: {', '.join(circle)}" if len(circle) > len(path) - 1
                                   else "")))
    return problems


def _circles(edges):
    """The strongly connected components of more than one module (Tarjan), each sorted, in sorted order."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def _shortest_cycle(start, members, edges):
    """start -> ... -> start through ``members`` only, fewest imports first (breadth first)."""
    came_from, frontier = {start: None}, [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(edges[v]):
                if w == start:
                    path = [v]
                    while came_from[path[-1]] is not None:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if w in members and w not in came_from:
                    came_from[w] = v
                    following.append(w)
        frontier = following
    raise AssertionError(f"no circle through {start}")  # a strongly connected component always has one


# ----------------------------------------------------------------------------------------------------------------
# The real tree


def test_every_module_of_pytcn_kernels_and_tasks_belongs_to_a_layer():
    """A new folder or top-level module must be placed in the order (UNITS), not slip past the check."""
    sources, _ = tree_sources()
    assert {"pytcn", "pytcn.nn.layers", "pytcn.runtime.memory", "pytcn.kernels.conv", "pytcn.tasks.adding",
            "pytcn.cli"} <= set(sources), sorted(sources)
    unplaced = [path_of(m, set()) for m in sources if unit_of(m) is None]
    assert not unplaced, f"in no layer of tests/test_layout.py's UNITS: {unplaced}"


def test_imports_run_one_way_and_in_no_circle():
    sources, packages = tree_sources()
    problems = check_imports(sources, packages)
    assert not problems, "\n".join(map(str, problems))


# ----------------------------------------------------------------------------------------------------------------
# The checker fails on planted back-edges and circles


def planted(module, line):
    """The real tree's sources with ``line`` appended to ``module``'s source: (sources, packages, the line's
    number)."""
    sources, packages = tree_sources()
    source = sources[module].rstrip("\n") + "\n"
    sources[module] = source + line + "\n"
    return sources, packages, source.count("\n") + 1


def found(problems):
    return {(p.kind, p.module, p.line, p.imported) for p in problems}


# (module, the line appended to it, the back-edges then reported: (importer, what it imports))
BACK_EDGES = [
    ("pytcn.nn.layers", "from ..study.figures import plot_all", ("pytcn.study.figures",)),
    ("pytcn.nn.layers", "def late():\n    import pytcn.training.loop", ("pytcn.training.loop",)),  # in a function
    ("pytcn.runtime.memory", "from ..nn import layers", ("pytcn.nn.layers",)),
    ("pytcn.training.config", "from ..study.sweep import run_trial", ("pytcn.study.sweep",)),
    ("pytcn.kernels.conv", "from ..runtime import validate", ("pytcn.runtime.validate",)),
    ("pytcn.kernels.conv", "import pytcn", ("pytcn",)),
    ("pytcn.kernels.conv", "from pytcn import __version__", ("pytcn",)),  # not even the version
    ("pytcn.tasks.adding", "from ..kernels import conv", ("pytcn.kernels.conv",)),
    ("pytcn.plot", "from .interop import load_keras", ("pytcn.interop",)),
    ("pytcn.testing", "from .cli import main", ("pytcn.cli",)),
    ("pytcn.study.figures", "from .. import TCN", ("pytcn",)),
    ("pytcn.nn.model", "import pytcn", ("pytcn",)),
    # interop is a module of pytcn; layers is not (pytcn/__init__.py re-exports pytcn.nn.layers): the package
    ("pytcn.nn.streaming", "from pytcn import interop, layers", ("pytcn", "pytcn.interop")),
    ("pytcn", "from .cli import main", ("pytcn.cli",)),
]


@pytest.mark.parametrize("module, line, imported", BACK_EDGES, ids=[f"{m}:{line}" for m, line, _ in BACK_EDGES])
def test_a_planted_back_edge_is_reported_with_its_file_line_and_import(module, line, imported):
    sources, packages, number = planted(module, line)
    number += line.count("\n")  # the import is the last line planted
    problems = check_imports(sources, packages)
    back_edges = [p for p in problems if p.kind != "circle"]
    assert found(back_edges) == {("back-edge", module, number, name) for name in imported}, \
        "\n".join(map(str, problems))
    for p in back_edges:
        assert f"{path_of(module, packages)}:{number}: {module} " in str(p) and p.imported in str(p), str(p)
    # a back-edge into a layer that imports this one closes a circle as well, which is then reported too
    assert all(module in p.imported for p in problems if p.kind == "circle"), "\n".join(map(str, problems))


def test_the_brief_s_planted_back_edge_is_reported_and_so_is_the_circle_it_closes():
    # nn/layers.py importing the training loop, which imports the model, its blocks and their layers
    sources, packages, number = planted("pytcn.nn.layers", "from ..training.loop import Trainer")
    problems = check_imports(sources, packages)
    assert found(p for p in problems if p.kind != "circle") == {
        ("back-edge", "pytcn.nn.layers", number, "pytcn.training.loop")}, "\n".join(map(str, problems))
    (circle,) = [p for p in problems if p.kind == "circle"]
    assert {"pytcn.nn.layers", "pytcn.training.loop", "pytcn.nn.model"} <= set(circle.imported), str(circle)
    assert f"pytcn/nn/layers.py:{number} imports pytcn.training.loop" in str(circle), str(circle)


def test_a_planted_circle_within_one_folder_is_reported_with_both_imports():
    # saving.py loads a TCN (it imports model.py); model.py importing saving.py back, even in a function
    sources, packages, number = planted("pytcn.nn.model", "def load(path):\n    from .saving import load_model")
    number += 1
    problems = check_imports(sources, packages)
    assert found(problems) == {("circle", "pytcn.nn.model", 0, ("pytcn.nn.model", "pytcn.nn.saving"))}, \
        "\n".join(map(str, problems))
    message = str(problems[0])
    assert "pytcn.nn.model -> pytcn.nn.saving -> pytcn.nn.model" in message, message
    assert f"pytcn/nn/model.py:{number} imports pytcn.nn.saving" in message, message
    assert re.search(r"pytcn/nn/saving\.py:\d+ imports pytcn\.nn\.model", message), message


def test_tasks_may_import_numpy_and_the_standard_library_only():
    sources, packages, number = planted("pytcn.tasks.adding", "import json\nimport numpy.linalg\nimport scipy.signal")
    problems = check_imports(sources, packages)
    assert found(problems) == {("third-party", "pytcn.tasks.adding", number + 2, "scipy.signal")}, \
        "\n".join(map(str, problems))


def test_the_version_may_be_taken_from_the_package_and_a_module_by_its_folder_name_may_not():
    sources, packages, number = planted("pytcn.training.loop", "def v():\n    from .. import __version__")
    assert not check_imports(sources, packages)
    sources, packages, number = planted("pytcn.nn.layers", "from kernels import conv")
    assert found(check_imports(sources, packages)) == {("back-edge", "pytcn.nn.layers", number, "kernels")}


def test_a_module_in_a_new_folder_is_reported_until_it_is_placed():
    sources, packages = tree_sources()
    sources["pytcn.data"] = ""
    sources["pytcn.data.loader"] = "from ..nn.model import TCN\n"
    problems = check_imports(sources, packages | {"pytcn.data"})
    assert found(problems) == {("unplaced", "pytcn.data", 0, None), ("unplaced", "pytcn.data.loader", 0, None)}
    assert "pytcn/data/loader.py (pytcn.data.loader) belongs to no layer" in "\n".join(map(str, problems))


# ----------------------------------------------------------------------------------------------------------------
# The README's layout table


def layout_rows():
    """The first column of the table under README.md's '## The layout of the project': the folders it names."""
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## The layout of the project\n(.*?)(?=^## )", readme, re.S | re.M)
    assert section, "README.md has no section '## The layout of the project'"
    rows = re.findall(r"^\| `([^`]+)` \|", section.group(1), re.M)
    assert rows, "README.md's layout section has no table of `folder/` rows"
    return rows


def package_folders(top):
    """top/ and every folder under it with an __init__.py, as 'kernels/cuda/' (links not followed)."""
    folders = []
    for folder, dirs, _ in os.walk(ROOT / top):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not os.path.islink(os.path.join(folder, d)))
        if (Path(folder) / "__init__.py").is_file():
            folders.append(Path(folder).relative_to(ROOT).as_posix() + "/")
    return folders


def test_the_readme_s_layout_table_has_one_row_per_folder():
    rows = layout_rows()
    assert len(rows) == len(set(rows)), f"a folder is in README.md's layout table twice: {rows}"
    # pytcn/ itself holds only the public face, the command line and three modules: a row for it is optional
    folders = [f for top in ("pytcn", "kernels", "tasks") for f in package_folders(top) if f != "pytcn/"]
    assert {"pytcn/nn/", "pytcn/runtime/", "kernels/", "tasks/"} <= set(folders), folders
    missing = [f for f in folders if f not in rows]
    assert not missing, f"folders without a row in README.md's layout table: {missing} (rows: {rows})"
    gone = [row for row in rows if row.endswith("/") and not (ROOT / row).is_dir()]
    assert not gone, f"README.md's layout table has rows for folders that do not exist: {gone}"
