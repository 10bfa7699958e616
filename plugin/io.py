"""Audio files: validated paths, info, whole-file and streaming reads, safe writes.

Reading goes through ``soundfile`` (libsndfile): WAV, FLAC, AIFF, OGG/Vorbis
and MP3 (libsndfile >= 1.1; this environment ships 1.2.2), plus the other
formats libsndfile knows. Audio comes back as ``(channels, frames)``
float64 in full-scale units, the package's canonical layout.

Writing goes through :class:`AudioWriter`, which writes to a temporary file
in the destination folder and renames it into place only when its ``with``
block exits cleanly, so a crash or an exception never leaves a truncated
file under the final name.

Every failure raises :class:`neuromaster.errors.AudioFileError` (an
``OSError``) with a message that names the path and the problem.
"""
from __future__ import annotations

import os
import pathlib
import tempfile
from typing import Iterator

import numpy as np
import soundfile as sf

from .errors import AudioFileError, ParameterError

#: Subtypes :class:`AudioWriter` accepts (others that libsndfile supports for the format work too).
WRITE_SUBTYPES = ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")

#: File extensions and the libsndfile major format they select for writing.
WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".aif": "AIFF", ".aiff": "AIFF", ".ogg": "OGG", ".mp3": "MP3",
                 ".w64": "W64", ".rf64": "RF64", ".caf": "CAF"}

PathLike = str | os.PathLike


def _pathname(path) -> pathlib.Path:
    if isinstance(path, (bytes, bytearray)):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise AudioFileError(f"an audio file path must be a string or path; got {type(path).__name__}")
    p = pathlib.Path(path)
    if str(p) == "":
        raise AudioFileError("an audio file path must not be empty")
    return p


def check_audio_path(path: PathLike) -> pathlib.Path:
    """Validate an input audio path and return it as a ``Path``.

    Raises
    ------
    AudioFileError
        If the path does not exist, is a directory, cannot be read
        (permissions), or libsndfile cannot open it as audio; the message
        names the path and the problem.
    """
    p = _pathname(path)
    if not p.exists():
        raise AudioFileError(f"{p}: no such file")
    if p.is_dir():
        raise AudioFileError(f"{p}: is a directory, not an audio file")
    if not p.is_file():
        raise AudioFileError(f"{p}: is not a regular file")
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
    except PermissionError:
        raise AudioFileError(f"{p}: cannot be read (permission denied)") from None
    except OSError as e:
        raise AudioFileError(f"{p}: cannot be read ({e.strerror or e})") from None
    if not head:
        raise AudioFileError(f"{p}: is empty (0 bytes), not an audio file")
    try:
        with sf.SoundFile(str(p)) as f:
            if f.samplerate <= 0 or f.channels <= 0:
                raise AudioFileError(f"{p}: has no audio (sample rate {f.samplerate}, {f.channels} channels)")
    except AudioFileError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise AudioFileError(f"{p}: is not a readable audio file ({_short(e)})") from None
    return p


def _short(e: Exception) -> str:
    msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    # soundfile prefixes messages with the path; keep only libsndfile's reason
    return msg.split(": ", 1)[-1] if msg.startswith("Error opening") else msg


def audio_info(path: PathLike) -> dict:
    """Facts about an audio file.

    Returns
    -------
    dict
        ``sample_rate`` (Hz, int), ``channels`` (int), ``frames`` (int; for
        compressed formats as reported by the decoder), ``duration_s``
        (float), ``format`` (libsndfile major format, e.g. ``"WAV"``),
        ``subtype`` (e.g. ``"PCM_24"``).
    """
    p = check_audio_path(path)
    with sf.SoundFile(str(p)) as f:
        return {"sample_rate": int(f.samplerate), "channels": int(f.channels), "frames": int(f.frames),
                "duration_s": float(f.frames) / f.samplerate if f.samplerate else 0.0,
                "format": f.format, "subtype": f.subtype}


