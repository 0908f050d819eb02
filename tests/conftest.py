import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def getkey():
    """Fresh deterministic keys: ``getkey()`` returns the next one."""
    keys = iter(jax.random.split(jax.random.key(1234), 1000))
    return lambda: next(keys)


@pytest.fixture
def x64():
    """Run a reference computation in float64."""
    with jax.enable_x64(True):
        yield
