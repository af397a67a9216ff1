"""Every backend keeps the interface's signatures exactly (the seam is checked, not agreed).

Each method of ``Backend`` that a backend class defines again, ``__init__`` included, has the
same parameters (names, kinds, defaults) and the same annotations, as written: a backend
cannot drop ``Spec`` or ``JobRecord`` from a signature, narrow or widen a type, or rename a
parameter without this test (and the type checker in ``make lint``) saying so.
"""

from __future__ import annotations

import inspect

import pytest

from superbatch.backends import registry
from superbatch.backends.base import Backend

# The fake backend of the unit tier (tests/fakebackend.py) is held to the same interface.
BACKENDS = [*registry.names(), "fake"]
INTERFACE = {
    name
    for name, member in vars(Backend).items()
    if (not name.startswith("_") or name == "__init__")
    and (isinstance(member, (classmethod, staticmethod)) or inspect.isfunction(member))
}


def _shape(function) -> list[tuple]:
    """Each parameter's name, kind, default and annotation, then the return annotation."""
    signature = inspect.signature(function)
    return [
        *(
            (p.name, p.kind.name, repr(p.default), p.annotation)
            for p in signature.parameters.values()
        ),
        ("return", signature.return_annotation),
    ]


def _redefined(cls: type) -> list[str]:
    return sorted(
        name
        for klass in cls.__mro__
        if klass is not Backend and issubclass(klass, Backend)
        for name in vars(klass)
        if name in INTERFACE
    )


def test_the_interface_types_the_spec_and_the_job_record():
    assert inspect.signature(Backend.check_spec).parameters["spec"].annotation == "Spec"
    assert inspect.signature(Backend.__init__).parameters["record"].annotation == "JobRecord"


@pytest.mark.parametrize("name", BACKENDS)
def test_every_backend_method_has_the_interface_signature(name):
    cls = registry.backend_class(name)
    redefined = _redefined(cls)
    assert {"submit", "status", "retry", "cancel"} <= set(redefined)
    differences = {
        method: f"{inspect.signature(getattr(cls, method))} is not "
        f"{inspect.signature(getattr(Backend, method))}"
        for method in redefined
        if _shape(getattr(cls, method)) != _shape(getattr(Backend, method))
    }
    assert differences == {}, f"{cls.__name__} differs from Backend"


@pytest.mark.parametrize("name", BACKENDS)
def test_class_and_instance_methods_stay_what_the_interface_made_them(name):
    cls = registry.backend_class(name)
    for method in _redefined(cls):
        ours = inspect.getattr_static(Backend, method)
        theirs = inspect.getattr_static(cls, method)
        assert type(theirs) is type(ours), f"{cls.__name__}.{method}"
