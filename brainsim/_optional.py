"""Optional dependencies, imported when first used."""

import importlib


def require(module: str, extra: str):
    """``import module``, or an ``ImportError`` naming the brainsim extra that installs
    it (``pip install 'brainsim[extra]'``)."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"this brainsim feature needs the optional package {module!r}; install it "
            f"with: pip install 'brainsim[{extra}]'"
        ) from err
