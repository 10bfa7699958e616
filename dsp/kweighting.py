"""BS.1770-4 K-weighting designed for any sample rate.

ITU-R BS.1770-4 (Annex 1, tables 1 and 2) gives the K-weighting filter only
as two biquads at 48 kHz: a high shelf ("stage 1", the acoustic effect of
the head) and the RLB high-pass ("stage 2"). We design both for any rate by
the bilinear transform, pre-warped at the section's corner frequency, of
their analogue prototypes

* shelf:      ``H(s) = (Vh s^2 + Vb (w0/Q) s + w0^2) / (s^2 + (w0/Q) s + w0^2)``
* high-pass:  ``H(s) = G s^2 / (s^2 + (w0/Q) s + w0^2)``

whose parameters are the exact inverse of the standard's 48 kHz table
(derivation in :func:`prototype_from_digital`; the values agree with the
published ones, e.g. shelf f0 = 1681.97 Hz, +4.0 dB, Q = 0.7072; high-pass
f0 = 38.135 Hz, Q = 0.5003). At 48 kHz the design reproduces the table to
~1e-14; at other rates it follows the analogue magnitude except for the
bilinear frequency warping near Nyquist (see ``host_tests``).

``G`` keeps the table's un-normalised numerator ``[1, -2, 1]`` at 48 kHz
(a pass-band gain of +0.043 dB that the standard's -0.691 dB constant
absorbs) and the same analogue gain at every other rate, so a tone reads the
same loudness at every sample rate.

All functions are vectorised numpy; nothing here is compiled.
"""
from __future__ import annotations

import numpy as np

#: BS.1770-4 table 1 (stage 1, shelf) at 48 kHz: ``[b0, b1, b2, a0, a1, a2]``.
BS1770_STAGE1_48K = np.array([1.53512485958697, -2.69169618940638, 1.19839281085285,
                              1.0, -1.69065929318241, 0.73248077421585])
#: BS.1770-4 table 2 (stage 2, RLB high-pass) at 48 kHz.
BS1770_STAGE2_48K = np.array([1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621])

# Analogue prototypes: the inverse of the 48 kHz table (prototype_from_digital
# applied to the rows above; host_tests re-derives them).
#: Shelf corner frequency in Hz.
SHELF_F0_HZ = 1681.9744509555323
#: Shelf quality factor.
SHELF_Q = 0.7071752369554193
#: High-frequency gain of the shelf ``Vh`` in dB (+4 dB).
SHELF_GAIN_DB = 3.9998438539733483
#: Mid-band gain of the shelf ``Vb = Vh ** SHELF_VB_EXPONENT`` (~ sqrt(Vh)).
SHELF_VB_EXPONENT = 0.4996667741545406
#: High-pass corner frequency in Hz.
HIGHPASS_F0_HZ = 38.13547087611304
#: High-pass quality factor.
HIGHPASS_Q = 0.5003270373250421
#: High-pass pass-band gain ``G`` (the table's un-normalised numerator at 48 kHz).
HIGHPASS_GAIN = 1.0049948987146884

#: BS.1770-4 eq. 2: the constant in ``L = -0.691 + 10 log10(sum G_i z_i)``.
LOUDNESS_OFFSET_DB = -0.691


def _k(f0_hz: float, sample_rate: float) -> float:
    # Bilinear transform pre-warped at f0: s = (w0 / K) (1 - z^-1) / (1 + z^-1).
    return np.tan(np.pi * f0_hz / sample_rate)


def shelf_sos(sample_rate: float) -> np.ndarray:
    """Stage 1 (high shelf) biquad ``[b0, b1, b2, 1, a1, a2]`` for ``sample_rate`` in Hz."""
    k = _k(SHELF_F0_HZ, sample_rate)
    vh = 10.0 ** (SHELF_GAIN_DB / 20.0)
    vb = vh ** SHELF_VB_EXPONENT
    a0 = 1.0 + k / SHELF_Q + k * k
    return np.array([(vh + vb * k / SHELF_Q + k * k) / a0, 2.0 * (k * k - vh) / a0,
                     (vh - vb * k / SHELF_Q + k * k) / a0,
                     1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / SHELF_Q + k * k) / a0])


def highpass_sos(sample_rate: float) -> np.ndarray:
    """Stage 2 (RLB high-pass) biquad ``[b0, b1, b2, 1, a1, a2]`` for ``sample_rate`` in Hz."""
    k = _k(HIGHPASS_F0_HZ, sample_rate)
    a0 = 1.0 + k / HIGHPASS_Q + k * k
    g = HIGHPASS_GAIN / a0
    return np.array([g, -2.0 * g, g, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / HIGHPASS_Q + k * k) / a0])


