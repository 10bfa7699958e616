"""Third-party plugins through DawDreamer and pedalboard: names, read-back,
display units, latency verified by impulse, presets, automation semantics,
and third-party-only graphs against DawDreamer used directly."""
import json
import pathlib

import dawdreamer as daw  # before numba (conftest does it too)
import numpy as np
import pedalboard
import pytest

import neuromaster as nm
from conftest import require_file
from neuromaster.thirdparty import (LatencyWarning, ParameterReadbackError, PluginLoadError,
                                    ThirdPartyPlugin, parse_display_value, resolve_plugin)

pytestmark = pytest.mark.plugins

SR = 44100
LSP = "/usr/lib/vst/lsp-plugins"
LIMITER = f"{LSP}/limiter-stereo.so"
COMPRESSOR = f"{LSP}/compressor-stereo.so"
PLATE = "/usr/lib/lxvst/DragonflyPlateReverb-vst.so"
ZAMAXIM3 = "/usr/lib/vst3/ZaMaximX2.vst3"


def limiter():
    return require_file(LIMITER, "lsp-plugins-vst")


def compressor():
    return require_file(COMPRESSOR, "lsp-plugins-vst")


def plate():
    return require_file(PLATE, "dragonfly-reverb-vst")


def zamaxim():
    return require_file(ZAMAXIM3, "zam-plugins")


def _db(x):
    return 20 * np.log10(x)


def _music(rng, n, level=0.3):
    t = np.arange(n) / SR
    x = np.stack([np.sin(2 * np.pi * 110 * t) * 0.5 + rng.standard_normal(n) * 0.3,
                  np.sin(2 * np.pi * 165 * t) * 0.5 + rng.standard_normal(n) * 0.3])
    return level * x * np.linspace(0.3, 1.0, n)


def dd_direct(path, x, params=None, automation=None, block=512, latency=0, sample_rate=SR):
    """DawDreamer used directly: fresh engine, parameters by index (normalised),
    the input plus ``latency`` zeros, the first ``latency`` samples dropped."""
    n = x.shape[1]
    eng = daw.RenderEngine(sample_rate, block)
    pad = np.zeros((x.shape[0], n + latency), dtype=np.float32)
    pad[:, :n] = x
    pb = eng.make_playback_processor("in", pad)
    p = eng.make_plugin_processor("p", path)
    for i, v in (params or {}).items():
        p.set_parameter(i, v)
    for i, a in (automation or {}).items():
        p.set_automation(i, np.asarray(a, dtype=np.float32))
    eng.load_graph([(pb, []), (p, ["in"])])
    eng.render((n + latency + 0.25) / sample_rate)
    return np.asarray(eng.get_audio(), dtype=np.float64)[:, latency:latency + n]


# ------------------------------------------------------------------ finding
def test_plugins_are_found_by_name_and_path(tmp_path, monkeypatch):
    lim, zam = limiter(), zamaxim()
    assert resolve_plugin("lsp-plugins/limiter-stereo") == pathlib.Path(lim)
    assert resolve_plugin(lim) == pathlib.Path(lim)
    assert resolve_plugin("zamaximx2") == pathlib.Path(zam)                 # VST3 preferred over the VST2
    assert resolve_plugin("ZaMaximX2", format="vst2").name == "ZaMaximX2-vst.so"
    with pytest.raises(PluginLoadError, match="no plugin named 'NoSuchPlugin'.*/usr/lib/vst"):
        resolve_plugin("NoSuchPlugin")
    with pytest.raises(PluginLoadError, match="no such plugin file"):
        resolve_plugin("/nowhere/x.so")
    # VST_PATH adds folders
    (tmp_path / "MyLimiter.so").symlink_to(lim)
    monkeypatch.setenv("VST_PATH", str(tmp_path))
    assert resolve_plugin("mylimiter") == tmp_path / "MyLimiter.so"


def test_parse_display_value():
    assert parse_display_value("-12.00") == -12.0
    assert parse_display_value("447 Hz") == 447.0
    assert parse_display_value("-inf") == -np.inf
    assert parse_display_value("RMS") is None and parse_display_value("off") is None


