"""``neuromaster analyze``: table, JSON, plots, error handling (exit 2, no traceback)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from neuromaster.cli import main

SR = 44100


@pytest.fixture
def files(tmp_path):
    t = np.arange(5 * SR) / SR
    x = 0.25 * np.sin(2 * np.pi * 997 * t)
    paths = {
        "tone": tmp_path / "tone.wav",
        "silence": tmp_path / "silence.flac",
        "short": tmp_path / "short.wav",
        "junk": tmp_path / "junk.wav",
    }
    sf.write(paths["tone"], np.stack([x, x], 1), SR, subtype="PCM_24")
    sf.write(paths["silence"], np.zeros((3 * SR, 2)), SR)
    sf.write(paths["short"], np.stack([x[:SR // 5]] * 2, 1), SR)      # 200 ms: shorter than one block
    paths["junk"].write_text("not audio at all\n")
    return paths


def test_json_single_file_is_one_object(files, capsys):
    assert main(["analyze", str(files["tone"]), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert isinstance(doc, dict)
    for key in ("integrated_lufs", "momentary_max_lufs", "short_term_max_lufs", "loudness_range_lu", "true_peak_dbtp",
                "sample_peak_dbfs", "crest_factor_db", "plr_db", "psr_db", "correlation", "mono_loss_db", "dc_offset",
                "sample_rate", "channels", "duration_s"):
        assert key in doc, key
    # stereo 997 Hz at -12.04 dBFS: -12.04 + 0.006 LUFS (K-weighting at 997 Hz is +0.697 dB)
    assert doc["integrated_lufs"] == pytest.approx(20 * np.log10(0.25) + 0.0057, abs=0.01)
    assert doc["sample_rate"] == SR and doc["channels"] == 2 and doc["duration_s"] == pytest.approx(5.0)
    assert doc["file"] == str(files["tone"]) and "momentary_lufs" not in doc


def test_json_several_files_is_a_list_and_silence_is_null(files, capsys):
    rc = main(["analyze", str(files["tone"]), str(files["silence"]), str(files["short"]), "--json"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "Infinity" not in out and "NaN" not in out
    docs = json.loads(out)
    assert [d["file"] for d in docs] == [str(files["tone"]), str(files["silence"]), str(files["short"])]
    silence, short = docs[1], docs[2]
    for key in ("integrated_lufs", "momentary_max_lufs", "short_term_max_lufs", "true_peak_dbtp", "plr_db"):
        assert silence[key] is None, key
    assert short["integrated_lufs"] is None and short["momentary_max_lufs"] is None
    assert short["true_peak_dbtp"] is not None


def test_table_shows_minus_inf_for_silence(files, capsys):
    assert main(["analyze", str(files["silence"]), str(files["tone"])]) == 0
    out = capsys.readouterr().out
    assert "Integrated loudness" in out and "-inf" in out and "silence.flac" in out and "tone.wav" in out
    assert "-12.0" in out


def test_bad_files_report_on_stderr_and_the_rest_is_analysed(files, tmp_path, capsys):
    rc = main(["analyze", str(files["junk"]), str(tmp_path / "missing.wav"), str(tmp_path), str(files["tone"]),
               "--json"])
    assert rc == 2
    cap = capsys.readouterr()
    docs = json.loads(cap.out)
    assert [d["file"] for d in docs] == [str(files["tone"])]
    assert "junk.wav: is not a readable audio file" in cap.err
    assert "missing.wav: no such file" in cap.err
    assert "is a directory" in cap.err
    assert "Traceback" not in cap.err


def test_plot_one_and_several(files, tmp_path, capsys):
    png = tmp_path / "report.png"
    assert main(["analyze", str(files["tone"]), "--plot", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(["analyze", str(files["tone"]), str(files["silence"]), "--plot", str(png)]) == 0
    assert (tmp_path / "report_tone.png").exists() and (tmp_path / "report_silence.png").exists()
    capsys.readouterr()


def test_true_peak_option(files, capsys):
    assert main(["analyze", str(files["tone"]), "--json", "--true-peak", "16x"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["true_peak_mode"] == "16x"
    assert doc["true_peak_dbtp"] == pytest.approx(20 * np.log10(0.25), abs=0.01)


def test_help_documents_minus_inf_and_plots(capsys):
    with pytest.raises(SystemExit) as e:
        main(["analyze", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "-inf" in out and "null" in out and "PNG-STEM_FILE-STEM.png" in out and "exit code is 2" in out


def test_subprocess_exit_code_and_no_traceback(files, tmp_path):
    """End to end through the installed entry point's module: exit code 2 and a clean message."""
    proc = subprocess.run([sys.executable, "-m", "neuromaster.cli", "analyze", str(tmp_path / "nope.wav"),
                           str(files["tone"]), "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "nope.wav: no such file" in proc.stderr and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)[0]["channels"] == 2
