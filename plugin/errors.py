"""One exception family for the whole package (librosa's habit).

``ParameterError`` is also a ``ValueError`` and ``AudioTypeError`` also a
``TypeError``, so callers that catch the builtin types keep working.
"""


class NeuromasterError(Exception):
    """Base class of every error neuromaster raises on purpose."""


class ParameterError(NeuromasterError, ValueError):
    """A parameter, argument or audio value is out of its allowed range."""


class AudioTypeError(NeuromasterError, TypeError):
    """Audio of a type neuromaster cannot process (e.g. integer samples)."""


class AudioFileError(NeuromasterError, OSError):
    """An audio file is missing, unreadable, or not audio."""


class PresetError(NeuromasterError, ValueError):
    """A preset or graph spec is malformed; the message names the place."""


class NonFiniteAudioError(AudioFileError, ParameterError):
    """An audio file holds NaN or Inf samples (possible in float formats).

    Both an :class:`~neuromaster.errors.AudioFileError` (the file is the
    problem) and a :class:`~neuromaster.errors.ParameterError` (the audio
    values are), like ``io.UnsupportedOperation`` is both an ``OSError`` and a
    ``ValueError``: callers that catch either keep working. The message names
    the file, the first bad frame (0-based) and its channel.
    """
