"""The chaos tier uses the e2e tier's running OMS."""

from tests.e2e.conftest import mix, oms, oms_env  # noqa: F401 - fixtures shared with the e2e tier
