"""``neuromaster render``: the example specs render; bad specs get an error
naming the node and key (exit 2, no traceback); output is written atomically."""
import pathlib

import dawdreamer  # noqa: F401  (before numba)
import numpy as np
import pytest
import soundfile as sf

import neuromaster as nm
from conftest import require_file
from neuromaster.cli import main
from neuromaster.graphspec import load_graph

EXAMPLES = sorted((pathlib.Path(__file__).parent.parent / "examples" / "graphs").glob("*.yaml"))

#: Third-party files each example needs (skip locally / fail in CI when missing).
NEEDS = {
    "lsp_master.yaml": [("/usr/lib/vst/lsp-plugins/compressor-stereo.so", "lsp-plugins-vst"),
                        ("/usr/lib/vst/lsp-plugins/limiter-stereo.so", "lsp-plugins-vst"),
                        ("/usr/lib/lxvst/DragonflyPlateReverb-vst.so", "dragonfly-reverb-vst")],
    "engines.yaml": [("/usr/lib/vst3/ZaMaximX2.vst3", "zam-plugins")],
}


def test_there_are_examples():
    assert {p.name for p in EXAMPLES} >= {"ours_only.yaml", "lsp_master.yaml", "engines.yaml"}


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.name)
def test_example_specs_render(spec, tmp_path, capsys):
    for path, package in NEEDS.get(spec.name, []):
        require_file(path, package)
    out = tmp_path / "out.wav"
    assert main(["render", str(spec), "--out", str(out)]) == 0
    msg = capsys.readouterr().out
    assert f"wrote {out}" in msg
    y, sr = sf.read(out, always_2d=True, dtype="float64")
    g = load_graph(spec)
    assert sr == g.sample_rate and y.shape == (g.num_samples(), 2)
    assert np.isfinite(y).all() and np.sqrt(np.mean(y ** 2)) > 1e-3
    if spec.name == "ours_only.yaml":   # the file is the graph's render (FLOAT WAV)
        assert np.max(np.abs(y.T - g.render())) <= 1e-6


def test_taps_and_force(tmp_path, capsys):
    spec = tmp_path / "g.yaml"
    spec.write_text("""
sample_rate: 48000
duration_s: 0.5
inputs:
  sig: {signal: {kind: sine, frequency_hz: 1000, level_db: -6}}
nodes:
  quiet: {type: neuromaster, processor: Gain, parameters: {gain_db: -6.0}, inputs: [sig]}
  loud: {type: neuromaster, processor: Gain, parameters: {gain_db: 3.0}, inputs: [quiet]}
""")
    out, tap = tmp_path / "o.wav", tmp_path / "quiet.wav"
    assert main(["render", str(spec), "--out", str(out), "--tap", f"quiet={tap}", "--subtype", "PCM_24"]) == 0
    yo, _ = sf.read(out)
    yt, _ = sf.read(tap)
    assert abs(20 * np.log10(np.max(np.abs(yo)) / np.max(np.abs(yt))) - 3.0) < 1e-3
    assert abs(20 * np.log10(np.max(np.abs(yt))) - (-12.0)) < 1e-3
    before = out.read_bytes()
    assert main(["render", str(spec), "--out", str(out)]) == 2
    assert "already exists (use --force to overwrite)" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main(["render", str(spec), "--out", str(out), "--force", "--duration", "0.25"]) == 0
    assert sf.info(out).frames == 12000
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []           # the temporary files were renamed or removed


