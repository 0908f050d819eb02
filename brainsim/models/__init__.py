"""Canonical networks, ready to run."""

from .coba import coba as coba
from .cobahh import cobahh as cobahh
from .cobahh import cobahh_state as cobahh_state
from .cuba import cuba as cuba
