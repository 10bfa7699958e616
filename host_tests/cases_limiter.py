"""Registry cases: TruePeakLimiter (linked and unlinked, driven into limiting)."""
from registry import Case

import neuromaster as nm

CASES = [
    # default_signal peaks at ~-3 dBFS: +4 dB of drive into a -4 dBTP ceiling
    # limits most of the loud passages; a short release lets every release-side
    # parameter show in a 6000-sample render.
    Case("TruePeakLimiter",
         lambda: nm.TruePeakLimiter(ceiling_db=-4.0, input_gain_db=4.0, release_ms=20.0),
         changes={"stereo_link": 0.0, "oversampling": 16, "auto_release": True},
         linked=True, channels=(1, 2)),
    Case("TruePeakLimiter[unlinked,auto,linear,8x]",
         lambda: nm.TruePeakLimiter(ceiling_db=-6.0, input_gain_db=2.0, release_ms=50.0, stereo_link=0.0,
                                    auto_release=True, attack_shape="linear", oversampling=8, lookahead_ms=3.0),
         changes={"stereo_link": 1.0, "oversampling": 4, "auto_release": False},
         linked=False, channels=(1, 2)),
]
