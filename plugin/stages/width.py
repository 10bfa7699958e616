"""``StereoWidth``: side level per frequency band, and a mono low end.

Mid/side convention: ``M = (L + R) / 2``, ``S = (L - R) / 2``, decoded as
``L = M + S``, ``R = M - S`` (exact inverse). The mid signal's level is never
changed (no compensation): width changes the side only.

Width per band (linear phase)
    The side signal is split by two linear-phase crossovers
    (:func:`neuromaster.dsp.crossover.linear_phase_lowpass`, LR4 magnitude,
    no phase shift between bands) into low / mid / high parts that sum to
    the side signal delayed by ``D`` samples, exactly. The processed side is
    ``S_D + sum_b (w_b - 1) S_b`` = ``w_high S_D + (w_low - w_mid) h_lo*S +
    (w_mid - w_high) h_hi*S``, so every width at 1.0 gives back ``S_D``
    exactly, width 0 in a band removes the side there (the band's share of
    it), 2 doubles it, and a uniform width ``w`` scales the whole side by
    ``w``. The mid is delayed by the same ``D`` samples. (Minimum-phase LR
    bands cannot do this: their sum is an allpass, not the side itself, so
    ``S + sum (w_b - 1) S_b`` would comb at the crossovers for widths other
    than 1.) The FIR runs as overlap-save FFT convolution: latency
    ``D + block`` samples (``D = ceil(0.055 fs)``; about 131 ms at 44.1
    kHz, 5766 samples), reported in ``reported_latency_samples`` and
    compensated in one-shot calls.

Mono below ``mono_below_hz``
    Linkwitz-Riley 12th order (Butterworth 6th order squared): the side is
    high-passed (``HP12``) and the mid goes through the matching allpass
    (``AP12 = LP12 + HP12``, which has exactly HP12's phase), so mid and side
    stay phase-coherent above the cutoff. The side is down by >= 60 dB for
    ``f <= 0.56 mono_below_hz`` (``2 * 10 log10(1 + (fc/f)^12) >= 60``; the
    bilinear warping only adds attenuation below the cutoff), -6 dB at the
    cutoff. No added latency. With ``mono_below_hz = 0`` this stage is off
    and the output is the input (delayed, then compensated) to rounding.
"""
from __future__ import annotations

import numpy as np

from ..dsp.biquad import butterworth_qs, design_frequency, rbj, sos_filter, sos_filter_blocks, sos_state
from ..dsp.crossover import (LINEAR_PHASE_MIN_HZ, linear_phase_block, linear_phase_half_length,
                             linear_phase_lowpass)
from ..params import Param
from ..processor import CONTROL_INTERVAL, Processor

#: Butterworth 6th-order section Qs (LR12 = BW6 squared).
_BW6_Q = butterworth_qs(6)
_IDENTITY = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])


