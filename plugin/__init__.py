"""neuromaster: a scriptable mastering chain.

Stages are pedalboard-compatible processors::

    import neuromaster as nm
    y = nm.Gain(gain_db=-3)(x, 44100)

See DESIGN.md for the architecture and the processor contract.
"""
from .errors import AudioFileError, AudioTypeError, NeuromasterError, ParameterError, PresetError
from .params import Param
from .processor import CONTROL_INTERVAL, Processor
from .chain import Chain, Mix
from .graph import Graph, ThirdPartyPlugin  # host bridge; imports dawdreamer before any numba stage

# --- stages (one import line per stage module) -------------------------------
from .stages.gain import Gain
from .stages.dc_blocker import DCBlocker
from .stages.mid_side import MidSide
from .stages.dither import Dither
from .stages.eq import ParametricEQ
from .stages.softclipper import SoftClipper
from .stages.tube import TubeSaturator
from .stages.parallel_drive import ParallelDrive
from .stages.transformer import TransformerSaturator
from .stages.tape import TapeSaturator
from .stages.compressor import Compressor
from .stages.multiband import MultibandCompressor
from .stages.dynamic_eq import DynamicEQ
from .stages.width import StereoWidth
from .stages.limiter import TruePeakLimiter
# --- end stages ---------------------------------------------------------------
from .mastering import MasteringChain

__version__ = "0.1.0"


def __getattr__(name):
    # Heavier parts import lazily so `import neuromaster` stays quick.
    if name in ("analyze", "LoudnessMeter", "Meter"):
        from . import analysis
        return getattr(analysis, name)
    if name == "demo":
        import importlib
        return importlib.import_module(".demo", __name__)
    raise AttributeError(f"module 'neuromaster' has no attribute {name!r}")