# ----------------------------------------------------- parameters, read-back
def test_parameters_by_name_are_read_back_in_display_units():
    comp = ThirdPartyPlugin(compressor(), SR)
    comp.set_parameter("al", -18.0)              # attack threshold, dB
    comp.set_parameter("cr", 3.0)                # ratio
    comp.set_parameter("at", 12.5)               # attack, ms (3 significant digits in the text)
    comp.set_parameter("scm", "RMS")             # a choice, by label
    assert comp.get_text("al") == "-18.00" and comp.get_value("al") == -18.0
    assert abs(comp.get_value("cr") - 3.0) <= 0.005
    assert abs(comp.get_value("at") - 12.5) <= 0.05
    assert comp.get_text("scm") == "RMS"
    comp.set_normalized("al", 1.0)
    assert comp.get_text("al") == "0.00"
    with pytest.raises(nm.ParameterError, match=r"compressor-stereo.al must be in \[-60, 0\] dB; got 6"):
        comp.set_parameter("al", 6.0)
    with pytest.raises(nm.ParameterError, match=r"scm must be one of 'Peak', 'RMS', 'LPF', 'SMA'; got 'loud'"):
        comp.set_parameter("scm", "loud")
    with pytest.raises(nm.ParameterError, match="has no parameter 'threshold'; parameters: bypass, g_in"):
        comp.set_parameter("threshold", -3.0)
    with pytest.raises(nm.ParameterError, match=r"normalised value must be in \[0, 1\]; got 1.5"):
        comp.set_normalized("al", 1.5)


def test_read_back_catches_a_plugin_that_disagrees():
    comp = ThirdPartyPlugin(compressor(), SR, verify_latency=False)
    m = comp.display_map("al")
    # corrupt the map on purpose: the plugin's text no longer matches the request
    m._cv = m._cv + 3.0
    m.minimum, m.maximum = m.minimum + 3.0, m.maximum + 3.0
    with pytest.raises(ParameterReadbackError, match=r"set to -20 dB, the plugin reads back '-23.00'"):
        comp.set_parameter("al", -20.0)


def test_display_map_accuracy_is_measured_and_small():
    comp = ThirdPartyPlugin(compressor(), SR, verify_latency=False)
    gain = comp.display_map("mk")      # makeup gain, -60..+60 dB, linear in dB
    assert gain.kind == "numeric" and gain.unit == "dB" and (gain.minimum, gain.maximum) == (-60.0, 60.0)
    assert gain.resolution == 0.01 and gain.max_error <= 0.0051, gain.describe()
    freq = comp.display_map("shpf")    # side-chain high-pass, 10 Hz..20 kHz, logarithmic
    assert freq.log_domain, freq.describe()
    # the text has 3 significant digits: "10.0" Hz is +-0.05 Hz, 0.5 %; the
    # map's error at the grid midpoints is that quantum, not interpolation
    assert freq._mid_rel <= 0.0051, freq.describe()
    choice = comp.display_map("scm")
    assert choice.kind == "choice" and choice.labels == ["Peak", "RMS", "LPF", "SMA"]
    # round trip through the plugin's own text over the range
    for v in (-59.5, -24.25, -6.0, 0.0, 3.3, 47.77):
        comp.set_parameter("mk", v)
        assert abs(comp.get_value("mk") - v) <= 0.0051, (v, comp.get_text("mk"))
    for hz in (20.0, 95.0, 1234.0, 15000.0):
        comp.set_parameter("shpf", hz)
        assert abs(comp.get_value("shpf") / hz - 1) <= 0.005, (hz, comp.get_text("shpf"))


def test_display_units_set_the_gain_the_audio_shows(rng):
    """-6 dB written in display units is -6 dB in the render (limiter
    transparent below its threshold), within the plugin's 0.01 dB text."""
    lim = ThirdPartyPlugin(limiter(), SR)
    x = np.tile(0.02 * np.sin(2 * np.pi * 440 * np.arange(8192) / SR), (2, 1))
    for g_db in (-6.0, 3.5, -17.25):
        lim.set_parameter("g_in", g_db)
        y = lim.process(x, SR)
        measured = _db(np.sqrt(np.mean(y[:, 2000:] ** 2)) / np.sqrt(np.mean(x[:, 2000:] ** 2)))
        print(f"g_in {g_db:+.2f} dB -> measured {measured:+.4f} dB")
        assert abs(measured - g_db) <= 0.01