def mono_filter_sos(mono_below_hz, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """LR12 side high-pass (6 sections) and mid allpass (3 sections).

    ``mono_below_hz`` scalar or array (per control block); 0 = identity.
    Returns arrays of shape ``np.shape(mono_below_hz) + (6, 6)`` and ``+ (3, 6)``.
    """
    f = np.asarray(mono_below_hz, dtype=np.float64)
    on = (f > 0)[..., np.newaxis, np.newaxis]
    fd = design_frequency(np.maximum(np.where(f > 0, f, 1.0), 1e-3), sample_rate)[..., np.newaxis]
    hp = rbj("highpass", fd, 0.0, _BW6_Q, sample_rate)       # (..., 3, 6) RBJ HPF with BW6 Qs
    ap = rbj("allpass", fd, 0.0, _BW6_Q, sample_rate)        # (..., 3, 6) RBJ APF with BW6 Qs
    hp = np.concatenate([hp, hp], axis=-2)                   # squared: LR12
    return np.where(on, hp, _IDENTITY), np.where(on, ap, _IDENTITY)


class StereoWidth(Processor):
    """Stereo width in three bands, and mono below a cutoff (stereo input only).

    Parameters
    ----------
    width_low, width_mid, width_high : float
        Side gain per band, 0 (mono) to 2 (side doubled); 1 = unchanged
        (default).
    crossover_low_hz, crossover_high_hz : float
        Band edges, 50 Hz-16 kHz (defaults 200 Hz, 4 kHz; used in ascending
        order). Linear-phase crossovers with the LR4 magnitude. They shape
        FIR kernels, so they are not automatable; a change between streaming
        calls cross-fades from the old to the new kernels over one FFT block.
    mono_below_hz : float
        0 (off, default) or the LR12 cutoff below which the side is removed,
        up to 500 Hz.

    See the module docstring for the M/S convention, the band structure, the
    exact transparency at width 1, the latency and the mono filter.
    """

    PARAMETERS = (
        Param("width_low", 0.0, 2.0, 1.0, doc="side gain below crossover_low_hz (0 = mono, 2 = double)"),
        Param("width_mid", 0.0, 2.0, 1.0, doc="side gain between the crossovers"),
        Param("width_high", 0.0, 2.0, 1.0, doc="side gain above crossover_high_hz"),
        Param("crossover_low_hz", LINEAR_PHASE_MIN_HZ, 16000.0, 200.0, unit="Hz", scale="log", automatable=False,
              doc="low/mid band edge (linear phase)"),
        Param("crossover_high_hz", LINEAR_PHASE_MIN_HZ, 16000.0, 4000.0, unit="Hz", scale="log", automatable=False,
              doc="mid/high band edge (linear phase)"),
        Param("mono_below_hz", 0.0, 500.0, 0.0, unit="Hz", scale="skew", centre=100.0,
              doc="LR12 cutoff below which the side is removed (0 = off)"),
    )
    SUPPORTED_CHANNELS = (2,)

    # ------------------------------------------------------------- latency
    def latency_for(self, sample_rate: float) -> int:
        d = linear_phase_half_length(sample_rate)
        return linear_phase_block(d)[1] + d

    # ----------------------------------------------------------- lifecycle
    def _prepare(self):
        sr = self.sample_rate
        self._d = linear_phase_half_length(sr)
        self._nfft, self._block = linear_phase_block(self._d)
        d, b = self._d, self._block
        self._hist = np.zeros(2 * d)          # last 2D side samples (FIR input history)
        self._hist_m = np.zeros(d)            # mid, to be delayed by D
        self._hist_w = np.ones((3, d))        # widths, delayed with the audio
        self._pend = np.zeros((5, b))         # filling block: S, M, w_low, w_mid, w_high
        self._fill = 0
        self._out = np.zeros((2, 2 * b))      # ready output (M, S), FIFO
        self._out_len = 0
        self._z_s = sos_state(1, 6)
        self._z_m = sos_state(1, 3)
        self._spectra = None
        self._xover = None
        self._fade_from = None

    def _reset_state(self):
        b = self._block
        self._hist[:] = 0.0
        self._hist_m[:] = 0.0
        self._hist_w[:] = 1.0
        self._fill = 0
        self._out[:] = 0.0
        self._out_len = b                     # the block of latency: B zeros ready at start
        self._z_s[:] = 0.0
        self._z_m[:] = 0.0
        self._fade_from = None

    def _update(self):
        v = self._values
        sr = self.sample_rate
        lo, hi = sorted((v["crossover_low_hz"], v["crossover_high_hz"]))
        if self._xover != (lo, hi):
            spectra = np.fft.rfft(np.stack([linear_phase_lowpass(lo, sr, self._d),
                                            linear_phase_lowpass(hi, sr, self._d)]), self._nfft)
            if self._spectra is not None and self._position > 0:
                self._fade_from = self._spectra   # cross-fade over the next block
            self._spectra = spectra
            self._xover = (lo, hi)
        f = v["mono_below_hz"]
        self._mono_sos = mono_filter_sos(f, sr) if f > 0 else None

    # ----------------------------------------------------------- processing
    def _mono(self, m: np.ndarray, s: np.ndarray, n: int):
        name = "mono_below_hz"
        if self._is_static(name):
            if self._mono_sos is None:
                return m, s
            hp, ap = self._mono_sos
            s, self._z_s = sos_filter(s, hp, self._z_s)
            m, self._z_m = sos_filter(m, ap, self._z_m)
            return m, s
        values = np.asarray(self._control_blocks(name, n), dtype=np.float64)
        hp, ap = mono_filter_sos(values, self.sample_rate)
        s, self._z_s = sos_filter_blocks(s, hp, self._z_s, self._position, CONTROL_INTERVAL)
        m, self._z_m = sos_filter_blocks(m, ap, self._z_m, self._position, CONTROL_INTERVAL)
        return m, s

    def _fir(self, seg: np.ndarray, spectra: np.ndarray) -> np.ndarray:
        """Both low-pass outputs for the block (valid part of the circular convolution)."""
        y = np.fft.irfft(np.fft.rfft(seg, self._nfft)[np.newaxis, :] * spectra, self._nfft)
        return y[:, 2 * self._d:2 * self._d + self._block]

    def _run_block(self):
        """Filter one full pending block and append (M, S) to the output FIFO."""
        d, b = self._d, self._block
        s_new, m_new, w_new = self._pend[0], self._pend[1], self._pend[2:5]
        seg = np.concatenate([self._hist, s_new])            # nfft samples
        s_del = seg[d:d + b]                                  # side delayed by D
        m_all = np.concatenate([self._hist_m, m_new])
        w_all = np.concatenate([self._hist_w, w_new], axis=1)
        m_del = m_all[:b]
        w_lo, w_mid, w_hi = w_all[:, :b]
        self._hist = seg[-2 * d:].copy()
        self._hist_m = m_all[b:].copy()
        self._hist_w = w_all[:, b:].copy()
        if np.all(w_all[:, :b] == 1.0):
            side = s_del.copy()                               # exact: S + sum 0 * S_b
        elif self._fade_from is None and np.all(w_all[:, :b] == w_all[:, :1]):
            # constant widths over the block: one combined kernel, one inverse transform
            wl, wm, wh = w_all[:, 0]
            spec = np.fft.rfft(seg, self._nfft) * ((wl - wm) * self._spectra[0] + (wm - wh) * self._spectra[1])
            side = wh * s_del + np.fft.irfft(spec, self._nfft)[2 * d:2 * d + b]
        else:
            y = self._fir(seg, self._spectra)
            if self._fade_from is not None:
                ramp = (np.arange(b) + 0.5) / b
                y = self._fir(seg, self._fade_from) * (1.0 - ramp) + y * ramp
            # S_D + sum (w_b - 1) S_b with S_low = h_lo*S, S_mid = (h_hi - h_lo)*S, S_high = S_D - h_hi*S
            side = w_hi * s_del + (w_lo - w_mid) * y[0] + (w_mid - w_hi) * y[1]
        self._fade_from = None
        a = self._out_len
        self._out[0, a:a + b] = m_del
        self._out[1, a:a + b] = side
        self._out_len = a + b

    def _process_block(self, x, sidechain):
        n = x.shape[1]
        m = 0.5 * (x[0] + x[1])
        s = 0.5 * (x[0] - x[1])
        m, s = self._mono(m[np.newaxis], s[np.newaxis], n)
        widths = [self._control(name, n) for name in ("width_low", "width_mid", "width_high")]
        b = self._block
        y = np.empty_like(x)
        done = 0
        while done < n:
            take = min(n - done, b - self._fill)
            f = self._fill
            self._pend[0, f:f + take] = s[0, done:done + take]
            self._pend[1, f:f + take] = m[0, done:done + take]
            for r, w in enumerate(widths):
                self._pend[2 + r, f:f + take] = w if not isinstance(w, np.ndarray) else w[done:done + take]
            self._fill = f + take
            if self._fill == b:
                self._run_block()
                self._fill = 0
            # pop what is ready for these input samples (always available: B samples of latency)
            mm = self._out[0, :take]
            ss = self._out[1, :take]
            y[0, done:done + take] = mm + ss
            y[1, done:done + take] = mm - ss
            self._out[:, :self._out_len - take] = self._out[:, take:self._out_len]
            self._out_len -= take
            done += take
        return y
