"""The package's import graph: cycles, module- vs function-level imports, and imports that point up a layer.

Reads the source with `ast` only (nothing is imported), so it runs on any checkout:

    python benchmarks/import_graph.py                      # this repository
    python benchmarks/import_graph.py --root /tmp/base     # another checkout (e.g. a git worktree)
    python benchmarks/import_graph.py --edges              # also list every function-level import

An import is package-internal when it names `keras_resnet_cifar` or a module below it. `from P import N` counts
as an import of `P.N` when that is a module of the package, else of `P`. An import inside a function (or a
method) is "function-level"; anything else (module body, `if`, `try`) is "module-level". Cycles are counted
over all imports, function-level ones included, since a lazy import still ties the two modules together.
Dynamic imports (`importlib.import_module`, the `lazy_exports` tables of package `__init__`s) are not
counted: they name a module by string only to load it late, not to depend on it.

The layers, bottom to top (`LAYERS`): a module may import its own layer and any layer below it; an import of
a higher layer "points up". A module that is in no group is reported as unassigned.
"""
import argparse
import ast
import os
import sys

PACKAGE = "keras_resnet_cifar"

# Bottom to top. Each entry is (layer name, module names relative to the package: a name covers the module and,
# for a subpackage, everything below it; the longest name that matches wins, so "training.rundir" is placed apart
# from the rest of "training"). Names of modules that a refactoring removed or renamed stay listed so that an
# older checkout is measured by the same layers (paths.py -> files.py, summary.py -> network_summary.py).
#   base          what imports nothing above it: files and folders, errors, constants, the field machinery,
#                 tables held as data (presets, optimizers), locks and signal handling
#   spec          the network's description and its pieces: spec, layers, blocks, parameter counts, whitening
#   config        the settings of a run (TrainConfig and its sections), recipes, the memory estimate
#   model         the builder (Keras), and the per-stage network summary (its table and its drawing)
#   data          the input pipeline
#   run files     what a run directory holds (rundir) and the files written into it each epoch or on divergence
#   run figures   the figures drawn from a run's files (confusion matrix, history curves, the comparison and
#                 `save_figure`): matplotlib and run files only, so training draws them (evaluate's
#                 `save_figures`); the other plots build models or data and sit with the applications
#   training      train, evaluate, callbacks, optimizers, schedules, runtime
#   applications  what uses training: serving (export, clients), plots, tuning, experiments
#   reports       the Markdown report of runs and experiments
#   cli           the command line
LAYERS = (
    ("base", ("__init__", "lazy", "errors", "constants", "files", "paths", "fields", "presets", "optimizer_table",
              "locks", "signals")),
    ("spec", ("spec", "blocks", "layers", "params", "whitening")),
    ("config", ("config", "recipes", "memory")),
    ("model", ("model", "network_summary", "summary")),
    ("data", ("data",)),
    ("run files", ("training.rundir", "training.divergence", "training.checkpoint")),
    ("run figures", ("plots.confusion", "plots.history", "plots.comparison")),
    ("training", ("training",)),
    ("applications", ("serving", "plots", "tuning", "experiments")),
    ("reports", ("report",)),
    ("cli", ("cli", "__main__")),
)


def module_names(root):
    """{dotted module name: file path} of every module of the package under `root`."""
    names = {}
    base = os.path.join(root, PACKAGE)
    for folder, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__")))
        for name in sorted(files):
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, name), root)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                names[".".join(rel)] = os.path.join(folder, name)
    return names


def _imports(tree, modules):
    """(target module, line, function-level?) for each package-internal import in `tree`."""
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                        found.append((alias.name, child.lineno, in_function))
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module and (
                    child.module == PACKAGE or child.module.startswith(PACKAGE + ".")):
                targets = {f"{child.module}.{a.name}" if f"{child.module}.{a.name}" in modules else child.module
                           for a in child.names}
                found.extend((target, child.lineno, in_function) for target in sorted(targets))
            visit(child, inner)

    visit(tree, False)
    return found