# -------------------------------------------------------------------- latency
def test_latency_is_read_from_the_plugin_and_verified_by_impulse():
    lim = ThirdPartyPlugin(limiter(), SR)
    assert lim.latency_check.reported == 220 and lim.latency_check.measured == 220 and lim.latency_check.ok
    assert lim.latency_for(48000) == 240                 # 5 ms lookahead at 48 kHz
    assert lim.verify_latency(48000).measured == 240
    lim.set_parameter("lk", 10.0)                         # lookahead 10 ms: reported only once processing starts
    lat = lim.latency_for(SR)
    assert abs(lat - 441) <= 1                            # the text "10.0" ms is +-0.05 ms (+-2 samples)
    check = lim.verify_latency(SR)
    assert check.reported == check.measured == lat
    x = np.zeros((2, 4000))
    x[:, 1234] = 0.2
    y = lim.process(x, SR)                               # compensated: aligned with the input
    assert np.argmax(np.abs(y[0])) == 1234 and abs(y[0, 1234] - 0.2) < 1e-6


def test_a_wrong_latency_warns_and_can_be_overridden():
    lim = ThirdPartyPlugin(limiter(), SR, latency_samples=100)
    assert lim.latency_for(SR) == 100
    x = np.zeros((2, 2000))
    x[:, 500] = 0.2
    assert np.argmax(np.abs(lim.process(x, SR)[0])) == 500 + 120     # 220 real - 100 compensated
    lim.latency_samples = "measured"
    assert lim.latency_for(SR) == 220
    plug = ThirdPartyPlugin(limiter(), SR, verify_latency=False)
    plug._reported[plug._settings_key(SR, 512)] = 50                # pretend the plugin misreports
    with pytest.warns(LatencyWarning, match="reports 50 samples of latency but an impulse response peaks at 220"):
        plug.verify_latency(SR)


# -------------------------------------------------------------------- presets
def test_preset_restores_an_identical_render(rng, tmp_path):
    x = _music(rng, 20000)
    comp = ThirdPartyPlugin(compressor(), SR)
    comp.set_parameter("al", -24.0)
    comp.set_parameter("cr", 4.0)
    comp.set_parameter("at", 3.0)
    comp.set_parameter("scm", "Peak")
    y = comp.process(x, SR)
    path = tmp_path / "comp.json"
    path.write_text(json.dumps(comp.to_dict()))
    again = ThirdPartyPlugin.from_dict(json.loads(path.read_text()))
    assert np.array_equal(again.process(x, SR), y)
    fresh = ThirdPartyPlugin(compressor(), SR)
    assert np.max(np.abs(fresh.process(x, SR) - y)) > 0.01         # the preset mattered
    fresh.load_preset(path)                                         # .json through load_preset too
    assert np.array_equal(fresh.process(x, SR), y)
    # a VST3 (state chunk included in the preset)
    zam = ThirdPartyPlugin(zamaxim(), SR)
    zam.set_parameter("Threshold", -12.0)
    d = zam.to_dict()
    assert "chunk" in d
    assert np.array_equal(ThirdPartyPlugin.from_dict(d).process(x, SR), zam.process(x, SR))


# ----------------------------------------------------------------- automation
def test_dawdreamer_applies_automation_at_each_block_start():
    """Measured: DawDreamer samples a curve at the first sample of each engine
    block (for plugins and Faust alike)."""
    n = 4000
    x = np.full((2, n), 0.01)
    curve = np.full(n, 0.571582)          # g_in 0 dB
    curve[1000:] = 0.3                    # about -38 dB from sample 1000
    for block, first in ((512, 1024), (100, 1000), (64, 1024)):
        y = dd_direct(limiter(), x, automation={1: np.concatenate([curve, np.full(220, 0.3)])},
                      block=block, latency=220)
        changed = np.nonzero(np.abs(np.diff(y[0])) > 1e-6)[0]
        assert changed[0] + 1 == first, (block, changed[:3])


