# The benchmarks reuse the test suite's fixtures (database, Redis, simulator).
from tests.conftest import *  # noqa: F403
