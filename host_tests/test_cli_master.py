"""``neuromaster master`` (issue 5 item 4): outputs, report, word lengths, and the error cases
(exit code 2 with a message, nothing left behind)."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

import neuromaster as nm
from neuromaster import demo
from neuromaster.analysis import analyze
from neuromaster.cli import main
from neuromaster.cli_master import EXIT_TARGET_MISSED
from truepeak_reference import true_peak_db

SECONDS = 5.0


@pytest.fixture(scope="module")
def mixes(tmp_path_factory):
    d = tmp_path_factory.mktemp("mixes")
    paths = {}
    for genre, sr in (("pop", 44100), ("jazz", 48000)):
        p = d / f"{genre}_{sr}.wav"
        demo.write_demo(p, genre, SECONDS, sr, seed=3)
        paths[genre] = p
    return paths


def _run(args, capsys):
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _listing(folder: pathlib.Path) -> set:
    return {p.name for p in folder.iterdir()}


def test_master_writes_output_and_report(mixes, tmp_path, capsys):
    out = tmp_path / "master.wav"
    rep = tmp_path / "report"
    rc, stdout, err = _run(["master", mixes["jazz"], out, "--target", "spotify", "--report", rep], capsys)
    assert rc == 0, err
    info = sf.info(str(out))
    assert info.samplerate == 48000 and info.channels == 2 and info.subtype == "PCM_24"
    y, sr = sf.read(str(out), dtype="float64", always_2d=True)
    assert y.shape[0] == int(SECONDS * 48000)
    r = analyze(y.T, sr, true_peak="off")
    assert abs(r["integrated_lufs"] + 14.0) <= 0.2
    assert true_peak_db(y.T) <= -1.0
    assert "reached" in stdout and "-14" in stdout
    doc = json.loads((rep / "master_report.json").read_text())
    assert doc["status"] == "reached" and doc["target"]["name"] == "spotify"
    assert doc["target"]["achieved_integrated_lufs"] == pytest.approx(r["integrated_lufs"], abs=1e-6)
    assert doc["before"]["integrated_lufs"] is not None and doc["after"]["momentary_lufs"]
    assert set(doc["parameters"]["parameters"]) == {p.name for p in nm.MasteringChain.PARAMETERS}
    assert "limiter" in doc["gain_reduction"] and doc["iterations"]
    png = rep / "master_report.png"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _listing(tmp_path) == {"master.wav", "report"}, "temporary files left behind"


@pytest.mark.parametrize("depth,subtype,bits", [("16", "PCM_16", 16), ("32f", "FLOAT", None)])
def test_bit_depths(mixes, tmp_path, capsys, depth, subtype, bits):
    out = tmp_path / "m.wav"
    rc, _, err = _run(["master", mixes["pop"], out, "--bit-depth", depth, "--lufs", "-16", "--ceiling", "-1.5"],
                      capsys)
    assert rc == 0, err
    assert sf.info(str(out)).subtype == subtype
    y, sr = sf.read(str(out), dtype="float64", always_2d=True)
    assert sr == 44100
    if bits:
        assert np.array_equal(np.round(y * 2 ** (bits - 1)), y * 2 ** (bits - 1))
    else:
        assert not np.array_equal(np.round(y * 2 ** 23), y * 2 ** 23), "32f output should not be dithered to 24 bits"
    assert abs(analyze(y.T, sr, true_peak="off")["integrated_lufs"] + 16.0) <= 0.2
    assert true_peak_db(y.T) <= -1.5


def test_preset_and_set_overrides(mixes, tmp_path, capsys):
    out = tmp_path / "m.flac"
    rep = tmp_path / "r"
    rc, _, err = _run(["master", mixes["pop"], out, "--preset", "pop", "--set", "eq.band4_gain_db=2.0",
                       "--set", "tube.bypass=true", "--set", "limiter.auto_release=off", "--report", rep], capsys)
    assert rc == 0, err
    params = json.loads((rep / "master_report.json").read_text())["parameters"]["parameters"]
    assert params["eq.band4_gain_db"] == 2.0 and params["tube.bypass"] is True
    assert params["limiter.auto_release"] is False
    assert sf.info(str(out)).format == "FLAC"


def test_unreachable_target_writes_the_closest_and_exits_3(mixes, tmp_path, capsys):
    out = tmp_path / "loud.wav"
    rc, _, err = _run(["master", mixes["jazz"], out, "--preset", "jazz", "--lufs", "-6", "--ceiling", "-1"], capsys)
    assert rc == EXIT_TARGET_MISSED
    assert "unreachable" in err and "not reachable" in err and "LUFS" in err
    assert out.exists()
    y, sr = sf.read(str(out), dtype="float64", always_2d=True)
    assert true_peak_db(y.T) <= -1.0


# ---------------------------------------------------------------- errors
def _expect_usage_error(args, capsys, folder, match):
    before = _listing(folder)
    rc, _, err = _run(args, capsys)
    assert rc == 2, err
    assert err.startswith("neuromaster master: error:") and match in err, err
    assert _listing(folder) == before, "a file was left behind"


def test_missing_and_unreadable_input(tmp_path, capsys):
    _expect_usage_error(["master", tmp_path / "nope.wav", tmp_path / "o.wav"], capsys, tmp_path, "no such file")
    (tmp_path / "text.wav").write_text("not audio at all")
    _expect_usage_error(["master", tmp_path / "text.wav", tmp_path / "o.wav"], capsys, tmp_path,
                        "not a readable audio file")
    (tmp_path / "folder.wav").mkdir()
    _expect_usage_error(["master", tmp_path / "folder.wav", tmp_path / "o.wav"], capsys, tmp_path, "is a directory")


def test_output_exists_needs_force(mixes, tmp_path, capsys):
    out = tmp_path / "o.wav"
    out.write_bytes(b"keep me")
    _expect_usage_error(["master", mixes["pop"], out], capsys, tmp_path, "already exists (use --force")
    assert out.read_bytes() == b"keep me"


def test_output_equal_to_input_is_refused(mixes, tmp_path, capsys, monkeypatch):
    src = tmp_path / "in.wav"
    src.write_bytes(mixes["pop"].read_bytes())
    data = src.read_bytes()
    _expect_usage_error(["master", src, src, "--force"], capsys, tmp_path, "is the input file")
    monkeypatch.chdir(tmp_path)
    _expect_usage_error(["master", "in.wav", "./sub/../in.wav", "--force"], capsys, tmp_path, "is the input file")
    (tmp_path / "link.wav").symlink_to(src)
    _expect_usage_error(["master", "link.wav", src, "--force"], capsys, tmp_path, "is the input file")
    assert src.read_bytes() == data


def test_unwritable_directory(mixes, tmp_path, capsys):
    if os.geteuid() == 0:
        # root writes through permission bits; sysfs refuses new files even to root
        folder = pathlib.Path("/sys")
        _expect_usage_error(["master", mixes["pop"], folder / "o.wav"], capsys, tmp_path, "is not writable")
    else:  # pragma: no cover - depends on the user running the tests
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
        try:
            _expect_usage_error(["master", mixes["pop"], folder / "o.wav"], capsys, folder, "is not writable")
        finally:
            folder.chmod(0o700)
    _expect_usage_error(["master", mixes["pop"], tmp_path / "missing" / "o.wav"], capsys, tmp_path,
                        "does not exist")


def test_argument_errors(mixes, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"stages": {"limiter": {"ceiling_db": 3}}}))
    _expect_usage_error(["master", mixes["pop"], tmp_path / "o.wav", "--preset", bad], capsys, tmp_path,
                        "bad.json: stages.limiter.ceiling_db: must be [-20, 0] dB; got 3")
    _expect_usage_error(["master", mixes["pop"], tmp_path / "o.wav", "--set", "clipper.ceiling_db=3"], capsys,
                        tmp_path, "clipper.ceiling_db must be [-24, 0] dB; got 3")
    _expect_usage_error(["master", mixes["pop"], tmp_path / "o.wav", "--set", "limiter.ceiling_db=-2"], capsys,
                        tmp_path, "the ceiling comes from the target")
    _expect_usage_error(["master", mixes["pop"], tmp_path / "o.wav", "--set", "limiter.input_gain_db=3"], capsys,
                        tmp_path, "the closed loop sets")
    _expect_usage_error(["master", mixes["pop"], tmp_path / "o.wav", "--set", "nonsense"], capsys, tmp_path,
                        "STAGE.PARAM=VALUE")
    _expect_usage_error(["master", mixes["pop"], tmp_path / "o.wav", "--lufs", "-14"], capsys, tmp_path,
                        "--lufs and --ceiling go together")
    _expect_usage_error(["master", mixes["pop"], tmp_path / "o.wav", "--target", "radio"], capsys, tmp_path,
                        "unknown target 'radio'")
    _expect_usage_error(["master", mixes["pop"], tmp_path / "o.wav", "--lufs", "-14", "--ceiling", "3"], capsys,
                        tmp_path, "true_peak_dbtp: must be [-20, 0] dBTP; got 3")
    _expect_usage_error(["master", mixes["pop"], tmp_path / "o.flac", "--bit-depth", "32f"], capsys, tmp_path,
                        "cannot hold 32f-bit")
    _expect_usage_error(["master", mixes["pop"], tmp_path / "o.wav", "--set", "dither.bit_depth=16"], capsys,
                        tmp_path, "--bit-depth")


@pytest.mark.parametrize("where", ["_TickStats.integrated_lufs", "_TruePeak16.feed"])
def test_a_failure_mid_way_leaves_nothing_behind(mixes, tmp_path, capsys, monkeypatch, where):
    """Candidates are written next to OUT while the loop runs; an error (in the loop, or in the
    worker thread that measures and writes) removes them all."""
    from neuromaster import loudness_target

    def broken(self, *args):
        raise nm.ParameterError("simulated failure after a render")

    cls, meth = where.split(".")
    monkeypatch.setattr(getattr(loudness_target, cls), meth, broken)
    _expect_usage_error(["master", mixes["pop"], tmp_path / "o.wav"], capsys, tmp_path, "simulated failure")


def test_entry_point_runs_as_a_process(mixes, tmp_path):
    """The installed console script: exit code and message of a user error, no traceback."""
    exe = pathlib.Path(sys.executable).with_name("neuromaster")
    r = subprocess.run([str(exe), "master", str(tmp_path / "none.wav"), str(tmp_path / "o.wav")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr


def test_demo_command_masters_the_mix_and_writes_the_report(tmp_path, capsys):
    """README's main-job command (item 6): mix, its analysis, the master and its report."""
    out = tmp_path / "demo"
    rc, stdout, err = _run(["demo", "--out", out, "--duration", "4", "--genre", "edm", "--target", "youtube"], capsys)
    assert rc == 0, err
    from neuromaster.cli_demo import FILES
    assert _listing(out) == set(FILES)
    doc = json.loads((out / "master_report.json").read_text())
    assert doc["preset"] == "edm" and doc["target"]["name"] == "youtube" and doc["status"] == "reached"
    y, sr = sf.read(str(out / "master.wav"), dtype="float64", always_2d=True)
    assert abs(analyze(y.T, sr, true_peak="off")["integrated_lufs"] + 14.0) <= 0.2
    assert "master written to" in stdout
    rc, _, err = _run(["demo", "--out", out, "--duration", "4"], capsys)
    assert rc == 2 and "--force" in err
