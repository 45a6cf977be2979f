"""setup.py declares every third-party module the package (and the test suite) imports, in the right extra,
and nothing it never uses. The imports are read with `ast`, so no import runs here."""
import ast
import pathlib
import re
import runpy
import sys
import types

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Import name -> the distribution that provides it, where the two differ.
DISTRIBUTION = {"PIL": "pillow", "sklearn": "scikit-learn", "google": "protobuf", "grpc": "grpcio",
                "keras_tuner": "keras-tuner", "tensorflow_datasets": "tensorflow-datasets",
                "tensorflow_serving": "tensorflow-serving-api"}
# Declared but never imported by our code: what uses them instead.
USED_BY_OTHERS = {"six": "keras-tuner 1.4.x imports it (engine/conditions.py) without declaring it",
                  "importlib-resources": "tensorflow-datasets imports it (dataset_builder.py) without declaring it",
                  "tensorboard": "the `tensorboard` command that reads a run's logs/",
                  "pydot": "keras.utils.plot_model (summary --plot)"}
# Imported but declared by no extra: a Keras backend the user chose and installed (KERAS_BACKEND=torch).
NOT_OURS = {"torch"}
# Only the extras may bring these: the core is what runs on JAX without TensorFlow.
TENSORFLOW_ONLY = {"tensorflow", "tensorflow-datasets", "tensorflow-serving-api", "protobuf", "tensorboard"}


def _declared():
    """(core, {extra: distributions}) as setup.py passes them to setuptools (a stand-in that records them)."""
    captured = {}
    stand_in = types.ModuleType("setuptools")
    stand_in.setup, stand_in.find_packages = lambda **kwargs: captured.update(kwargs), lambda **kwargs: []
    saved = sys.modules.get("setuptools")
    sys.modules["setuptools"] = stand_in
    try:
        runpy.run_path(str(ROOT / "setup.py"), run_name="setup")
    finally:
        if saved is None:
            del sys.modules["setuptools"]
        else:
            sys.modules["setuptools"] = saved
    name = lambda requirement: re.match(r"[A-Za-z0-9._-]+", requirement).group().lower().replace("_", "-")
    return ({name(r) for r in captured["install_requires"]},
            {extra: {name(r) for r in reqs} for extra, reqs in captured["extras_require"].items()})


def _imported(folder):
    """Distribution names of the third-party top-level modules imported anywhere under `folder`."""
    local = {path.stem for path in (ROOT / "tests").glob("*.py")} | {"keras_resnet_cifar", "conftest"}
    found = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for top in {name.split(".")[0] for name in names}:
                if top not in sys.stdlib_module_names and top not in local:
                    found.setdefault(DISTRIBUTION.get(top, top).lower().replace("_", "-"), path.relative_to(ROOT))
    return found


def test_every_module_the_package_imports_is_declared_and_nothing_declared_is_unused():
    core, extras = _declared()
    declared = core.union(*(reqs for extra, reqs in extras.items() if extra != "test")) - {"pytest", "hypothesis"}
    imported = _imported("keras_resnet_cifar")
    missing = {dist: str(where) for dist, where in imported.items() if dist not in declared | NOT_OURS}
    assert not missing, f"imported but not in setup.py (add each to the extra that needs it): {missing}"
    unused = declared - set(imported) - set(USED_BY_OTHERS)
    assert not unused, f"declared in setup.py but never imported: {sorted(unused)}"
    assert set(USED_BY_OTHERS) <= declared, "a USED_BY_OTHERS entry is no longer declared: drop it here"


def test_the_core_has_no_tensorflow_and_the_test_extra_has_everything():
    core, extras = _declared()
    assert not core & TENSORFLOW_ONLY, core & TENSORFLOW_ONLY
    assert {"tensorflow", "tensorflow-datasets"} <= extras["tensorflow"] <= extras["serving"]
    assert extras["jax"] == {"jax"}
    everything = core.union(*(reqs for extra, reqs in extras.items() if extra != "test"))
    assert everything - core <= extras["test"] and {"pytest", "hypothesis"} <= extras["test"]


def test_the_test_suite_imports_only_what_the_test_extra_installs():
    core, extras = _declared()
    imported = _imported("tests")
    missing = {dist: str(where) for dist, where in imported.items() if dist not in core | extras["test"] | NOT_OURS}
    assert not missing, f"the tests import these, but `pip install -e .[test]` does not install them: {missing}"
