"""Canonical networks, ready to run."""

from .coba import coba as coba
from .cuba import cuba as cuba
