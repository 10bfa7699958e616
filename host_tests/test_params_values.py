"""``Param.values``: an int parameter restricted to a set (the oversampling
factors), its validation message, its normalised 0-1 mapping over the set's
indices, and that parameters without it behave as before."""
from __future__ import annotations

import numpy as np
import pytest

import neuromaster as nm
from neuromaster.params import Param
from neuromaster.processor import Processor

FACTORS = (1, 2, 4, 8, 16)


class _SetFixture(Processor):
    """A gain whose ``factor`` (one of 1, 2, 4, 8, 16) multiplies the input."""

    PARAMETERS = (
        Param("factor", 1, 16, 8, kind="int", values=FACTORS, doc="multiplier, one of 1, 2, 4, 8, 16"),
        Param("count", 0, 10, 3, kind="int", doc="plain int parameter"),
    )

    def _process_block(self, x, sidechain):
        return x * self.factor


def test_validation_accepts_only_the_set_and_lists_it():
    p = Param("factor", 1, 16, 8, kind="int", values=FACTORS)
    for v in FACTORS:
        assert p.validate(v) == v and isinstance(p.validate(float(v)), int)
    for bad in (3, 0, 17, 2.5, "8", True, float("nan")):
        with pytest.raises(nm.ParameterError, match=r"factor must be one of 1, 2, 4, 8, 16; got"):
            p.validate(bad)
    with pytest.raises(nm.ParameterError, match=r"_SetFixture\.factor must be one of 1, 2, 4, 8, 16; got 3"):
        _SetFixture(factor=3)
    assert p.range_text == "one of 1, 2, 4, 8, 16"
    assert p.describe()["values"] == list(FACTORS)


def test_normalised_mapping_spreads_the_indices_evenly():
    p = Param("factor", 1, 16, 8, kind="int", values=FACTORS)
    assert [p.to_normalized(v) for v in FACTORS] == [0.0, 0.25, 0.5, 0.75, 1.0]
    for i, v in enumerate(FACTORS):
        assert p.from_normalized(i / 4) == v
    # nearest index in between (0.3 -> index 1.2 -> 2; 0.4 -> index 1.6 -> 4)
    assert p.from_normalized(0.3) == 2 and p.from_normalized(0.4) == 4
    with pytest.raises(nm.ParameterError, match="normalised value for factor must be in"):
        p.from_normalized(1.5)
    proc = _SetFixture()
    assert proc.get_normalized("factor") == 0.75
    proc.set_normalized("factor", 0.25)
    assert proc.factor == 2
    x = np.ones((1, 8))
    np.testing.assert_array_equal(proc(x, 44100), 2.0 * x.astype(np.float32))


def test_a_set_is_discrete_and_not_automatable():
    proc = _SetFixture()
    with pytest.raises(nm.ParameterError, match="cannot be automated"):
        proc.set_automation("factor", [1, 2])
    assert not proc.parameters["factor"].automatable


@pytest.mark.parametrize("values", [(2, 1), (1, 1, 2), (0, 1), (1, 32), (1.5, 2)])
def test_bad_sets_are_refused(values):
    with pytest.raises(ValueError, match="values"):
        Param("factor", 1, 16, 1, kind="int", values=values)


def test_values_only_for_int_parameters():
    with pytest.raises(ValueError, match="kind='int'"):
        Param("gain", 0.0, 1.0, 0.0, values=(0, 1))


def test_default_outside_the_set_is_refused():
    with pytest.raises(nm.ParameterError, match="one of 1, 2, 4, 8, 16"):
        Param("factor", 1, 16, 3, kind="int", values=FACTORS)


def test_parameters_without_a_set_are_unchanged():
    """The plain int and float mappings are untouched by the new field."""
    p = Param("count", 0, 10, 3, kind="int")
    assert p.values == () and p.range_text == "[0, 10]"
    assert p.validate(7) == 7 and p.to_normalized(5) == 0.5 and p.from_normalized(0.26) == 3
    with pytest.raises(nm.ParameterError, match=r"count must be \[0, 10\]; got 11"):
        p.validate(11)
    assert "values" not in p.describe()
    f = Param("gain_db", -12.0, 12.0, 0.0, unit="dB")
    assert f.to_normalized(6.0) == 0.75 and f.from_normalized(0.25) == -6.0


@pytest.mark.parametrize("stage", ["SoftClipper", "TubeSaturator", "ParallelDrive", "TransformerSaturator",
                                   "TapeSaturator"])
def test_every_oversampled_stage_uses_the_set(stage):
    cls = getattr(nm, stage)
    p = cls.PARAMETERS[[q.name for q in cls.PARAMETERS].index("oversampling")]
    assert p.values == FACTORS and p.default == 8
    with pytest.raises(nm.ParameterError, match=f"{stage}.oversampling must be one of 1, 2, 4, 8, 16; got 5"):
        cls(oversampling=5)
    proc = cls()
    assert proc.get_normalized("oversampling") == 0.75
    proc.set_normalized("oversampling", 1.0)
    assert proc.oversampling == 16 and proc.latency_for(44100) > 0
    proc.set_normalized("oversampling", 0.0)
    assert proc.oversampling == 1
