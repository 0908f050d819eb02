"""Writing brainsim results in the field's exchange formats, and recordings streamed to
files (optional dependencies, imported when first used)."""

from .._sink import RecordingLayout as RecordingLayout
from .._sink import RecordingSink as RecordingSink
from .neo import to_neo as to_neo
from .stored import RecordingFileError as RecordingFileError
from .stored import StoredArray as StoredArray
from .stored import read_recording as read_recording
from .stream import HDF5Sink as HDF5Sink