def read_audio(path: PathLike) -> tuple[np.ndarray, int]:
    """Read a whole file: ``(audio (channels, frames) float64, sample_rate)``."""
    p = check_audio_path(path)
    try:
        data, sample_rate = sf.read(str(p), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioFileError(f"{p}: read failed ({_short(e)})") from None
    return np.ascontiguousarray(data.T), int(sample_rate)


def _sequential_reader(f):
    """A ``read(frames) -> (n, channels) float64`` that never seeks.

    ``soundfile.SoundFile.read`` seeks to the position it expects after every
    call; libsndfile's MP3 decoder (1.2.2 here) does not land there exactly, so
    MP3 files read in blocks that way come back with corrupted audio from the
    third 4096-frame block on. Calling ``sf_readf_double`` directly reads
    strictly sequentially (soundfile's cffi handles; if a future soundfile
    renames them we fall back to ``SoundFile.read``, correct for every format
    but MP3).
    """
    snd, ffi, handle = getattr(sf, "_snd", None), getattr(sf, "_ffi", None), getattr(f, "_file", None)
    if snd is None or ffi is None or handle is None or not hasattr(snd, "sf_readf_double"):
        return lambda frames: f.read(frames, dtype="float64", always_2d=True)

    def read(frames):
        buf = np.empty((frames, f.channels), dtype=np.float64)
        n = snd.sf_readf_double(handle, ffi.cast("double *", buf.ctypes.data), frames)
        err = snd.sf_error(handle)
        if err:
            raise RuntimeError(ffi.string(snd.sf_error_number(err)).decode("utf-8", "replace"))
        return buf[:max(int(n), 0)]
    return read


def iter_audio_blocks(path: PathLike, block_size: int = 65536) -> Iterator[np.ndarray]:
    """Stream a file as ``(channels, n)`` float64 blocks of at most ``block_size`` frames.

    Memory stays bounded by one block whatever the file length. Reading is
    strictly sequential (see :func:`_sequential_reader`). The path is
    validated before the first block is produced (so errors surface on the
    first ``next()``).
    """
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise ParameterError(f"block_size must be a positive integer number of frames; got {block_size!r}")
    p = check_audio_path(path)
    try:
        with sf.SoundFile(str(p)) as f:
            read = _sequential_reader(f)
            while True:
                data = read(int(block_size))
                if data.shape[0] == 0:
                    break
                yield np.ascontiguousarray(data.T)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioFileError(f"{p}: read failed ({_short(e)})") from None


def same_file(a: PathLike, b: PathLike) -> bool:
    """True when ``a`` and ``b`` name the same file (symbolic links and ``..`` resolved).

    Works for paths that do not exist yet (compares the resolved paths), so
    it can guard an output path against overwriting an input.
    """
    pa, pb = _pathname(a), _pathname(b)
    try:
        if pa.exists() and pb.exists():
            return os.path.samefile(pa, pb)
    except OSError:
        pass
    return pa.resolve() == pb.resolve()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AudioWriter:
    """Write audio safely: a temporary file in the destination folder, renamed on success.

    Parameters
    ----------
    path : str or path
        Destination; the format follows the extension (see :data:`WRITE_FORMATS`).
    sample_rate : int
        In Hz.
    channels : int
        Number of channels, >= 1.
    subtype : str
        ``"PCM_16"``, ``"PCM_24"`` (default), ``"PCM_32"``, ``"FLOAT"`` or
        ``"DOUBLE"`` (or another libsndfile subtype valid for the format).
    overwrite : bool
        Replace an existing file. Default ``False``: an existing path raises.

    Notes
    -----
    Use as a context manager; ``.write(block)`` takes ``(channels, n)``
    float64 (float32 accepted). Integer (PCM) subtypes cannot hold values
    beyond full scale: such samples are clipped to +-1 and counted in
    :attr:`clipped_samples` (check it, or use ``FLOAT``). Non-finite samples
    raise. The file appears under ``path`` only when the ``with`` block exits
    without an exception; otherwise the temporary file is deleted.

    Examples
    --------
    >>> with AudioWriter("out.wav", 48000, 2, "PCM_24") as w:   # doctest: +SKIP
    ...     for block in blocks:
    ...         w.write(block)
    """

    def __init__(self, path: PathLike, sample_rate: int, channels: int, subtype: str = "PCM_24", *,
                 overwrite: bool = False):
        self.path = _pathname(path)
        ext = self.path.suffix.lower()
        if ext not in WRITE_FORMATS:
            raise AudioFileError(f"{self.path}: cannot tell the format from the extension {ext!r}; "
                                 f"use one of {', '.join(sorted(WRITE_FORMATS))}")
        self.format = WRITE_FORMATS[ext]
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer, float)) \
                or not float(sample_rate).is_integer() or not 1 <= sample_rate <= 768000:
            raise ParameterError(f"sample_rate must be a whole number of Hz in [1, 768000]; got {sample_rate!r}")
        if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or not 1 <= channels <= 256:
            raise ParameterError(f"channels must be an integer in [1, 256]; got {channels!r}")
        self.sample_rate, self.channels = int(sample_rate), int(channels)
        self.subtype = str(subtype).upper()
        if not sf.check_format(self.format, self.subtype):
            raise ParameterError(f"subtype {subtype!r} is not valid for {self.format} files; "
                                 f"valid: {', '.join(sorted(sf.available_subtypes(self.format)))}")
        self.overwrite = bool(overwrite)
        self._integer = self.subtype.startswith("PCM") or self.subtype in ("ALAC_16", "ALAC_24")
        self.clipped_samples = 0
        self.frames_written = 0
        self._file = None
        self._tmp = None
        self._closed = False

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self):
        folder = self.path.parent if str(self.path.parent) else pathlib.Path(".")
        if not folder.is_dir():
            raise AudioFileError(f"{self.path}: the folder {folder} does not exist")
        if self.path.is_dir():
            raise AudioFileError(f"{self.path}: is a directory")
        if self.path.exists() and not self.overwrite:
            raise AudioFileError(f"{self.path}: already exists (pass overwrite=True to replace it)")
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{self.path.stem}.", suffix=f".part{self.path.suffix}")
        os.close(fd)
        self._tmp = pathlib.Path(tmp)
        try:
            self._file = sf.SoundFile(str(self._tmp), "w", samplerate=self.sample_rate, channels=self.channels,
                                      format=self.format, subtype=self.subtype)
        except (sf.LibsndfileError, RuntimeError, OSError) as e:
            self._discard()
            raise AudioFileError(f"{self.path}: cannot write ({_short(e)})") from None
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self._discard()
            return False
        try:
            self._file.close()
            if self.path.exists() and not self.overwrite:
                raise AudioFileError(f"{self.path}: appeared while writing; not replaced (overwrite=False)")
            os.chmod(self._tmp, 0o666 & ~_umask())  # mkstemp creates 0600; a finished file gets the usual mode
            os.replace(self._tmp, self.path)
        except BaseException:
            self._discard()
            raise
        self._closed = True
        return False

    def _discard(self):
        if self._file is not None:
            try:
                self._file.close()
            except Exception:  # pragma: no cover - best effort on the error path
                pass
        if self._tmp is not None:
            try:
                self._tmp.unlink()
            except FileNotFoundError:
                pass
        self._closed = True

    # -- writing -------------------------------------------------------------
    def write(self, block: np.ndarray) -> None:
        """Append ``block`` of shape ``(channels, n)`` (float32/float64, full scale +-1)."""
        if self._file is None or self._closed:
            raise AudioFileError(f"{self.path}: write() outside the with block")
        x = np.asarray(block)
        if x.dtype not in (np.float32, np.float64):
            from .errors import AudioTypeError
            raise AudioTypeError(f"audio blocks must be float32 or float64; got dtype {x.dtype}")
        if x.ndim == 1 and self.channels == 1:
            x = x[np.newaxis, :]
        if x.ndim != 2 or x.shape[0] != self.channels:
            raise ParameterError(f"block must have shape ({self.channels}, n) (channels first); got {x.shape}")
        if not np.isfinite(x).all():
            raise ParameterError(f"{self.path}: block contains {int((~np.isfinite(x)).sum())} NaN/Inf samples")
        frames = x.T
        if self._integer:
            over = np.abs(frames) > 1.0
            n_over = int(over.sum())
            if n_over:
                self.clipped_samples += n_over
                frames = np.clip(frames, -1.0, 1.0)
        self._file.write(np.ascontiguousarray(frames, dtype=np.float64))
        self.frames_written += frames.shape[0]
