"""Writing brainsim results in the field's exchange formats (optional dependencies,
imported when first used)."""

from .neo import to_neo as to_neo
