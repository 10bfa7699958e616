"""Audio file I/O: formats, streaming, safe writes, path validation, analyze_file."""
from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from neuromaster import io as nio
from neuromaster.analysis import analyze, analyze_file
from neuromaster.errors import AudioFileError, AudioTypeError, ParameterError

SR = 44100


def tone(seconds=1.0, sr=SR, freq=440.0, amp=0.5, channels=2):
    t = np.arange(int(seconds * sr)) / sr
    x = amp * np.sin(2 * np.pi * freq * t)
    return np.stack([x * (1.0 - 0.3 * c) for c in range(channels)])


# ------------------------------------------------------------------ reading
@pytest.mark.parametrize("ext,fmt,subtype,lossy", [
    ("wav", "WAV", "PCM_16", False), ("wav", "WAV", "PCM_24", False), ("wav", "WAV", "FLOAT", False),
    ("flac", "FLAC", "PCM_24", False), ("aiff", "AIFF", "PCM_24", False), ("ogg", "OGG", "VORBIS", True),
    ("mp3", "MP3", "MPEG_LAYER_III", True),
])
def test_read_formats(tmp_path, ext, fmt, subtype, lossy):
    x = tone(1.5)
    path = tmp_path / f"t.{ext}"
    sf.write(path, x.T, SR, format=fmt, subtype=subtype)
    info = nio.audio_info(path)
    assert info["sample_rate"] == SR and info["channels"] == 2 and info["format"] == fmt
    assert info["duration_s"] == pytest.approx(info["frames"] / SR)
    y, sr = nio.read_audio(path)
    assert sr == SR and y.dtype == np.float64 and y.shape[0] == 2 and y.flags.c_contiguous
    if lossy:   # codecs: same length and level (within 0.5 dB), strongly correlated
        assert abs(y.shape[1] - x.shape[1]) <= 2048
        n = min(x.shape[1], y.shape[1])
        lvl = 10 * np.log10(np.mean(y[:, :n] ** 2) / np.mean(x[:, :n] ** 2))
        assert abs(lvl) < 0.5
    else:
        assert y.shape == x.shape
        tol = {"PCM_16": 2 ** -15, "PCM_24": 2 ** -23, "FLOAT": 1e-7}[subtype]
        np.testing.assert_allclose(y, x, atol=tol)
    # analysing the file gives what analysing the decoded samples gives
    a = analyze_file(path, block_size=4096)
    b = analyze(y, sr)
    assert a["integrated_lufs"] == pytest.approx(b["integrated_lufs"], abs=1e-9)
    assert a["true_peak_dbtp"] == pytest.approx(b["true_peak_dbtp"], abs=1e-9)
    assert a["file"] == str(path) and a["format"] == fmt and a["subtype"] == subtype


def test_iter_audio_blocks_streams_the_whole_file(tmp_path):
    x = tone(2.3, channels=3)
    path = tmp_path / "three.wav"
    sf.write(path, x.T, SR, subtype="FLOAT")
    blocks = list(nio.iter_audio_blocks(path, block_size=10000))
    assert all(b.shape[0] == 3 and b.shape[1] <= 10000 and b.dtype == np.float64 for b in blocks)
    assert [b.shape[1] for b in blocks[:-1]] == [10000] * (len(blocks) - 1)
    np.testing.assert_allclose(np.concatenate(blocks, axis=1), x, atol=1e-7)
    with pytest.raises(ParameterError, match="block_size"):
        next(nio.iter_audio_blocks(path, block_size=0))


