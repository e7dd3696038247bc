"""The process registry and Pythia setting validation."""

from __future__ import annotations

import pytest

from aihep.errors import ConfigError
from aihep.events.processes import PROCESSES, get_process
from aihep.events.pythia import base_settings, make_pythia


def test_registry_has_documented_processes():
    for name in ("qcd-dijet", "wprime-xy", "ttbar", "zprime-tt"):
        proc = get_process(name)
        assert len(proc.description) > 80
        assert proc.settings()


def test_unknown_process_lists_known():
    with pytest.raises(ConfigError, match=r"unknown process 'nope'.*qcd-dijet.*wprime-xy"):
        get_process("nope")


def test_unknown_parameter_is_named():
    with pytest.raises(ConfigError, match="no parameter m_z_gev"):
        get_process("wprime-xy").resolve_params({"m_z_gev": 3.0})


def test_qcd_default_pthat_cut_is_documented():
    proc = get_process("qcd-dijet")
    assert proc.params["pthat_min_gev"] == 1000.0
    assert "PhaseSpace:pTHatMin = 1000" in proc.settings()
    assert "bias" in proc.description or "loses" in proc.description


@pytest.mark.parametrize("name", list(PROCESSES))
def test_every_process_initializes(name):
    pythia = make_pythia(base_settings(13000.0, 3) + get_process(name).settings())
    assert pythia.next()


@pytest.mark.parametrize("bad", ["Foo:bar = 1", "PhaseSpace:pTHatMin = abc",
                                 "PhaseSpace:pTHatMin = -5"])
def test_rejected_setting_is_named(bad):
    with pytest.raises(ConfigError, match=bad.split("=")[0].strip()):
        make_pythia([*base_settings(13000.0, 3), "HardQCD:all = on", bad])
