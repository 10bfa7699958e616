"""Graph: a render equals processing the same nodes directly (<= 1e-6), every
path aligned (latency compensated), automation with the same meaning as
direct processing, taps, Faust and DawDreamer nodes, errors that name the node."""
import dawdreamer as daw  # before numba (conftest does it too)
import numpy as np
import pytest

import neuromaster as nm
from conftest import require_file
from test_processor import _LatencyFixture

SR = 44100
LSP = "/usr/lib/vst/lsp-plugins"


def _music(rng, n=20000, level=0.4):
    t = np.arange(n) / SR
    x = np.stack([np.sin(2 * np.pi * 110 * t) * 0.5 + rng.standard_normal(n) * 0.3,
                  np.sin(2 * np.pi * 173 * t) * 0.5 + rng.standard_normal(n) * 0.3])
    return level * x * np.linspace(0.3, 1.0, n)


def _direct(proc, x):
    """A processor called directly (one-shot: latency compensated), as float64."""
    proc.reset()
    return np.asarray(proc(x, SR), dtype=np.float64)


def _eq():
    """Our ParametricEQ when it exists (another engineer's stage), else a Gain."""
    if hasattr(nm, "ParametricEQ"):
        return nm.ParametricEQ(band1_enabled=True, band1_type="bell", band1_frequency_hz=400.0,
                               band1_gain_db=4.0, band1_q=1.0)
    return nm.Gain(gain_db=2.0)  # pragma: no cover


def _last_stage():
    """Our TruePeakLimiter when it exists, else SoftClipper (125 samples of
    latency, oversampled), else a latency fixture."""
    if hasattr(nm, "TruePeakLimiter"):  # pragma: no cover - not written yet
        return nm.TruePeakLimiter()
    if hasattr(nm, "SoftClipper"):
        return nm.SoftClipper(ceiling_db=-1.0, drive_db=2.0)
    return _LatencyFixture(delay_samples=125, gain_db=-1.0)  # pragma: no cover


# ------------------------------------------------------------ equivalence
def test_graph_of_ours_equals_direct_processing(rng):
    x = _music(rng)
    a = nm.Gain(gain_db=3.0)
    b = _LatencyFixture(delay_samples=301, gain_db=-2.0)
    c = nm.Chain([nm.Gain(gain_db=-1.5), _LatencyFixture(delay_samples=17)])
    d = _last_stage()
    g = nm.Graph(SR)
    g.add_input("mix", x)
    g.add("a", a, inputs=["mix"])
    g.add("b", b, inputs=["a"])                        # slow branch: 301 samples
    g.add("c", c, inputs=["a"])                        # fast branch: 17 samples
    g.add("d", d, inputs=["b", "c"], gains_db=[0.0, -6.0])
    assert g.latencies()["b"] == 301 and g.latencies()["c"] == 17
    y = g.render()
    ya = _direct(a, x)
    ref = _direct(d, _direct(b, ya) + 10 ** (-6 / 20) * _direct(c, ya))
    err = np.max(np.abs(y - ref))
    print(f"ours-only graph vs direct: max abs difference {err:.3g}")
    assert err <= 1e-6


def test_every_path_arrives_aligned(rng):
    """Parallel branches with 0, 77 and 1000 samples of latency (ours, a
    native pedalboard chain and a DawDreamer plugin) sum to the latency-free
    ideal: an impulse comes out where it went in."""
    lim = require_file(f"{LSP}/limiter-stereo.so", "lsp-plugins-vst")
    x = np.zeros((2, 6000))
    x[:, 2500] = 0.1
    g = nm.Graph(SR)
    g.add_input("in", x)
    g.add("dry", nm.Gain(gain_db=0.0), inputs=["in"])
    g.add("slow", _LatencyFixture(delay_samples=1000, gain_db=0.0), inputs=["in"])
    g.add("mid", nm.Chain([_LatencyFixture(delay_samples=77)]), inputs=["in"])
    g.add_plugin("lsp", lim, inputs=["in"])            # 220 samples, compensated
    g.add("sum", nm.Gain(gain_db=0.0), inputs=["dry", "slow", "mid", "lsp"])
    y = g.render()
    ideal = 4 * x
    assert np.max(np.abs(y - ideal)) <= 1e-6
    assert np.argmax(np.abs(y[0])) == 2500


