"""Names a package exports but loads on first use, so importing it stays cheap (no TensorFlow)."""
import importlib
import sys


def lazy_exports(package, table):
    """The `__getattr__` and `__dir__` of `package` for `table` ({name: module that defines it})."""
    def __getattr__(name):
        if name in table:
            return getattr(importlib.import_module(table[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__
