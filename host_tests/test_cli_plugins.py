"""``neuromaster plugins list``: scans in workers, lists every parameter with
range and default, reports failures as data, caches results."""
import json
import os

import dawdreamer  # noqa: F401  (before numba)
import pytest

from conftest import require_file
from neuromaster.cli import main

LIMITER = "/usr/lib/vst/lsp-plugins/limiter-stereo.so"
PLATE = "/usr/lib/lxvst/DragonflyPlateReverb-vst.so"
ZAMAXIM3 = "/usr/lib/vst3/ZaMaximX2.vst3"


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder with three real plugins (symlinks) and a file that is not one."""
    d = tmp_path / "plugins"
    d.mkdir()
    for path, package in ((LIMITER, "lsp-plugins-vst"), (PLATE, "dragonfly-reverb-vst"), (ZAMAXIM3, "zam-plugins")):
        require_file(path, package)
        (d / os.path.basename(path)).symlink_to(path)
    (d / "Broken.so").write_bytes(b"\x7fELF garbage" * 20)
    monkeypatch.setenv("NEUROMASTER_CACHE_DIR", str(tmp_path / "cache"))
    return d


def test_plugins_list_json(plugin_dir, capsys):
    assert main(["plugins", "list", "--json", "--path", str(plugin_dir)]) == 0
    out = capsys.readouterr().out
    records = {os.path.basename(r["path"]): r for r in json.loads(out)}   # stdout is pure JSON
    assert set(records) == {"limiter-stereo.so", "DragonflyPlateReverb-vst.so", "ZaMaximX2.vst3", "Broken.so"}
    bad = records["Broken.so"]
    assert bad["status"] == "failed" and "cannot load" in bad["error"]
    lim = records["limiter-stereo.so"]
    assert (lim["status"], lim["format"], lim["inputs"], lim["outputs"]) == ("ok", "vst2", 2, 2)
    assert lim["latency_samples"] == 220 and lim["latency_measured"] == 220
    th = next(p for p in lim["parameters"] if p["name"] == "th")
    assert (th["unit"], th["min_text"], th["max_text"], th["default_text"]) == ("dB", "-48.00", "0.00", "0.00")
    assert th["default"] == pytest.approx(1.0)
    zam = records["ZaMaximX2.vst3"]
    assert zam["format"] == "vst3" and zam["latency_samples"] == 480
    assert {p["name"] for p in zam["parameters"]} >= {"Release", "Threshold", "Output Ceiling"}
    plate = records["DragonflyPlateReverb-vst.so"]
    assert plate["status"] == "ok" and {"Dry Level", "Wet Level", "Decay"} <= {p["name"] for p in plate["parameters"]}
    assert all(not r["cached"] for r in records.values())
    # second run: from the cache; --rescan ignores it
    assert main(["plugins", "list", "--json", "--path", str(plugin_dir)]) == 0
    assert all(r["cached"] for r in json.loads(capsys.readouterr().out))
    assert (plugin_dir.parent / "cache" / "plugins.json").is_file()
    assert main(["plugins", "list", "--json", "--rescan", "--path", str(plugin_dir / "limiter-stereo.so")]) == 0
    again = json.loads(capsys.readouterr().out)
    assert len(again) == 1 and not again[0]["cached"] and again[0]["status"] == "ok"


def test_plugins_list_table(plugin_dir, capsys):
    assert main(["plugins", "list", "--path", str(plugin_dir)]) == 0
    out = capsys.readouterr().out
    assert "4 plugin file(s): 3 loaded, 1 failed" in out
    assert "limiter-stereo" in out and "ZaMaximX2" in out and "VST3" in out
    assert "failed: " + str(plugin_dir / "Broken.so") + ": " in out and "cannot load it" in out
    # every parameter of the limiter appears with its range and default
    assert "alr_at" in out and "-48.00" in out and "Herm Th" in out
    assert main(["plugins", "list", "--summary", "--path", str(plugin_dir)]) == 0
    assert "alr_at" not in capsys.readouterr().out


def test_plugins_list_bad_arguments(capsys):
    assert main(["plugins", "list", "--timeout", "0"]) == 2
    assert "--timeout must be > 0 s; got 0.0" in capsys.readouterr().err