def test_mixed_graph_equals_direct_processing(rng):
    """Our EQ -> LSP compressor -> our last stage, plus a parallel branch of
    ours summed before the last stage; DawDreamer used directly with manual
    alignment for the reference."""
    comp_path = require_file(f"{LSP}/compressor-stereo.so", "lsp-plugins-vst")
    x = _music(rng, 30000)
    eq, last, side = _eq(), _last_stage(), _LatencyFixture(delay_samples=64, gain_db=-3.0)
    g = nm.Graph(SR)
    g.add_input("mix", x)
    g.add("eq", eq, inputs=["mix"])
    g.add_plugin("comp", comp_path, inputs=["eq"], parameters={"al": -24.0, "cr": 4.0, "at": 5.0})
    g.add("side", side, inputs=["mix"])
    g.add("last", last, inputs=["comp", "side"], gains_db=[0.0, -10.0])
    y = g.render()
    # direct: our stages called one-shot, the LSP compressor through DawDreamer by hand
    ye = _direct(eq, x)
    params = g["comp"].plugin.normalized_values()
    eng = daw.RenderEngine(SR, 512)
    pb = eng.make_playback_processor("in", ye.astype(np.float32))
    p = eng.make_plugin_processor("comp", comp_path)
    for i, v in params.items():
        p.set_parameter(i, v)
    eng.load_graph([(pb, []), (p, ["in"])])
    eng.render((x.shape[1] + 0.25) / SR)             # LSP compressor: 0 latency
    yc = np.asarray(eng.get_audio(), dtype=np.float64)
    ref = _direct(last, yc + 10 ** (-10 / 20) * _direct(side, x))
    err = np.max(np.abs(y - ref))
    print(f"mixed graph ({type(eq).__name__} -> LSP compressor -> {type(last).__name__}) vs direct: {err:.3g}")
    assert err <= 1e-6
    assert np.max(np.abs(yc - ye)) > 0.01          # the compressor did something


def test_taps_return_intermediate_outputs(rng):
    x = _music(rng, 5000)
    g = nm.Graph(SR)
    g.add_input("mix", x)
    g.add("a", nm.Gain(gain_db=-4.0), inputs=["mix"])
    g.add("b", _LatencyFixture(delay_samples=9, gain_db=2.0), inputs=["a"])
    out = g.render_taps(["a", "mix"])
    assert set(out) == {"a", "mix", "b"}
    assert np.max(np.abs(out["a"] - x * 10 ** (-4 / 20))) <= 1e-12
    assert np.array_equal(out["mix"], x)
    assert np.max(np.abs(out["b"] - x * 10 ** (-2 / 20))) <= 1e-12


# -------------------------------------------------------------- automation
def test_automation_of_ours_is_exact(rng):
    """A per-sample curve and breakpoints on our Gain: the render is x * 10**(c/20)
    sample by sample; on the EQ, the render equals the stage called directly
    with the same curve."""
    n = 12000
    x = _music(rng, n)
    per_sample = np.linspace(-20.0, 6.0, n) + 3 * np.sin(np.arange(n) / 300)
    g = nm.Graph(SR)
    g.add_input("mix", x)
    g.add("ride", nm.Gain(), inputs=["mix"])
    g.set_automation("ride", "gain_db", per_sample)
    assert np.max(np.abs(g.render() - x * 10 ** (per_sample / 20))) <= 1e-12
    g.set_automation("ride", "gain_db", [(0.0, -12.0), (0.1, 0.0), (0.2, -3.0)])
    t = np.arange(n) / SR
    c = np.interp(t, [0.0, 0.1, 0.2], [-12.0, 0.0, -3.0])
    assert np.max(np.abs(g.render() - x * 10 ** (c / 20))) <= 1e-12
    # a filter stage automated in the graph vs the same stage automated directly
    eq = _eq()
    pname = "band1_gain_db" if "band1_gain_db" in eq.parameters else "gain_db"
    curve = [(0.0, -6.0), (n / SR, 6.0)]
    g2 = nm.Graph(SR)
    g2.add_input("mix", x)
    g2.add("eq", eq, inputs=["mix"])
    g2.set_automation("eq", pname, curve)
    ref_eq = eq.copy()
    ref_eq.set_automation(pname, curve)
    assert np.max(np.abs(g2.render() - _direct(ref_eq, x))) <= 1e-6
    # normalised automation means the parameter's own 0-1 scale
    g.set_automation("ride", "gain_db", np.full(n, 0.5), normalized=True)
    mid_db = nm.Gain.PARAMETERS[0].from_normalized(0.5)
    assert np.max(np.abs(g.render() - x * 10 ** (mid_db / 20))) <= 1e-12


def test_chain_elements_are_addressed_by_index_or_type(rng):
    x = _music(rng, 3000)
    g = nm.Graph(SR)
    g.add_input("mix", x)
    g.add("ch", nm.Chain([nm.Gain(), _LatencyFixture(delay_samples=5)]), inputs=["mix"])
    g.set_parameter("ch", "0.gain_db", -6.0)
    g.set_parameter("ch", "_LatencyFixture.gain_db", 2.0)
    assert np.max(np.abs(g.render() - x * 10 ** (-4 / 20))) <= 1e-6
    with pytest.raises(nm.ParameterError, match="node 'ch': Chain has no single element 'Dither'"):
        g.set_parameter("ch", "Dither.bit_depth", 16)


# ------------------------------------------------ Faust and DawDreamer nodes
FAUST = """import("stdfaust.lib");
g = hslider("gain", 0, -60, 12, 0.01);
process = par(i, 2, _ * ba.db2linear(g));"""


def _dd_render(make, x, block=512, automation=None):
    eng = daw.RenderEngine(SR, block)
    pb = eng.make_playback_processor("in", x.astype(np.float32))
    proc = make(eng)
    for k, a in (automation or {}).items():
        proc.set_automation(k, np.asarray(a, dtype=np.float32))
    eng.load_graph([(pb, []), (proc, ["in"])])
    eng.render((x.shape[1] + 0.25) / SR)
    return np.asarray(eng.get_audio(), dtype=np.float64)


