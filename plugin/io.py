"""Audio files: validated paths, info, whole-file and streaming reads, safe writes.

Reading goes through ``soundfile`` (libsndfile): WAV, FLAC, AIFF, OGG/Vorbis
and MP3 (libsndfile >= 1.1; this environment ships 1.2.2), plus the other
formats libsndfile knows. Audio comes back as ``(channels, frames)``
float64 in full-scale units, the package's canonical layout.

Writing goes through :class:`AudioWriter`, which writes to a temporary file
in the destination folder and renames it into place only when its ``with``
block exits cleanly, so a crash or an exception never leaves a truncated
file under the final name.

Several files that must appear together (a render and its taps) go through
:class:`AudioWriterGroup`: every file is written to its temporary name
first and all are renamed into place only when every one of them is
complete; a failure leaves none of them behind.

Every failure raises :class:`neuromaster.errors.AudioFileError` (an
``OSError``) with a message that names the path and the problem. Reading a
file that holds NaN/Inf samples raises :class:`NonFiniteAudioError` (an
``AudioFileError`` that is also a ``ParameterError``) naming the file and
the first bad frame.
"""
from __future__ import annotations

import os
import pathlib
import tempfile
from typing import Iterator

import numpy as np
import soundfile as sf

from .errors import AudioFileError, NonFiniteAudioError, ParameterError

#: Subtypes :class:`AudioWriter` accepts (others that libsndfile supports for the format work too).
WRITE_SUBTYPES = ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")

#: File extensions and the libsndfile major format they select for writing.
WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".aif": "AIFF", ".aiff": "AIFF", ".ogg": "OGG", ".mp3": "MP3",
                 ".w64": "W64", ".rf64": "RF64", ".caf": "CAF"}

PathLike = str | os.PathLike


