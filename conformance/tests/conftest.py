from tests.conftest import toy  # the in-test "toy" backend fixture

__all__ = ["toy"]