def test_faust_and_dawdreamer_nodes_equal_dawdreamer_direct(rng):
    x = _music(rng, 6000)
    n = x.shape[1]
    g = nm.Graph(SR, block_size=128)
    g.add_input("mix", x)
    g.add_faust("fader", FAUST, inputs=["mix"], parameters={"gain": -6.0})
    g.add_dawdreamer("hpf", "filter", inputs=["fader"], parameters={"mode": "high", "frequency": 300.0, "q": 0.7})
    curve = np.linspace(-20.0, 0.0, n)
    g.set_automation("fader", "gain", curve)
    y = g.render()

    def faust(eng):
        f = eng.make_faust_processor("f")
        f.set_dsp_string(FAUST)
        assert f.compile()
        f.set_parameter("/dawdreamer/gain", -6.0)
        return f

    def hpf(eng):
        f = eng.make_filter_processor("h", "high", 300.0, 0.7, 1.0)
        return f

    yf = _dd_render(faust, x, 128, {"/dawdreamer/gain": curve})
    ref = _dd_render(hpf, yf, 128)
    assert np.max(np.abs(y - ref)) <= 1e-6
    # DawDreamer's block-wise automation: the Faust gain holds for each 128-sample block
    blocks = np.repeat(curve[::128], 128)[:n]
    assert np.max(np.abs(yf - x * 10 ** (blocks / 20))) <= 1e-5 * np.max(np.abs(x))


def test_mono_inputs_are_broadcast_to_stereo_sums(rng):
    mono = rng.standard_normal((1, 2000)) * 0.1
    stereo = rng.standard_normal((2, 2000)) * 0.1
    g = nm.Graph(SR)
    g.add_input("m", mono)
    g.add_input("s", stereo)
    g.add("sum", nm.Gain(), inputs=["m", "s"])
    assert np.max(np.abs(g.render() - (stereo + mono))) <= 1e-12


# ------------------------------------------------------------------- errors
def test_graph_errors_name_the_node(rng):
    x = _music(rng, 1000)
    g = nm.Graph(SR)
    g.add_input("mix", x)
    g.add("a", nm.Gain(), inputs=["mix"])
    g.add("b", nm.Gain(), inputs=["a"])
    with pytest.raises(nm.ParameterError, match="edge b -> a would make a cycle"):
        g.connect("b", "a")
    with pytest.raises(nm.ParameterError, match="no node named 'nope' \\(nodes: mix, a, b\\)"):
        g.add("c", nm.Gain(), inputs=["nope"])
    assert "c" not in g
    with pytest.raises(nm.ParameterError, match="node 'a' already exists"):
        g.add("a", nm.Gain())
    with pytest.raises(nm.ParameterError, match="node 'b': Gain has no parameter 'gain'"):
        g.set_parameter("b", "gain", 1.0)
    with pytest.raises(nm.ParameterError, match=r"node 'b': Gain.gain_db must be \[-96, 48\] dB; got 99"):
        g.set_parameter("b", "gain_db", 99)
    with pytest.raises(nm.ParameterError, match=r"gain_db must be in \[-120, 24\] dB; got 40"):
        g.connect("mix", "b", gain_db=40)
    g.add("c", nm.Gain(), inputs=["mix"])
    with pytest.raises(nm.ParameterError, match="several end nodes \\(b, c\\); call set_output"):
        g.render()
    g.set_output("b")
    assert g.render().shape == (2, 1000)
    g2 = nm.Graph(SR)
    g2.add_input("mix", rng.standard_normal((3, 500)))
    g2.add("ms", nm.Gain(), inputs=["mix"])
    from neuromaster.processor import Processor

    class _Stereo(Processor):
        SUPPORTED_CHANNELS = (2,)

        def _process_block(self, x, sidechain):
            return x

    g2.add("two", _Stereo(), inputs=["ms"])
    with pytest.raises(nm.ParameterError, match="node 'two': _Stereo needs 2 channel\\(s\\); got 3"):
        g2.render()
    with pytest.raises(nm.ParameterError, match="give duration_s"):
        nm.Graph(SR).num_samples()


def test_render_to_file_is_atomic_and_describe_is_json(rng, tmp_path):
    import json
    import soundfile as sf
    x = _music(rng, 4000)
    g = nm.Graph(SR)
    g.add_input("mix", x)
    g.add("g", nm.Gain(gain_db=-6.0), inputs=["mix"])
    out = tmp_path / "o.wav"
    y = g.render_to_file(out)
    back, sr = sf.read(out, always_2d=True, dtype="float64")
    assert sr == SR and np.max(np.abs(back.T - y)) <= 1e-7          # FLOAT WAV
    with pytest.raises(nm.AudioFileError, match="already exists"):
        g.render_to_file(out)
    assert [p.name for p in tmp_path.iterdir()] == ["o.wav"]
    d = json.loads(json.dumps(g.describe()))
    assert d["output"] == "g" and d["edges"] == [{"from": "mix", "to": "g", "gain_db": 0.0}]
