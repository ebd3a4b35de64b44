"""The package imports public APIs only: no TensorFlow or TFP internals, no ctypes, no private
names of other packages, so that a new TensorFlow or TFP minor release cannot break it through
a module it never promised to keep."""

import ast
import pathlib

import pytest

import tfp_flows

PACKAGE_ROOT = pathlib.Path(tfp_flows.__file__).resolve().parent
FORBIDDEN_MODULES = ("tensorflow.python", "tensorflow_probability.python", "ctypes")
# The one module allowed ctypes: it drives a C library's *public* API (eSpeak NG's speak_lib.h,
# from the espeakng-loader wheel), never TensorFlow's or Python's internals.
CTYPES_ALLOWED = {"tfp_flows/datasets/espeak.py": "import ctypes"}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _forbidden_module(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in FORBIDDEN_MODULES)


def _own(module: str) -> bool:
    return module == "tfp_flows" or module.startswith("tfp_flows.")


def private_imports(source: str, filename: str) -> list[str]:
    """``"file:line: statement"`` for every import of an internal module (TensorFlow's or TFP's
    ``python`` package, ``ctypes``) or of a private name or module of another package;
    ``importlib.import_module`` / ``__import__`` of a literal name count as imports."""
    found = []

    def report(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{node.lineno}: {what}")

    def check_module(node: ast.AST, module: str, what: str) -> None:
        if _forbidden_module(module) or (
            not _own(module) and any(_is_private(part) for part in module.split("."))
        ):
            report(node, what)

    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                check_module(node, alias.name, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module = node.module
            if module == "__future__" or _own(module):
                continue
            names = [alias.name for alias in node.names]
            what = f"from {module} import {', '.join(names)}"
            if _forbidden_module(module) or any(_is_private(p) for p in module.split(".")):
                report(node, what)
            elif any(_is_private(n) or _forbidden_module(f"{module}.{n}") for n in names):
                report(node, what)
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id == "__import__")
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            module = node.args[0].value
            check_module(node, module, f"import_module({module!r})")
    return found


def test_no_module_of_the_package_imports_internals_or_private_names():
    modules = sorted(PACKAGE_ROOT.rglob("*.py"))
    assert len(modules) > 50, f"expected the package's modules under {PACKAGE_ROOT}"
    offending = []
    for path in modules:
        name = str(path.relative_to(PACKAGE_ROOT.parent))
        found = private_imports(path.read_text(encoding="utf-8"), name)
        allowed = CTYPES_ALLOWED.get(name)
        offending.extend(f for f in found if allowed is None or not f.endswith(f": {allowed}"))
    assert not offending, "imports of internal or private APIs:\n" + "\n".join(offending)


@pytest.mark.parametrize(
    "source",
    [
        "from tensorflow.python.ops.parallel_for import control_flow_ops",
        "import tensorflow.python.ops.array_ops as array_ops",
        "from tensorflow_probability.python.internal import prefer_static as ps",
        "from tensorflow import python",
        "import ctypes",
        "from ctypes import CDLL",
        "from tensorflow_probability.python.distributions import transformed_distribution",
        "from numpy import _core",
        "from some_package._private_module import thing",
        "import importlib\nimportlib.import_module('tensorflow.python.eager.context')",
        "__import__('ctypes')",
    ],
)
def test_the_scan_names_each_kind_of_forbidden_import_with_its_line(source):
    found = private_imports("import math\n" + source, "pkg/module.py")
    last_line = source.count("\n") + 2
    assert len(found) == 1 and found[0].startswith(f"pkg/module.py:{last_line}: "), found


@pytest.mark.parametrize(
    "source",
    [
        "import tensorflow as tf",
        "from tensorflow_probability import bijectors as tfb",
        "from __future__ import annotations",
        "from tfp_flows._internal.checks import check_integer",
        "from tfp_flows.bijectors.walk import _sum",
        "from tensorflow import __version__",
        "import numpy as np",
    ],
)
def test_the_scan_accepts_public_imports_and_the_packages_own(source):
    assert private_imports(source, "pkg/module.py") == []
