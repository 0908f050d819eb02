"""Offline datasets: generated (Randman, Yin-Yang), shipped inside a package (scikit-learn digits),
and loaders for local files (SHD HDF5). Nothing downloads."""

from ._checks import check_dataset as check_dataset
from .digits import digits as digits
from .randman import randman as randman
from .randman import spike_raster as spike_raster
from .shd import bin_events as bin_events
from .shd import load_shd as load_shd
from .yinyang import yinyang as yinyang
from .yinyang import yinyang_class as yinyang_class
