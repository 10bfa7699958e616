"""Registry cases: Compressor, MultibandCompressor, DynamicEQ, StereoWidth.

Each factory sets the stage up so that it acts on ``registry.default_signal``
(peak -3 dBFS, a ~30 dB level envelope, 55 Hz and 1 kHz tones, noise bursts).
"""
import neuromaster as nm
from registry import Case

_BAND_CONTEXT_6 = {"num_bands": 6}


def _mbc():
    return nm.MultibandCompressor(
        band1_threshold_db=-30.0, band2_threshold_db=-28.0, band3_threshold_db=-30.0, band4_threshold_db=-32.0,
        band1_ratio=3.0, band2_ratio=4.0, band3_ratio=2.5, band4_ratio=3.0, band1_attack_ms=3.0, band3_knee_db=3.0)


def _mbc_context(num_bands: int = 4):
    """Settings of bands above ``num_bands`` and their crossovers need six bands
    (with the band set to compress); ``rms_window_ms`` needs RMS detection."""
    ctx = {}
    for k in range(num_bands + 1, 7):
        for kind in ("threshold_db", "ratio", "knee_db", "attack_ms", "release_ms", "makeup_db", "bypass", "solo"):
            ctx[f"band{k}_{kind}"] = dict(_BAND_CONTEXT_6, **{f"band{k}_threshold_db": -40.0, f"band{k}_ratio": 4.0})
    for j in range(num_bands, 6):
        ctx[f"crossover{j}_hz"] = dict(_BAND_CONTEXT_6)
    ctx["rms_window_ms"] = {"detection": "rms"}
    return ctx


#: Crossover changes that keep the used crossovers strictly ascending (the stage raises otherwise;
#: the automatic "other value" of the generic test would cross a neighbour).
_MBC_CROSSOVER_CHANGES = {"crossover1_hz": 300.0, "crossover2_hz": 2500.0, "crossover3_hz": 8000.0,
                          "crossover4_hz": 12000.0, "crossover5_hz": 18000.0}


def _deq():
    return nm.DynamicEQ(
        band1_threshold_db=-30.0, band1_range_db=-9.0, band1_frequency_hz=60.0,
        band2_enabled=True, band2_type="bell", band2_frequency_hz=1000.0, band2_threshold_db=-30.0, band2_range_db=-6.0,
        band3_enabled=True, band3_type="low_shelf", band3_frequency_hz=200.0, band3_threshold_db=-26.0,
        band3_range_db=4.0,
        band4_enabled=True, band4_type="high_shelf", band4_frequency_hz=5000.0, band4_threshold_db=-40.0,
        band4_range_db=-8.0)


_DEQ_EXEMPT = {f"band{k}_detector": "needs an external sidechain signal, which the generic suite does not pass; "
                                    "test_dynamic_eq.py covers it" for k in range(1, 5)}

CASES = [
    Case("Compressor", lambda: nm.Compressor(threshold_db=-24.0, ratio=4.0, attack_ms=2.0, release_ms=80.0,
                                             makeup_db=2.0),
         linked=True, channels=(1, 2, 3),
         context={"rms_window_ms": {"detection": "rms"}},
         changes={"sidechain_hpf_hz": 300.0}),
    Case("Compressor[unlinked,rms]", lambda: nm.Compressor(threshold_db=-30.0, ratio=3.0, knee_db=10.0,
                                                           detection="rms", stereo_link=0.0, mix=0.8),
         linked=False, channels=(1, 2, 3),
         changes={"stereo_link": 0.7, "sidechain_hpf_hz": 300.0}),
    Case("MultibandCompressor", _mbc, linked=True, context=_mbc_context(), changes=_MBC_CROSSOVER_CHANGES),
    Case("MultibandCompressor[mid_side,rms,3 bands]",
         lambda: nm.MultibandCompressor(num_bands=3, channel_mode="mid_side", detection="rms", stereo_link=0.0,
                                        sidechain_hpf_hz=80.0, band1_threshold_db=-36.0, band2_threshold_db=-32.0,
                                        band3_threshold_db=-36.0, band1_ratio=4.0, band2_ratio=4.0),
         linked=True, context=_mbc_context(3), changes=_MBC_CROSSOVER_CHANGES),
    Case("DynamicEQ", _deq, linked=True, exempt=_DEQ_EXEMPT,
         context={"rms_window_ms": {"detection": "rms"}}),
    Case("DynamicEQ[unlinked]", lambda: nm.DynamicEQ(band1_threshold_db=-30.0, band1_frequency_hz=997.0,
                                                     band1_range_db=-9.0, stereo_link=0.0, detection="rms"),
         linked=False, exempt=_DEQ_EXEMPT,
         context={**{f"band{k}_{kind}": {f"band{k}_enabled": True, f"band{k}_threshold_db": -33.0}
                     for k in (2, 3, 4) for kind in ("type", "frequency_hz", "q", "threshold_db", "ratio",
                                                     "attack_ms", "release_ms", "range_db")},
                  **{f"band{k}_enabled": {f"band{k}_threshold_db": -33.0} for k in (2, 3, 4)}}),
    Case("StereoWidth", lambda: nm.StereoWidth(width_low=0.4, width_mid=1.3, width_high=1.7, mono_below_hz=60.0),
         linked=True, channels=(2,)),
]