def test_lsp_automation_matches_stepwise_direct_processing(rng):
    """A compressor's makeup gain automated (dB breakpoints) while it compresses:
    the render equals, block by block, the render with that block's value held
    constant (DawDreamer's per-block semantics), exactly."""
    block = 256
    n = 12 * block
    x = _music(rng, n, level=0.6)
    g = nm.Graph(SR, block_size=block)
    g.add_input("mix", x)
    g.add_plugin("comp", compressor(), inputs=["mix"], parameters={"al": -30.0, "cr": 4.0})
    curve = [(0.0, 0.0), (n / SR, 9.0)]                         # makeup 0 -> +9 dB, linear in time
    g.set_automation("comp", "mk", curve)
    y = g.render()
    plug = g["comp"].plugin
    mk_norm = plug.automation_curve("mk", n, SR)
    pred = np.empty_like(y)
    for k in range(n // block):
        a = k * block
        static = dd_direct(compressor(), x, params={17: plug.get_normalized("al"), 21: plug.get_normalized("cr"),
                                                     25: mk_norm[a]}, block=block)
        pred[:, a:a + block] = static[:, a:a + block]
    assert np.max(np.abs(y - pred)) == 0.0
    # and the makeup really moved: block 11 is about +9 dB * 11/12 louder than block 0's setting would give
    plain = dd_direct(compressor(), x, params={17: plug.get_normalized("al"), 21: plug.get_normalized("cr")}, block=block)
    tail = slice(11 * block, 12 * block)
    boost = _db(np.sqrt(np.mean(y[:, tail] ** 2)) / np.sqrt(np.mean(plain[:, tail] ** 2)))
    assert abs(boost - 9.0 * 11 * block / n) < 0.02, boost


def test_normalised_automation_reaches_dawdreamer_unchanged(rng):
    x = _music(rng, 3000)
    curve = np.linspace(0.2, 0.9, 3000)
    g = nm.Graph(SR)
    g.add_input("mix", x)
    g.add_plugin("comp", compressor(), inputs=["mix"])
    g.set_automation("comp", "al", curve, normalized=True)
    ref = dd_direct(compressor(), x, automation={17: curve})
    assert np.max(np.abs(g.render() - ref)) == 0.0


# ------------------------------------------------------------- equivalence
def test_third_party_only_graph_equals_dawdreamer_direct(rng):
    """LSP compressor -> LSP limiter, with a Dragonfly plate send summed in
    before the limiter: graph vs DawDreamer used directly, same settings,
    latency aligned by hand."""
    x = _music(rng, 30000)
    g = nm.Graph(SR)
    g.add_input("mix", x)
    g.add_plugin("comp", compressor(), inputs=["mix"], parameters={"al": -20.0, "cr": 3.0})
    g.add_plugin("plate", plate(), inputs=["mix"], parameters={"Dry Level": 0.0, "Wet Level": 50.0})
    g.add_plugin("lim", limiter(), inputs=["comp", "plate"], gains_db=[0.0, -9.0], parameters={"th": -6.0})
    assert g.latencies() == {"mix": 0, "comp": 0, "plate": 0, "lim": 220}
    y = g.render()
    comp_p, plate_p, lim_p = (g[k].plugin.normalized_values() for k in ("comp", "plate", "lim"))
    c = dd_direct(compressor(), x, comp_p)
    p = dd_direct(plate(), x, plate_p)
    s = c + p * 10 ** (-9 / 20)
    ref = dd_direct(limiter(), s, lim_p, latency=220)
    err = np.max(np.abs(y - ref))
    print(f"third-party graph vs DawDreamer direct: max abs difference {err:.3g}")
    assert err <= 1e-6
    assert np.max(np.abs(p)) > 0.01                      # the send is not silent
    assert np.max(np.abs(y - s)) > 0.01                  # the limiter acted


# -------------------------------------------------------------- pedalboard
def test_pedalboard_vst3_node_equals_pedalboard_direct(rng):
    x = _music(rng, 20000, level=0.8)
    g = nm.Graph(SR)
    g.add_input("mix", x)
    g.add_plugin("maxim", "ZaMaximX2", backend="pedalboard", inputs=["mix"], parameters={"threshold_db": -9.0})
    y = g.render()
    check = g["maxim"].latency_check
    assert check.reported == 480 and check.measured == 480        # pedalboard compensates; the impulse lands aligned
    ref_plug = pedalboard.load_plugin(zamaxim())
    ref_plug.threshold_db = -9.0
    ref = ref_plug(x.astype(np.float32), SR, buffer_size=512, reset=True)
    err = np.max(np.abs(y - ref))
    print(f"pedalboard VST3 node vs pedalboard direct: max abs difference {err:.3g}")
    assert err <= 1e-6
    # automation (blocks of 512, value at each block's first sample) vs manual streaming
    g.set_automation("maxim", "threshold_db", [(0.0, -3.0), (20000 / SR, -15.0)])
    ya = g.render()
    ref_plug.reset()
    curve = np.interp(np.arange(20480) / SR, [0.0, 20000 / SR], [-3.0, -15.0])
    xp = np.concatenate([x, np.zeros((2, 480))], axis=1).astype(np.float32)
    outs = []
    for a in range(0, xp.shape[1], 512):
        ref_plug.threshold_db = float(curve[a])
        outs.append(ref_plug(xp[:, a:a + 512], SR, buffer_size=512, reset=False))
    ref_a = np.concatenate(outs, axis=1)[:, :20000]
    assert np.max(np.abs(ya - ref_a)) <= 1e-6
    assert np.max(np.abs(ya - y)) > 0.01
