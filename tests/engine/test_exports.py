"""The public door: ``awaitflow.__all__`` is pinned and every public name is documented."""

from __future__ import annotations

import inspect

import pytest

import awaitflow

EXPECTED = [
    "AsyncLocalRuntime",
    "AsyncWorkflowBuilder",
    "AwaitflowError",
    "BlockingCallWarning",
    "CircuitBreaker",
    "CircuitBreakerOpenError",
    "DeadlockError",
    "Event",
    "MissingOutputError",
    "NodeTiming",
    "ResourceNotFoundError",
    "RetryPolicy",
    "Workflow",
    "WorkflowResult",
    "WorkflowValidationError",
    "render_timeline",
    "write_timeline",
]


def test_all_is_exactly_the_public_names() -> None:
    """``__all__`` lists exactly the agreed public names, sorted."""
    assert awaitflow.__all__ == EXPECTED


def test_every_name_in_all_exists() -> None:
    """Each name of ``__all__`` is an attribute of the package."""
    missing = [name for name in awaitflow.__all__ if not hasattr(awaitflow, name)]
    assert missing == []


def test_star_import_gives_the_public_names_only() -> None:
    """``from awaitflow import *`` binds the names of ``__all__`` and nothing else."""
    namespace: dict[str, object] = {}
    exec("from awaitflow import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == EXPECTED


def test_public_names_are_defined_in_private_modules() -> None:
    """Every public object lives in a private ``awaitflow._*`` module, re-exported here."""
    for name in EXPECTED:
        module = getattr(awaitflow, name).__module__
        assert module.startswith("awaitflow._"), (name, module)


def test_package_has_a_version() -> None:
    """``awaitflow.__version__`` is a version string."""
    assert awaitflow.__version__.count(".") == 2


@pytest.mark.parametrize("name", EXPECTED)
def test_every_public_name_has_a_docstring(name: str) -> None:
    """Each public class and function has its own docstring."""
    obj = getattr(awaitflow, name)
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__
    assert doc and doc.strip(), name


@pytest.mark.parametrize("name", EXPECTED)
def test_every_public_method_has_a_docstring(name: str) -> None:
    """Each public method and property of a public class has a docstring."""
    cls = getattr(awaitflow, name)
    undocumented = []
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        func = value.fget if isinstance(value, property) else value
        if inspect.isfunction(func) and not (func.__doc__ and func.__doc__.strip()):
            undocumented.append(attr)
    assert undocumented == [], f"{name}: {undocumented}"


def test_errors_form_the_documented_tree() -> None:
    """Every awaitflow error derives from AwaitflowError and the builtin named in the tree."""
    tree = {
        awaitflow.WorkflowValidationError: ValueError,
        awaitflow.MissingOutputError: KeyError,
        awaitflow.ResourceNotFoundError: KeyError,
        awaitflow.DeadlockError: RuntimeError,
        awaitflow.CircuitBreakerOpenError: RuntimeError,
    }
    for error, builtin in tree.items():
        assert issubclass(error, awaitflow.AwaitflowError) and issubclass(error, builtin)
    assert issubclass(awaitflow.AwaitflowError, Exception)
