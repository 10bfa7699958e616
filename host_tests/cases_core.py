"""Registry cases: Gain and the containers."""
import pedalboard

from registry import Case

import neuromaster as nm

CASES = [
    Case("Gain", lambda: nm.Gain(gain_db=-4.5), channels=(1, 2, 3)),
    Case("Chain[Gain,pb.Compressor,pb.LowpassFilter,Gain]",
         lambda: nm.Chain([nm.Gain(gain_db=3.0), pedalboard.Compressor(threshold_db=-20, ratio=4),
                           pedalboard.LowpassFilter(cutoff_frequency_hz=3000), nm.Gain(gain_db=-2.0)])),
    Case("Mix[Gain,Chain]",
         lambda: nm.Mix([nm.Gain(gain_db=-6.0), [pedalboard.HighpassFilter(cutoff_frequency_hz=500), nm.Gain(gain_db=-3.0)]],
                        gains_db=[0.0, -1.5])),
]