def _check_finite_block(path: pathlib.Path, data: np.ndarray, first_frame: int, sample_rate: float) -> None:
    """Raise :class:`NonFiniteAudioError` if ``data`` (frames, channels) holds NaN/Inf.

    ``first_frame`` is the file position of ``data``'s first frame.
    """
    finite = np.isfinite(data)
    if finite.all():
        return
    bad = np.argwhere(~finite)
    frame, ch = int(bad[0, 0]), int(bad[0, 1])
    kind = "NaN" if np.isnan(data[frame, ch]) else "Inf"
    at = first_frame + frame
    raise NonFiniteAudioError(
        f"{path}: holds non-finite samples; first: {kind} in frame {at} (sample {at} of channel {ch + 1}, "
        f"{at / sample_rate:.3f} s); {int(bad.shape[0])} non-finite value(s) in frames {first_frame}-"
        f"{first_frame + data.shape[0] - 1}. Audio with NaN/Inf cannot be processed: repair or re-export the file")


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
    """Read a whole file: ``(audio (channels, frames) float64, sample_rate)``.

    Raises
    ------
    AudioFileError
        As :func:`check_audio_path`, or the read fails.
    NonFiniteAudioError
        The file holds NaN/Inf samples (the message names the first bad frame).
    """
    p = check_audio_path(path)
    try:
        data, sample_rate = sf.read(str(p), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioFileError(f"{p}: read failed ({_short(e)})") from None
    _check_finite_block(p, data, 0, sample_rate)
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
    first ``next()``). Every block is checked before it is produced: a block
    holding NaN/Inf raises :class:`NonFiniteAudioError` naming the file and the
    first bad frame (the blocks before it have been produced).
    """
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise ParameterError(f"block_size must be a positive integer number of frames; got {block_size!r}")
    p = check_audio_path(path)
    done = 0
    try:
        with sf.SoundFile(str(p)) as f:
            read = _sequential_reader(f)
            while True:
                data = read(int(block_size))
                if data.shape[0] == 0:
                    break
                _check_finite_block(p, data, done, f.samplerate)
                done += data.shape[0]
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
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{self.path.stem}.", suffix=f".part{self.path.suffix}")
        except OSError as e:
            raise AudioFileError(f"{self.path}: cannot write in {folder} ({e.strerror or e})") from None
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
            self.finish()
            self.commit()
        except BaseException:
            self._discard()
            raise
        return False

    def finish(self) -> None:
        """Complete the temporary file (flushed and closed) without moving it into place.

        :meth:`commit` then renames it; :class:`AudioWriterGroup` uses the two
        steps to make several files appear together. Idempotent.
        """
        if self._closed or self._tmp is None:
            raise AudioFileError(f"{self.path}: finish() outside the with block")
        if self._file is None:
            return
        f, self._file = self._file, None
        try:
            f.close()
            os.chmod(self._tmp, 0o666 & ~_umask())  # mkstemp creates 0600; a finished file gets the usual mode
        except (sf.LibsndfileError, RuntimeError, OSError) as e:
            raise AudioFileError(f"{self.path}: write failed ({_short(e)})") from None

    @property
    def temporary_path(self) -> pathlib.Path | None:
        """Where the data is being written (None once committed or discarded)."""
        return None if self._closed else self._tmp

    def commit(self) -> None:
        """Rename the finished temporary file to :attr:`path` (atomic on one file system)."""
        if self._file is not None:
            self.finish()
        if self._closed or self._tmp is None:
            raise AudioFileError(f"{self.path}: commit() after the file was committed or discarded")
        if self.path.exists() and not self.overwrite:
            raise AudioFileError(f"{self.path}: appeared while writing; not replaced (overwrite=False)")
        try:
            os.replace(self._tmp, self.path)
        except OSError as e:
            raise AudioFileError(f"{self.path}: cannot be put in place ({e.strerror or e})") from None
        self._tmp = None
        self._closed = True

    def discard(self) -> None:
        """Drop the temporary file (nothing appears under :attr:`path`)."""
        self._discard()

    def _discard(self):
        if self._file is not None:
            try:
                self._file.close()
            except Exception:  # pragma: no cover - best effort on the error path
                pass
            self._file = None
        if self._tmp is not None:
            try:
                self._tmp.unlink()
            except FileNotFoundError:
                pass
            except OSError:  # pragma: no cover - best effort on the error path
                pass
            self._tmp = None
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
        try:
            self._file.write(np.ascontiguousarray(frames, dtype=np.float64))
        except (sf.LibsndfileError, RuntimeError, OSError) as e:   # e.g. no space left on the device
            raise AudioFileError(f"{self.path}: write failed ({_short(e)})") from None
        self.frames_written += frames.shape[0]


class AudioWriterGroup:
    """Several :class:`AudioWriter` files that appear together, or not at all.

    Each :meth:`add` opens a writer on its own temporary file. When the
    ``with`` block exits cleanly every file is finished (flushed and closed)
    first; only then are they renamed into place, one after the other. If
    anything fails (an exception in the block, finishing any file, or a
    rename), every temporary file is deleted, the files already renamed by
    this group are removed again, and a file an ``overwrite`` replaced is put
    back from its backup, so a failure leaves the folder as it was.

    Examples
    --------
    >>> with AudioWriterGroup() as g:                                   # doctest: +SKIP
    ...     g.add("mix.wav", 48000, 2, "FLOAT").write(mix)
    ...     g.add("bus.wav", 48000, 2, "FLOAT").write(bus)
    """

    def __init__(self):
        self._writers: list[AudioWriter] = []
        self._open = False

    def __enter__(self):
        self._open = True
        return self

    def add(self, path: PathLike, sample_rate: int, channels: int, subtype: str = "PCM_24", *,
            overwrite: bool = False) -> AudioWriter:
        """Open one more file of the group (arguments as :class:`AudioWriter`); returns its writer."""
        if not self._open:
            raise AudioFileError("AudioWriterGroup.add() outside the with block")
        w = AudioWriter(path, sample_rate, channels, subtype, overwrite=overwrite)
        for other in self._writers:
            if same_file(other.path, w.path):
                raise AudioFileError(f"{w.path}: written twice in one group (also as {other.path})")
        w.__enter__()
        self._writers.append(w)
        return w

    def __exit__(self, exc_type, exc, tb):
        self._open = False
        if exc_type is not None:
            self._discard_all()
            return False
        try:
            for w in self._writers:
                w.finish()
        except BaseException:
            self._discard_all()
            raise
        self._commit_all()
        return False

    def _discard_all(self):
        for w in self._writers:
            w._discard()

    def _commit_all(self):
        try:
            replace_together([(w._tmp, w.path, w.overwrite) for w in self._writers])
        except BaseException:
            self._discard_all()
            raise
        for w in self._writers:
            w._tmp = None
            w._closed = True


def replace_together(moves) -> None:
    """Rename finished temporary files onto their destinations: all of them, or none.

    Parameters
    ----------
    moves : sequence of (temporary path, destination path, overwrite)
        ``overwrite=False`` refuses a destination that exists.

    Notes
    -----
    Destinations are checked first. Each rename is atomic; between them an
    existing destination is first moved to a hidden backup next to it. If a
    rename fails, the destinations already replaced are removed and their
    backups put back, so the folders end as they were (the temporary files
    are left for the caller to delete). Raises :class:`AudioFileError`.
    """
    moves = [(pathlib.Path(t), pathlib.Path(d), bool(o)) for t, d, o in moves]
    for _, dest, overwrite in moves:
        if dest.is_dir():
            raise AudioFileError(f"{dest}: is a directory")
        if dest.exists() and not overwrite:
            raise AudioFileError(f"{dest}: appeared while writing; not replaced (overwrite=False)")
    done = []        # (temporary, destination, backup or None) in place
    try:
        for tmp, dest, _ in moves:
            backup = None
            if dest.exists():
                backup = dest.with_name(f".{dest.name}.{os.getpid()}.backup")
                os.replace(dest, backup)
            try:
                os.replace(tmp, dest)
            except BaseException:
                if backup is not None:
                    os.replace(backup, dest)
                raise
            done.append((tmp, dest, backup))
    except OSError as e:
        _roll_back(done)
        name = getattr(e, "filename", None) or "a destination"
        raise AudioFileError(f"{name}: cannot be put in place ({e.strerror or e}); nothing was replaced") from None
    except BaseException:
        _roll_back(done)
        raise
    for _, _, backup in done:
        if backup is not None:
            try:
                backup.unlink()
            except OSError:  # pragma: no cover - a leftover hidden backup is harmless
                pass


def _roll_back(done) -> None:
    for tmp, dest, backup in reversed(done):
        try:
            if backup is not None:
                os.replace(backup, dest)
            else:
                dest.unlink()
        except OSError:  # pragma: no cover - best effort on the error path
            pass