def test_analyze_file_equals_analyze_and_names_bad_samples(tmp_path):
    x = tone(3.0)
    path = tmp_path / "f.wav"
    sf.write(path, x.T, SR, subtype="DOUBLE")
    a = analyze_file(path, block_size=777, progress=False)
    b = analyze(x, SR)
    for k in ("integrated_lufs", "momentary_max_lufs", "short_term_max_lufs", "true_peak_dbtp", "correlation"):
        assert (a[k] is None and b[k] is None) or a[k] == pytest.approx(b[k], abs=1e-9), k
    bad = x.copy()
    bad[1, 5000] = np.nan
    nan_path = tmp_path / "nan.wav"
    sf.write(nan_path, bad.T, SR, subtype="FLOAT")
    with pytest.raises(ParameterError, match=r"nan\.wav.*NaN.*sample 5000"):
        analyze_file(nan_path)


def test_analyze_file_progress_bar_runs(tmp_path, capsys):
    path = tmp_path / "p.wav"
    sf.write(path, tone(1.0).T, SR)
    r = analyze_file(path, progress=True)
    assert r["integrated_lufs"] is not None
    capsys.readouterr()


# ------------------------------------------------------------ path errors
def test_check_audio_path_errors(tmp_path):
    with pytest.raises(AudioFileError, match=r"missing\.wav: no such file"):
        nio.check_audio_path(tmp_path / "missing.wav")
    with pytest.raises(AudioFileError, match="is a directory"):
        nio.check_audio_path(tmp_path)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 10)
    with pytest.raises(AudioFileError, match=r"notes\.wav: is not a readable audio file"):
        nio.check_audio_path(text)
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    with pytest.raises(AudioFileError, match="empty"):
        nio.audio_info(empty)
    noise = tmp_path / "noise.mp3"
    noise.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(AudioFileError, match=r"noise\.mp3"):
        nio.read_audio(noise)
    with pytest.raises(AudioFileError, match="path"):
        nio.check_audio_path(42)
    assert isinstance(AudioFileError("x"), OSError)


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "locked.wav"
    sf.write(path, tone(0.5).T, SR)
    if os.geteuid() != 0:      # root reads anything: then only the simulated refusal below applies
        path.chmod(0)
        try:
            with pytest.raises(AudioFileError, match="permission denied"):
                nio.check_audio_path(path)
        finally:
            path.chmod(0o644)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(nio, "open", refuse, raising=False)
    with pytest.raises(AudioFileError, match=r"locked\.wav: cannot be read \(permission denied\)"):
        nio.check_audio_path(path)


# ----------------------------------------------------------------- writing
@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_audio_writer_round_trip(tmp_path, subtype):
    x = tone(1.0)
    path = tmp_path / "out.wav"
    with nio.AudioWriter(path, SR, 2, subtype) as w:
        for i in range(0, x.shape[1], 3000):
            w.write(x[:, i:i + 3000])
    assert w.frames_written == x.shape[1] and w.clipped_samples == 0
    y, sr = nio.read_audio(path)
    assert sr == SR and nio.audio_info(path)["subtype"] == subtype
    np.testing.assert_allclose(y, x, atol={"PCM_16": 2 ** -15, "PCM_24": 2 ** -23, "FLOAT": 1e-7}[subtype])
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]          # no temporary left


def test_audio_writer_is_atomic(tmp_path):
    path = tmp_path / "song.flac"
    with nio.AudioWriter(path, SR, 2) as w:
        w.write(tone(0.2))
        assert not path.exists()                      # only the temporary exists while writing
        temps = [p for p in tmp_path.iterdir()]
        assert len(temps) == 1 and temps[0].parent == tmp_path and temps[0].name.startswith(".song.")
    assert path.exists() and nio.audio_info(path)["format"] == "FLAC"
    # an exception inside the block: nothing appears, the temporary is removed
    other = tmp_path / "broken.wav"
    with pytest.raises(RuntimeError, match="boom"):
        with nio.AudioWriter(other, SR, 2) as w:
            w.write(tone(0.2))
            raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.flac"]


def test_audio_writer_refuses_to_overwrite(tmp_path):
    path = tmp_path / "keep.wav"
    sf.write(path, tone(0.1).T, SR)
    before = path.read_bytes()
    with pytest.raises(AudioFileError, match="already exists"):
        with nio.AudioWriter(path, SR, 2) as w:
            w.write(tone(0.3))
    assert path.read_bytes() == before
    with nio.AudioWriter(path, SR, 2, overwrite=True) as w:
        w.write(tone(0.3))
    assert nio.audio_info(path)["frames"] == int(0.3 * SR)


