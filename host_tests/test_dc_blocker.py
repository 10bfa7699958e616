"""DCBlocker: DC removal to below -90 dBFS, negligible effect above 20 Hz.

Figures: ``.venv/bin/python -m pytest host_tests/test_dc_blocker.py -q -n 0 -s``.
"""
import numpy as np
import pytest

import neuromaster as nm
from neuromaster.dsp import biquad as bq
from registry import default_signal
from test_eq import _df1_reference  # scipy lfilter per control block, DF-I semantics

RATES = (22050.0, 44100.0, 48000.0, 88200.0, 96000.0, 192000.0)


def _db(x):
    return 20 * np.log10(np.maximum(np.abs(x), 1e-30))


@pytest.mark.parametrize("sample_rate", [44100.0, 192000.0])
@pytest.mark.parametrize("cutoff", [1.0, 5.0, 10.0])
def test_dc_step_on_music_is_removed_below_minus_90_dbfs(sample_rate, cutoff):
    seconds = 4.0
    n = int(seconds * sample_rate)
    music = default_signal(sample_rate, n, 2, seed=1)
    step = np.zeros(n)
    step[int(0.5 * sample_rate):] = 0.5  # a -6 dBFS DC offset appears after 0.5 s
    proc = nm.DCBlocker(cutoff_frequency_hz=cutoff)
    y_music = proc(music, sample_rate).astype(np.float64)
    y = proc(music + step, sample_rate).astype(np.float64)
    last = slice(n - int(sample_rate), n)
    # the filter is linear: what the offset leaves in the output is y - y_music
    residual_db = _db(np.mean((y - y_music)[:, last], axis=1)).max()
    # and the mean of the whole output over the last second moves by no more than that
    shift_db = _db(np.mean(y[:, last], axis=1) - np.mean(y_music[:, last], axis=1)).max()
    # the bar is on the residual itself, not only its average: every sample of the last second.
    # Measured: -101.6 dBFS at 1 Hz (the step's own exponential tail 2.5 s after it, the same at
    # every rate), -150 to -163 dBFS at 5 and 10 Hz (float32 rounding of the two outputs).
    peak_db = _db(np.max(np.abs((y - y_music)[:, last])))
    print(f"\nDCBlocker {cutoff:g} Hz @ {sample_rate:g}: -6 dBFS DC step -> residual over the last second: "
          f"mean {residual_db:.1f} dBFS, max |.| {peak_db:.1f} dBFS")
    assert residual_db < -90.0
    assert shift_db < -90.0
    assert peak_db < -90.0
    assert np.max(np.abs(y)) < np.max(np.abs(music + step))  # the step's transient stays bounded


@pytest.mark.parametrize("sample_rate", RATES)
def test_response_negligible_above_20_hz(sample_rate):
    f = np.array([0.0, 5.0, 20.0, 40.0, 100.0, 1000.0, 0.45 * sample_rate])
    n = int(1.5 * sample_rate)
    x = np.zeros(n)
    x[0] = 1.0
    h = nm.DCBlocker()(x, sample_rate).astype(np.float64)  # default 5 Hz
    H = np.array([np.sum(h * np.exp(-2j * np.pi * fk / sample_rate * np.arange(n))) for fk in f])
    db = _db(H)
    assert db[0] < -100  # DC
    assert db[1] == pytest.approx(-10 * np.log10(2), abs=0.01)  # -3.01 dB at the corner
    assert -0.02 < db[2] < 0.0, f"{db[2]:.4f} dB at 20 Hz"
    assert np.all(np.abs(db[3:]) < 0.002)
    # the designed section is the analogue Butterworth's bilinear image: -10 log10(1 + (fc/f)^4)
    assert db[2] == pytest.approx(-10 * np.log10(1 + (5.0 / 20.0) ** 4), abs=0.002)
    print(f"\nDCBlocker 5 Hz @ {sample_rate:g}: {db[2]:.4f} dB at 20 Hz, {db[3]:.4f} dB at 40 Hz, "
          f"{db[1]:.3f} dB at 5 Hz")


def test_highest_cutoff_at_20_hz():
    sample_rate = 48000.0
    sos = bq.rbj("highpass", 10.0, 0.0, 1 / np.sqrt(2), sample_rate)
    n = int(2 * sample_rate)
    x = np.zeros(n)
    x[0] = 1.0
    h = nm.DCBlocker(cutoff_frequency_hz=10.0)(x, sample_rate).astype(np.float64)
    H = np.sum(h * np.exp(-2j * np.pi * 20.0 / sample_rate * np.arange(n)))
    assert _db(H) == pytest.approx(_db(bq.sos_response(sos, [20.0], sample_rate)[0]), abs=1e-4)
    assert _db(H) == pytest.approx(-0.2633, abs=0.002)


def test_cutoff_automation_matches_per_block_design(rng):
    sample_rate = 44100.0
    n = 20000
    x = 0.3 * rng.standard_normal((2, n)) + 0.2
    sweep = np.geomspace(1.0, 10.0, n)
    proc = nm.DCBlocker()
    proc.set_automation("cutoff_frequency_hz", sweep)
    y = proc(x, sample_rate).astype(np.float64)
    idx = np.arange(0, n, 16)
    sos = bq.rbj("highpass", sweep[idx], 0.0, 1 / np.sqrt(2), sample_rate)[:, None, :]
    assert np.max(np.abs(y - _df1_reference(x, sos))) < 1e-6
    for bs in (1, 33, 4097):
        np.testing.assert_allclose(proc(x, sample_rate, buffer_size=bs), y, atol=1e-6, rtol=0)


def test_many_channels_and_state_per_channel(rng):
    x = rng.standard_normal((6, 5000)) + np.arange(6)[:, None] * 0.1
    y = nm.DCBlocker()(x, 48000).astype(np.float64)
    for c in range(6):
        np.testing.assert_allclose(nm.DCBlocker()(x[c], 48000), y[c], atol=1e-7)
    with pytest.raises(nm.ParameterError, match="cutoff_frequency_hz"):
        nm.DCBlocker(cutoff_frequency_hz=20.0)