def kweighting_sos(sample_rate: float) -> np.ndarray:
    """The K-weighting cascade for ``sample_rate`` (Hz), shape ``(2, 6)`` (scipy ``sos`` rows).

    Parameters
    ----------
    sample_rate : float
        In Hz, any rate with the shelf corner (1.68 kHz) below Nyquist
        (in practice 8 kHz to 384 kHz).

    Returns
    -------
    ndarray, shape (2, 6)
        ``[[shelf], [high-pass]]``, each ``[b0, b1, b2, 1, a1, a2]``.
    """
    sample_rate = float(sample_rate)
    if not np.isfinite(sample_rate) or sample_rate <= 2.0 * SHELF_F0_HZ:
        raise ValueError(f"sample_rate must be finite and > {2 * SHELF_F0_HZ:.0f} Hz; got {sample_rate!r}")
    return np.stack([shelf_sos(sample_rate), highpass_sos(sample_rate)])


def analog_response(frequency_hz) -> np.ndarray:
    """Complex response of the analogue K-weighting prototypes at ``frequency_hz`` (Hz).

    This is the rate-independent target the digital designs approximate.
    """
    f = np.asarray(frequency_hz, dtype=np.float64)
    s = 1j * 2.0 * np.pi * f
    w1 = 2.0 * np.pi * SHELF_F0_HZ
    vh = 10.0 ** (SHELF_GAIN_DB / 20.0)
    vb = vh ** SHELF_VB_EXPONENT
    shelf = (vh * s * s + vb * (w1 / SHELF_Q) * s + w1 * w1) / (s * s + (w1 / SHELF_Q) * s + w1 * w1)
    w2 = 2.0 * np.pi * HIGHPASS_F0_HZ
    hp = HIGHPASS_GAIN * s * s / (s * s + (w2 / HIGHPASS_Q) * s + w2 * w2)
    return shelf * hp


def digital_response(frequency_hz, sample_rate: float) -> np.ndarray:
    """Complex response of :func:`kweighting_sos` at ``frequency_hz`` (Hz), closed form."""
    z1 = np.exp(-1j * 2.0 * np.pi * np.asarray(frequency_hz, dtype=np.float64) / float(sample_rate))
    h = np.ones_like(z1)
    for b0, b1, b2, a0, a1, a2 in kweighting_sos(sample_rate):
        h = h * (b0 + b1 * z1 + b2 * z1 * z1) / (a0 + a1 * z1 + a2 * z1 * z1)
    return h


def prototype_from_digital(shelf_row, highpass_row, sample_rate: float) -> dict:
    """Invert a pre-warped bilinear design: analogue prototype parameters from two biquads.

    For ``a0' = 1 + K/Q + K^2`` the bilinear images of the prototypes above
    satisfy ``1 + a1 + a2 = 4 K^2 / a0'``, ``1 - a1 + a2 = 4 / a0'`` and
    ``1 - a2 = 2 (K/Q) / a0'``, which give ``K`` (hence ``f0``) and ``Q``; then
    ``b0 + b2 = 2 (Vh + K^2) / a0'`` and ``b0 - b2 = 2 Vb (K/Q) / a0'``
    give the shelf gains, and the high-pass gain is ``G = b0 a0'``.
    ``b1`` is redundant and left as a check.

    Returns
    -------
    dict
        ``shelf_f0_hz, shelf_q, shelf_gain_db, shelf_vb_exponent,
        highpass_f0_hz, highpass_q, highpass_gain``.
    """
    def corner(row):
        a1, a2 = row[4] / row[3], row[5] / row[3]
        k = np.sqrt((1.0 + a1 + a2) / (1.0 - a1 + a2))
        a0 = 4.0 / (1.0 - a1 + a2)
        kq = (1.0 - a2) * a0 / 2.0
        return k, kq, a0

    k, kq, a0 = corner(shelf_row)
    b0, b2 = shelf_row[0] / shelf_row[3], shelf_row[2] / shelf_row[3]
    vh = (b0 + b2) * a0 / 2.0 - k * k
    vb = (b0 - b2) * a0 / (2.0 * kq)
    k2, kq2, a02 = corner(highpass_row)
    return {
        "shelf_f0_hz": float(np.arctan(k) * sample_rate / np.pi),
        "shelf_q": float(k / kq),
        "shelf_gain_db": float(20.0 * np.log10(vh)),
        "shelf_vb_exponent": float(np.log(vb) / np.log(vh)),
        "highpass_f0_hz": float(np.arctan(k2) * sample_rate / np.pi),
        "highpass_q": float(k2 / kq2),
        "highpass_gain": float(highpass_row[0] / highpass_row[3] * a02),
    }
