"""Every seed example runs twice: on real time and on awaitflow's virtual clock.

The ``virtual`` variant carries the ``virtual_time`` marker, which the awaitflow
plugin honours for AsyncWorkflowTestCase methods and plain async tests alike.
``python benchmarks/seeds_virtual_time.py`` compares the durations of the two runs.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def time_mode(request: pytest.FixtureRequest) -> str:
    """``"real"`` or ``"virtual"``: the clock this run of the example uses."""
    return str(getattr(request, "param", "real"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise every seed test over the two clocks."""
    if "time_mode" in metafunc.fixturenames:
        metafunc.parametrize(
            "time_mode",
            [
                pytest.param("real", id="real"),
                pytest.param("virtual", id="virtual", marks=pytest.mark.virtual_time),
            ],
            indirect=True,
        )
