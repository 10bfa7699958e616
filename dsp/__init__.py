"""neuromaster.dsp: numba kernels and meters.

Pure functions over ``(channels, samples)`` float64 arrays with explicit
state in and out (``y, state = f(x, ..., state)``). No I/O, no policy, no
classes with behaviour. Nothing compiles on import (kernels are lazy,
``cache=True``).
"""
