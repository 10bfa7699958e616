"""Registry cases: DCBlocker, MidSide, Dither, ParametricEQ."""
from registry import Case

import neuromaster as nm
from neuromaster.stages.eq import NUM_BANDS

# ---------------------------------------------------------------- EQ
# Eight bands of every type on, two left off; all target both channels so
# that the multichannel-equals-per-channel property applies.
_EQ_BANDS = {
    1: dict(type="highpass", frequency_hz=30.0, slope=24),
    2: dict(type="low_shelf", frequency_hz=120.0, gain_db=2.0),
    3: dict(type="bell", frequency_hz=400.0, gain_db=-3.0, q=1.4),
    4: dict(type="bell", frequency_hz=2000.0, gain_db=2.5, q=0.9),
    5: dict(type="notch", frequency_hz=3000.0, q=4.0),
    6: dict(type="tilt", frequency_hz=1000.0, gain_db=2.0),
    7: dict(type="high_shelf", frequency_hz=8000.0, gain_db=1.5),
    8: dict(type="lowpass", frequency_hz=12000.0, slope=12, q=1.0),
}
_GAINLESS = ("highpass", "lowpass", "notch")


def _eq_settings(bands, **extra):
    kw = dict(extra)
    for n, d in bands.items():
        kw[f"band{n}_enabled"] = True
        for k, v in d.items():
            kw[f"band{n}_{k}"] = v
    return kw


def _eq():
    return nm.ParametricEQ(**_eq_settings(_EQ_BANDS))


def _eq_context(bands, targets=("all", "left")):
    """What each band parameter needs before a change can show in the output."""
    context, changes = {}, {}
    for n in range(1, NUM_BANDS + 1):
        b = f"band{n}"
        kind = bands.get(n, {}).get("type", "bell")
        on = {f"{b}_enabled": True, f"{b}_gain_db": 6.0} if n not in bands else {}
        for field in ("type", "frequency_hz", "q", "channels"):
            context[f"{b}_{field}"] = dict(on)
        # switching a band on or off shows only if it does something (bell at 0 dB does not)
        if n not in bands:
            context[f"{b}_enabled"] = {f"{b}_gain_db": 6.0}
        # gain is ignored by pass filters and the notch: make the band a bell
        context[f"{b}_gain_db"] = dict(on, **({f"{b}_type": "bell"} if kind in _GAINLESS else {}))
        # slope only exists for high/low-pass
        context[f"{b}_slope"] = dict(on, **({} if kind in ("highpass", "lowpass") else {f"{b}_type": "highpass",
                                                                                           f"{b}_frequency_hz": 200.0}))
        changes[f"{b}_channels"] = targets[1]
    return context, changes


_EQ_CONTEXT, _EQ_CHANGES = _eq_context(_EQ_BANDS)

# Mid/side: a side-only high shelf, a mid-only bell, a both-channel high-pass.
_MS_BANDS = {
    1: dict(type="highpass", frequency_hz=25.0, slope=12),
    2: dict(type="bell", frequency_hz=300.0, gain_db=-2.0, q=1.0, channels="mid"),
    3: dict(type="high_shelf", frequency_hz=4000.0, gain_db=4.0, channels="side"),
    4: dict(type="low_shelf", frequency_hz=150.0, gain_db=-6.0, channels="side"),
}
_MS_CONTEXT, _MS_CHANGES = _eq_context(_MS_BANDS, targets=("all", "mid"))
for _n, _d in _MS_BANDS.items():  # a band already on mid switches to side
    if _d.get("channels") == "mid":
        _MS_CHANGES[f"band{_n}_channels"] = "side"
    elif _d.get("channels") == "side":
        _MS_CHANGES[f"band{_n}_channels"] = "mid"


def _eq_ms():
    return nm.ParametricEQ(**_eq_settings(_MS_BANDS, channel_mode="mid_side"))


_CHANNEL_MODE_REASON = ("with every band targeting 'all' the same linear filter on both channels gives the same "
                        "output in L/R and in M/S; channel_mode acts through the band targets (test_eq checks "
                        "mid/side targets)")
_MS_MODE_REASON = ("switching to 'stereo' makes the mid/side-targeted bands invalid (ParameterError, tested in "
                   "test_eq); channel_mode's effect is tested through the band targets there")

CASES = [
    Case("DCBlocker", lambda: nm.DCBlocker(cutoff_frequency_hz=8.0), channels=(1, 2, 3)),
    Case("MidSide", lambda: nm.MidSide(mid_gain_db=-1.5, side_gain_db=3.0), channels=(2,), linked=True),
    Case("MidSide[encode]", lambda: nm.MidSide(mode="encode", side_gain_db=-2.0), channels=(2,), linked=True,
         changes={"mode": "decode"}),
    # The noise stream is keyed by channel index, so a channel processed alone
    # (as channel 0) gets different noise: "linked" for the per-channel test.
    # Bit depths are chosen so that the float32-input comparison (1e-4) holds:
    # the input's float32 rounding flips a few rounding decisions, and the
    # error-feedback loop spreads each flip over later samples (measured: up
    # to 1 LSB with simple shaping, ~12 LSB with the 9-tap F-weighted filter).
    Case("Dither", lambda: nm.Dither(bit_depth=16, noise_shaping="simple", seed=3), linked=True,
         channels=(1, 2, 3)),
    Case("Dither[20,psychoacoustic]", lambda: nm.Dither(bit_depth=20, noise_shaping="psychoacoustic", seed=11),
         linked=True),
    Case("ParametricEQ", _eq, context=_EQ_CONTEXT, changes=_EQ_CHANGES,
         exempt={"channel_mode": _CHANNEL_MODE_REASON}),
    Case("ParametricEQ[mid_side]", _eq_ms, context=_MS_CONTEXT, changes=_MS_CHANGES, linked=True,
         exempt={"channel_mode": _MS_MODE_REASON}),
]
