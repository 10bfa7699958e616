"""Failure paths of the commands (audit items 1, 2, 3, 12, 16): every failure exits 2 with a
message naming the command and the file, never a traceback, and leaves nothing behind."""
from __future__ import annotations

import errno
import json
import pathlib

import dawdreamer  # noqa: F401  (before numba)
import numpy as np
import pytest
import soundfile as sf

from neuromaster import demo
from neuromaster import io as nio
from neuromaster import loudness_target
from neuromaster.cli import main
from neuromaster.errors import AudioFileError, ParameterError

SR = 44100


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    p = tmp_path_factory.mktemp("mix") / "mix.wav"
    demo.write_demo(p, "pop", 3.0, SR, seed=5)
    return p


def _run(args, capsys):
    rc = main([str(a) for a in args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _tree(folder: pathlib.Path) -> set:
    """Every path under ``folder`` (hidden temporary files included)."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _expect_failure(args, capsys, folder, command, *needles):
    before = _tree(folder)
    rc, _, err = _run(args, capsys)
    assert rc == 2, err
    assert err.startswith(f"neuromaster {command}: error:"), err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, err
    assert _tree(folder) == before, f"left behind: {_tree(folder) - before}"
    return err


def _nan_wav(path: pathlib.Path, frame: int, value=np.nan, seconds: float = 2.0) -> pathlib.Path:
    t = np.arange(int(seconds * SR)) / SR
    x = 0.3 * np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)])
    x[1, frame] = value
    sf.write(path, x.T, SR, subtype="FLOAT")
    return path


# ------------------------------------------------------------------ item 3: NaN / Inf in input files
def test_reading_names_the_file_and_the_first_bad_frame(tmp_path):
    path = _nan_wav(tmp_path / "bad.wav", 70001)
    with pytest.raises(AudioFileError, match=r"bad\.wav: .*NaN in frame 70001 \(sample 70001 of channel 2"):
        nio.read_audio(path)
    blocks = nio.iter_audio_blocks(path, block_size=10000)
    got = [next(blocks) for _ in range(7)]           # the clean blocks before it come through
    assert sum(b.shape[1] for b in got) == 70000
    with pytest.raises(AudioFileError, match=r"frame 70001"):
        next(blocks)
    inf = _nan_wav(tmp_path / "inf.wav", 5, value=-np.inf)
    with pytest.raises(nio.NonFiniteAudioError, match=r"inf\.wav: .*Inf in frame 5 "):
        list(nio.iter_audio_blocks(inf))
    # both families catch it: a file problem and a value problem
    assert issubclass(nio.NonFiniteAudioError, AudioFileError) and issubclass(nio.NonFiniteAudioError, ParameterError)


def test_analyze_a_file_with_one_nan(tmp_path, capsys):
    path = _nan_wav(tmp_path / "nan.wav", 12345)
    _expect_failure(["analyze", path], capsys, tmp_path, "analyze", f"{path}", "NaN", "12345")


def test_master_a_file_with_one_nan(tmp_path, capsys):
    path = _nan_wav(tmp_path / "nan.wav", 54321)
    err = _expect_failure(["master", path, tmp_path / "out.wav", "--report", tmp_path / "rep"], capsys, tmp_path,
                          "master", f"{path}: holds non-finite samples", "frame 54321")
    assert ".candidate" not in err and ".part" not in err     # no hidden temporary file in the message


# ------------------------------------------------------------------ item 1: --report
def test_report_under_a_file_fails_before_mastering(mix, tmp_path, capsys):
    (tmp_path / "ok.wav").write_bytes(b"a file, not a folder")
    _expect_failure(["master", mix, tmp_path / "out.wav", "--report", tmp_path / "ok.wav" / "rep"], capsys,
                    tmp_path, "master", "ok.wav is a file, not a folder")
    _expect_failure(["master", mix, tmp_path / "out.wav", "--report", tmp_path / "ok.wav"], capsys,
                    tmp_path, "master", "exists and is not a folder")


def test_unwritable_report_folder_fails_before_mastering(mix, tmp_path, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(loudness_target, "_run", lambda *a, **k: calls.append(1))
    # sysfs refuses new files even to root; the check is a real probe, not os.access
    _expect_failure(["master", mix, tmp_path / "out.wav", "--report", "/sys/neuromaster-report"], capsys,
                    tmp_path, "master", "is not writable")
    assert not calls, "mastering started before the report folder was checked"


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device"), RuntimeError("Agg failed")])
def test_a_failing_report_leaves_neither_report_nor_output(mix, tmp_path, capsys, monkeypatch, exc):
    """The report is written before OUT is put in place: if it fails, OUT never appears (and the
    report folder created for it is removed again)."""
    def broken(*args, **kwargs):
        raise exc

    monkeypatch.setattr(loudness_target, "plot_master", broken)
    needle = "No space left on device" if isinstance(exc, OSError) else "RuntimeError: Agg failed"
    _expect_failure(["master", mix, tmp_path / "out.wav", "--report", tmp_path / "new" / "rep"], capsys,
                    tmp_path, "master", needle)


def test_a_failing_rename_rolls_everything_back(mix, tmp_path, capsys, monkeypatch):
    """OUT is the last file put in place; if that rename fails, the report files already renamed are
    removed and files that --force replaced come back."""
    rep = tmp_path / "rep"
    rep.mkdir()
    (rep / "master_report.json").write_text("old report")
    out = tmp_path / "out.wav"
    out.write_bytes(b"old master")
    real = nio.os.replace

    def refuse_out(src, dst):
        if pathlib.Path(dst) == out and ".candidate" in str(src):
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real(src, dst)

    monkeypatch.setattr(nio.os, "replace", refuse_out)
    _expect_failure(["master", mix, out, "--report", rep, "--force"], capsys, tmp_path, "master",
                    "Permission denied")
    assert out.read_bytes() == b"old master"
    assert (rep / "master_report.json").read_text() == "old report"


def test_report_and_output_appear_together(mix, tmp_path, capsys):
    rc, _, err = _run(["master", mix, tmp_path / "out.wav", "--report", tmp_path / "a" / "b", "--quiet"], capsys)
    assert rc == 0, err
    assert _tree(tmp_path) == {"out.wav", "a", "a/b", "a/b/master_report.json", "a/b/master_report.png"}
    doc = json.loads((tmp_path / "a" / "b" / "master_report.json").read_text())
    assert doc["output"] == str(tmp_path / "out.wav")


# ------------------------------------------------------------------ item 2: system errors in main
def test_disk_full_while_writing_is_a_message_naming_the_file(mix, tmp_path, capsys, monkeypatch):
    def full(self, data):
        raise sf.LibsndfileError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sf.SoundFile, "write", full)
    _expect_failure(["master", mix, tmp_path / "out.wav"], capsys, tmp_path, "master", "out", "write failed")


@pytest.mark.parametrize("exc,needle", [(OSError(errno.EIO, "Input/output error"), "OSError: [Errno 5] Input/output"),
                                        (MemoryError(), "out of memory"),
                                        (RuntimeError("libsndfile: internal error"), "RuntimeError: libsndfile")])
def test_system_errors_exit_2_with_the_command_named(mix, tmp_path, capsys, monkeypatch, exc, needle):
    """An OSError / MemoryError / RuntimeError that no layer turned into a NeuromasterError
    (here: the pre-limiter cache failing mid-pass) is still a message, not a traceback."""
    def broken(self, y):
        raise exc

    monkeypatch.setattr(loudness_target._Cache, "append", broken)
    _expect_failure(["master", mix, tmp_path / "out.wav"], capsys, tmp_path, "master", needle)


# ------------------------------------------------------------------ item 12: demo validates first
@pytest.mark.parametrize("extra,needle", [(["--duration", "-1"], "duration_s must be"),
                                          (["--duration", "0.2"], "--duration must be at least"),
                                          (["--sample-rate", "1000"], "sample_rate must be"),
                                          (["--target", "radio"], "unknown target 'radio'"),
                                          (["--preset", "no-such-preset"], "no-such-preset")])
def test_demo_validates_every_argument_before_creating_out(tmp_path, capsys, extra, needle):
    _expect_failure(["demo", "--out", tmp_path / "demo", *extra], capsys, tmp_path, "demo", needle)
    assert not (tmp_path / "demo").exists()


def test_demo_out_under_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    _expect_failure(["demo", "--out", tmp_path / "f" / "demo", "--duration", "2"], capsys, tmp_path, "demo",
                    "is not a folder")


# ------------------------------------------------------------------ item 16: render taps
_SPEC = """
sample_rate: 48000
duration_s: 0.3
inputs:
  sig: {signal: {kind: sine, frequency_hz: 1000, level_db: -6}}
nodes:
  quiet: {type: neuromaster, processor: Gain, parameters: {gain_db: -6.0}, inputs: [sig]}
  loud: {type: neuromaster, processor: Gain, parameters: {gain_db: 3.0}, inputs: [quiet]}
"""


def test_a_failing_tap_leaves_no_output(tmp_path, capsys, monkeypatch):
    spec = tmp_path / "g.yaml"
    spec.write_text(_SPEC)
    out, tap = tmp_path / "o.wav", tmp_path / "quiet.wav"
    real = nio.AudioWriter.finish

    def fail_on_tap(self):
        if self.path == tap:
            raise AudioFileError(f"{self.path}: write failed (No space left on device)")
        return real(self)

    monkeypatch.setattr(nio.AudioWriter, "finish", fail_on_tap)
    _expect_failure(["render", spec, "--out", out, "--tap", f"quiet={tap}"], capsys, tmp_path, "render",
                    "quiet.wav: write failed")


def test_a_failing_rename_of_a_tap_restores_what_force_replaced(tmp_path, capsys, monkeypatch):
    spec = tmp_path / "g.yaml"
    spec.write_text(_SPEC)
    out, tap = tmp_path / "o.wav", tmp_path / "quiet.wav"
    out.write_bytes(b"previous render")
    real = nio.os.replace

    def refuse_tap(src, dst):
        if pathlib.Path(dst) == tap:
            raise OSError(errno.EROFS, "Read-only file system", str(dst))
        return real(src, dst)

    monkeypatch.setattr(nio.os, "replace", refuse_tap)
    _expect_failure(["render", spec, "--out", out, "--tap", f"quiet={tap}", "--force"], capsys, tmp_path,
                    "render", "Read-only file system")
    assert out.read_bytes() == b"previous render"


def test_tap_and_out_must_differ(tmp_path, capsys):
    spec = tmp_path / "g.yaml"
    spec.write_text(_SPEC)
    _expect_failure(["render", spec, "--out", tmp_path / "o.wav", "--tap", f"quiet={tmp_path / 'o.wav'}"], capsys,
                    tmp_path, "render", "name the same file")
