"""The package's import graph (benchmarks/import_graph.py): no cycle, and the run-file modules point only down."""
import os
import textwrap

from file_helpers import REPO, load_benchmark

graph = load_benchmark("import_graph")


def _package(root, files):
    for name, text in files.items():
        path = os.path.join(root, "keras_resnet_cifar", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(textwrap.dedent(text))


def test_the_package_has_no_import_cycle_counting_function_level_imports():
    modules, edges = graph.build_graph(REPO)
    assert "keras_resnet_cifar.training.rundir" in modules and len(edges) > 100  # the real package was read
    assert graph.cycles(modules, edges) == []


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    _package(tmp_path, {
        "__init__.py": "",
        "a.py": "from keras_resnet_cifar import b\n",
        "b.py": "def late():\n    from keras_resnet_cifar.c import x\n",
        "c.py": "import keras_resnet_cifar.a\nx = 1\n",
        "d.py": "from keras_resnet_cifar import a\n",
    })
    modules, edges = graph.build_graph(str(tmp_path))
    assert ("keras_resnet_cifar.b", "keras_resnet_cifar.c", 2, True) in edges  # function-level, counted
    found = graph.cycles(modules, edges)
    assert found == [["keras_resnet_cifar.a", "keras_resnet_cifar.b", "keras_resnet_cifar.c"]]
    assert graph.cycle_path(found[0], edges) == ["keras_resnet_cifar.a", "keras_resnet_cifar.b",
                                                 "keras_resnet_cifar.c", "keras_resnet_cifar.a"]
    assert graph.cycles(modules, [e for e in edges if not e[3]]) == []  # hidden from module-level imports only


def test_an_import_of_a_higher_layer_is_reported(tmp_path):
    _package(tmp_path, {"__init__.py": "", "files.py": "from keras_resnet_cifar.cli import main\n",
                        "cli/__init__.py": "from keras_resnet_cifar.files import atomic_save\n"})
    _, edges = graph.build_graph(str(tmp_path))
    assert [(s, t) for s, t, *_ in graph.upward(edges)] == [("keras_resnet_cifar.files", "keras_resnet_cifar.cli")]


def test_the_run_file_modules_import_only_below_them():
    """rundir owns the run directory's names; checkpoint and divergence import it, never the reverse, and
    files (the bottom layer) imports nothing of the package but errors."""
    _, edges = graph.build_graph(REPO)
    imports = {}
    for source, target, *_ in edges:
        imports.setdefault(source[len("keras_resnet_cifar."):], set()).add(target[len("keras_resnet_cifar."):])
    assert imports["files"] <= {"errors"}
    assert not imports["training.rundir"] & {"training.checkpoint", "training.divergence"}
    assert not imports["training.divergence"] & {"training.checkpoint"}
    run_files = {"training.rundir", "training.checkpoint", "training.divergence"}
    for module in run_files:
        above = [t for t in imports[module] if graph.layer_of("keras_resnet_cifar." + t)[0]
                 > graph.layer_of("keras_resnet_cifar." + module)[0]]
        assert above == [], (module, above)


def test_no_module_imports_a_higher_layer():
    _, edges = graph.build_graph(REPO)
    assert [(s, t, line) for s, t, line, _ in graph.upward(edges)] == []


def test_every_module_is_in_a_layer():
    modules, _ = graph.build_graph(REPO)
    assert [m for m in modules if graph.layer_of(m) is None] == []