def test_audio_writer_clipping_and_bad_blocks(tmp_path):
    loud = np.array([[0.5, 1.5, -2.0, 0.1]] * 2)
    with nio.AudioWriter(tmp_path / "clip.wav", SR, 2, "PCM_24") as w:
        w.write(loud)
    assert w.clipped_samples == 4
    y, _ = nio.read_audio(tmp_path / "clip.wav")
    assert y.max() <= 1.0 and y.min() >= -1.0 and y[0, 1] == pytest.approx(1.0, abs=1e-6)
    with nio.AudioWriter(tmp_path / "float.wav", SR, 2, "FLOAT") as w:
        w.write(loud)
    assert w.clipped_samples == 0
    assert nio.read_audio(tmp_path / "float.wav")[0][1, 2] == pytest.approx(-2.0)
    with nio.AudioWriter(tmp_path / "bad.wav", SR, 2) as w:
        with pytest.raises(ParameterError, match="NaN"):
            w.write(np.array([[0.1, np.nan]] * 2))
        with pytest.raises(ParameterError, match=r"\(2, n\)"):
            w.write(np.zeros((100, 2)))
        with pytest.raises(AudioTypeError, match="float"):
            w.write(np.zeros((2, 10), dtype=np.int32))
    with pytest.raises(ParameterError, match="subtype"):
        nio.AudioWriter(tmp_path / "x.wav", SR, 2, "VORBIS")
    with pytest.raises(AudioFileError, match="extension"):
        nio.AudioWriter(tmp_path / "x.xyz", SR, 2)
    with pytest.raises(ParameterError, match="channels"):
        nio.AudioWriter(tmp_path / "x.wav", SR, 0)
    with pytest.raises(AudioFileError, match="does not exist"):
        with nio.AudioWriter(tmp_path / "no" / "x.wav", SR, 2):
            pass


# ---------------------------------------------------------------- same_file
def test_same_file(tmp_path, monkeypatch):
    a = tmp_path / "a.wav"
    sf.write(a, tone(0.1).T, SR)
    link = tmp_path / "link.wav"
    link.symlink_to(a)
    monkeypatch.chdir(tmp_path)
    assert nio.same_file(a, link)
    assert nio.same_file("a.wav", a)
    assert nio.same_file(tmp_path / "sub" / ".." / "a.wav", a)
    assert not nio.same_file(a, tmp_path / "b.wav")
    assert nio.same_file(tmp_path / "new.wav", "new.wav")          # not existing yet: resolved paths
    b = tmp_path / "b.wav"
    sf.write(b, tone(0.1).T, SR)
    assert not nio.same_file(a, b)


def test_mp3_streams_exactly_like_a_whole_read(tmp_path):
    """Regression: soundfile's read() seeks after every block and libsndfile's MP3 decoder lands
    elsewhere, corrupting blocks from the third on; iter_audio_blocks reads sequentially."""
    path = tmp_path / "s.mp3"
    sf.write(path, tone(3.0).T, SR, format="MP3", subtype="MPEG_LAYER_III")
    whole, _ = nio.read_audio(path)
    for block in (1152, 4096, 65536):
        streamed = np.concatenate(list(nio.iter_audio_blocks(path, block_size=block)), axis=1)
        assert np.array_equal(streamed, whole), block


def test_written_file_gets_the_umask_mode_not_0600(tmp_path):
    import os
    import stat
    import numpy as np
    from neuromaster.io import AudioWriter
    old = os.umask(0o022)
    try:
        with AudioWriter(tmp_path / "x.wav", 44100, 2) as w:
            w.write(np.zeros((2, 100)))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.wav").stat().st_mode) == 0o644
