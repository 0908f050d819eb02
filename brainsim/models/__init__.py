"""Canonical networks, ready to run."""

from .brunel2000 import brunel2000 as brunel2000
from .coba import coba as coba
from .cobahh import cobahh as cobahh
from .cobahh import cobahh_state as cobahh_state
from .cuba import cuba as cuba
from .potjans_diesmann import potjans_diesmann as potjans_diesmann
from .song2000 import song2000 as song2000