BAD_SPECS = [
    ("unknown key", """
inputs: {mix: {signal: {kind: noise}}}
duration_s: 0.1
nodes:
  eq: {type: neuromaster, processor: Gain, paramters: {gain_db: 1}, inputs: [mix]}
""", "node 'eq': unknown key 'paramters' (allowed: type, inputs, automation"),
    ("bad value", """
inputs: {mix: {signal: {kind: noise}}}
duration_s: 0.1
nodes:
  g: {type: neuromaster, processor: Gain, parameters: {gain_db: 99}, inputs: [mix]}
""", "node 'g': key 'parameters'.gain_db: Gain.gain_db must be [-96, 48] dB; got 99"),
    ("bad type", """
inputs: {mix: {signal: {kind: noise}}}
duration_s: 0.1
nodes:
  x: {type: vst9, inputs: [mix]}
""", "node 'x': key 'type' must be one of neuromaster, plugin, pedalboard, faust, dawdreamer; got 'vst9'"),
    ("unknown input", """
inputs: {mix: {signal: {kind: noise}}}
duration_s: 0.1
nodes:
  g: {type: neuromaster, processor: Gain, inputs: [mx]}
""", "node 'g': key 'inputs'[0]: no node named 'mx'"),
    ("unknown processor", """
inputs: {mix: {signal: {kind: noise}}}
duration_s: 0.1
nodes:
  g: {type: neuromaster, processor: Compresor, inputs: [mix]}
""", "node 'g': key 'processor': unknown processor 'Compresor'; known:"),
    ("missing plugin", """
inputs: {mix: {signal: {kind: noise}}}
duration_s: 0.1
nodes:
  p: {type: plugin, plugin: NoSuchPlugin, inputs: [mix]}
""", "node 'p': no plugin named 'NoSuchPlugin'"),
    ("bad curve", """
inputs: {mix: {signal: {kind: noise}}}
duration_s: 0.1
nodes:
  g:
    type: neuromaster
    processor: Gain
    inputs: [mix]
    automation: {gain_db: {breakpoints: [[0, -6], [1]]}}
""", "node 'g': key 'automation'.gain_db.breakpoints: must hold numbers"),
    ("cycle", """
inputs: {mix: {signal: {kind: noise}}}
duration_s: 0.1
nodes:
  a: {type: neuromaster, processor: Gain, inputs: [mix, b]}
  b: {type: neuromaster, processor: Gain, inputs: [a]}
""", "node 'b': key 'inputs'[0]: edge a -> b would make a cycle"),
    ("yaml syntax", "nodes: [a, b\ninputs: {", "not valid YAML"),
    ("no inputs", "nodes: {}\n", "key 'inputs' must map input names"),
]


@pytest.mark.parametrize("name,text,message", BAD_SPECS, ids=[b[0] for b in BAD_SPECS])
def test_bad_specs_name_the_node_and_key(name, text, message, tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    out = tmp_path / "o.wav"
    assert main(["render", str(spec), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err and not out.exists()


def test_bad_plugin_parameter_names_node_and_key(tmp_path, capsys):
    require_file("/usr/lib/vst/lsp-plugins/compressor-stereo.so", "lsp-plugins-vst")
    spec = tmp_path / "bad.json"
    spec.write_text('{"duration_s": 0.1, "inputs": {"mix": {"signal": {"kind": "noise"}}},'
                    ' "nodes": {"comp": {"type": "plugin", "plugin": "lsp-plugins/compressor-stereo",'
                    ' "parameters": {"scm": "Loud"}, "inputs": ["mix"]}}}')
    assert main(["render", str(spec), "--out", str(tmp_path / "o.wav")]) == 2
    err = capsys.readouterr().err
    assert "node 'comp'" in err and "key 'parameters'" in err and "scm must be one of 'Peak', 'RMS'" in err


def test_a_crashing_plugin_render_exits_1(tmp_path, capsys, monkeypatch):
    """A render failure (not a spec error) exits 1 with the node named."""
    import test_isolation
    spec = tmp_path / "g.yaml"
    spec.write_text("""
duration_s: 0.1
inputs: {mix: {signal: {kind: noise}}}
nodes:
  boom: {type: neuromaster, processor: AbortNode, inputs: [mix]}
""")
    assert "AbortNode" in nm.Processor._registry and test_isolation.AbortNode
    assert main(["render", str(spec), "--out", str(tmp_path / "o.wav"), "--isolate", "--timeout", "60"]) == 1
    err = capsys.readouterr().err
    assert "node 'boom' crashed the worker process (signal SIGABRT)" in err