def build_graph(root):
    """[(importer, imported, line, function-level?)] over the package under `root`."""
    modules = module_names(root)
    edges = []
    for name, path in modules.items():
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), path)
        edges.extend((name, target, line, lazy) for target, line, lazy in _imports(tree, modules)
                     if target != name)
    return modules, edges


def cycles(nodes, edges):
    """Strongly connected components with more than one module (each a sorted list), by Tarjan's algorithm."""
    graph = {node: set() for node in nodes}
    for source, target, *_ in edges:
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def connect(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for node in sorted(graph):
            if node not in index:
                connect(node)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(found)


def cycle_path(component, edges):
    """One closed path through `component` (a cycle's modules), e.g. [a, b, c, a], for the message."""
    members = set(component)
    graph = {}
    for source, target, *_ in edges:
        if source in members and target in members:
            graph.setdefault(source, set()).add(target)
    start = component[0]
    # Breadth-first from start's successors back to start: the shortest cycle through it.
    previous, frontier = {}, [start]
    while frontier:
        following = []
        for node in frontier:
            for other in sorted(graph.get(node, ())):
                if other == start:
                    path = [start]
                    while node != start:
                        path.append(node)
                        node = previous[node]
                    return [start] + path[:0:-1] + [start]
                if other not in previous:
                    previous[other] = node
                    following.append(other)
        frontier = following
    return component


def layer_of(module):
    """(index, name) of `module`'s layer in `LAYERS`, or None; the longest matching group wins."""
    relative = module[len(PACKAGE) + 1:] if module != PACKAGE else "__init__"
    best = None
    for position, (name, groups) in enumerate(LAYERS):
        for group in groups:
            if relative == group or relative.startswith(group + "."):
                if best is None or len(group) > best[2]:
                    best = (position, name, len(group))
    return None if best is None else best[:2]


def upward(edges):
    """The imports whose target lies in a higher layer than their importer."""
    return [edge for edge in edges
            if layer_of(edge[0]) and layer_of(edge[1]) and layer_of(edge[1])[0] > layer_of(edge[0])[0]]


def report(root, show_edges=False):
    """The figures as text lines."""
    modules, edges = build_graph(root)
    module_level = [e for e in edges if not e[3]]
    function_level = [e for e in edges if e[3]]
    lines = [f"root: {os.path.abspath(root)}", f"modules: {len(modules)}",
             f"package-internal imports: {len(edges)} ({len(module_level)} module-level, "
             f"{len(function_level)} function-level)"]
    for label, chosen in (("all imports", edges), ("module-level imports only", module_level)):
        found = cycles(modules, chosen)
        lines.append(f"import cycles ({label}): {len(found)}")
        lines.extend(f"  {len(c)} modules ({', '.join(c)}), e.g. " + " -> ".join(cycle_path(c, chosen))
                     for c in found)
    unassigned = sorted(m for m in modules if layer_of(m) is None)
    if unassigned:
        lines.append(f"modules in no layer: {', '.join(unassigned)}")
    up = upward(edges)
    lines.append(f"imports that point up a layer: {len(up)}")
    lines.extend(f"  {s} ({layer_of(s)[1]}) -> {t} ({layer_of(t)[1]})  line {n}{' (function-level)' if lazy else ''}"
                 for s, t, n, lazy in sorted(up))
    if show_edges:
        lines.append("function-level imports:")
        lines.extend(f"  {s}:{n} -> {t}" for s, t, n, _ in sorted(function_level))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        help="checkout holding the keras_resnet_cifar folder (default: this repository)")
    parser.add_argument("--edges", action="store_true", help="also list the function-level imports")
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.join(args.root, PACKAGE)):
        parser.error(f"--root: received {args.root!r}, which holds no {PACKAGE}/ folder; "
                     "accepted: a checkout of this repository")
    print("\n".join(report(args.root, args.edges)))


if __name__ == "__main__":
    main()
