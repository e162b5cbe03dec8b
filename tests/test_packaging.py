"""The `vllm` and `deepspeed` extras install what TRL supports: the same requirements TRL's own extras declare."""

import configparser
from importlib.metadata import requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def our_extra(extra: str) -> dict[str, Requirement]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config["options.extras_require"][extra].splitlines()
    return {(r := Requirement(line)).name: r for line in lines if line.strip() and not line.startswith("#")}


def trl_extra(extra: str) -> dict[str, Requirement]:
    """TRL's Requires-Dist lines with `extra == "<extra>"`, from the installed TRL's metadata."""
    declared = [Requirement(line) for line in requires("trl")]
    return {r.name: r for r in declared if r.marker is not None and r.marker.evaluate({"extra": extra})}


@pytest.mark.parametrize("extra", ["vllm", "deepspeed"])
def test_extras_pin_what_trl_declares(extra):
    ours, trl = our_extra(extra), trl_extra(extra)
    assert trl, f"TRL declares no {extra!r} extra any more"
    assert set(ours) == set(trl)
    for name, requirement in trl.items():
        assert ours[name].specifier == requirement.specifier, (name, str(ours[name]), str(requirement))
