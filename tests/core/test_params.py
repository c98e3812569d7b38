"""Typed parameters: ranges, parsing from the command line, optional values, specs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from denoise_studio.core.params import ParamError, Params, param, parse_value


@dataclass(frozen=True)
class DemoParams(Params):
    iterations: int = param(100, minimum=1, maximum=1000, step=10, description="how many steps")
    rate: float = param(0.01, minimum=1e-5, maximum=0.1, log_scale=True, title="Learning rate", description="step size")
    sigma: float | None = param(None, minimum=1.0, maximum=100.0, description="noise σ; empty = estimate")
    mode: str = param("soft", choices=("soft", "hard"), description="thresholding")
    ensemble: bool = param(False, description="average 8 flips", advanced=True)


def test_defaults_are_valid_and_round_trip() -> None:
    p = DemoParams()
    assert p.to_dict() == {"iterations": 100, "rate": 0.01, "sigma": None, "mode": "soft", "ensemble": False}
    assert DemoParams.from_dict(p.to_dict()) == p


def test_specs_describe_every_field() -> None:
    specs = {s.name: s for s in DemoParams.specs()}
    assert list(specs) == ["iterations", "rate", "sigma", "mode", "ensemble"]
    assert specs["iterations"].type is int and specs["iterations"].minimum == 1 and specs["iterations"].step == 10
    assert specs["rate"].title == "Learning rate" and specs["rate"].log_scale
    assert specs["sigma"].title == "Sigma"  # derived from the name
    assert specs["sigma"].type is float and DemoParams._is_optional("sigma")
    assert specs["mode"].choices == ("soft", "hard")
    assert specs["ensemble"].advanced and specs["ensemble"].type is bool
    as_json = specs["mode"].to_json()
    assert as_json["choices"] == ["soft", "hard"] and as_json["default"] == "soft"
    assert "log_scale" in specs["rate"].to_json() and "minimum" not in specs["mode"].to_json()


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"iterations": 0}, "below the minimum"),
        ({"iterations": 1001}, "above the maximum"),
        ({"iterations": 2.5}, "integer"),
        ({"iterations": True}, "integer"),
        ({"rate": float("nan")}, "finite"),
        ({"rate": "fast"}, "number"),
        ({"sigma": 0.5}, "below the minimum"),
        ({"mode": "medium"}, "not one of"),
        ({"mode": 3}, "text"),
        ({"ensemble": "yes"}, "true or false"),
        ({"iterations": None}, "required"),
    ],
)
def test_values_are_checked(changes: dict, message: str) -> None:
    with pytest.raises(ParamError, match=message):
        DemoParams(**changes)


def test_ints_given_as_whole_floats_are_accepted() -> None:
    assert DemoParams(iterations=20.0).iterations == 20  # type: ignore[arg-type]
    assert isinstance(DemoParams(rate=1e-3).rate, float)


def test_from_strings_as_typed_on_the_command_line() -> None:
    p = DemoParams.from_strings({"iterations": "200", "rate": "1e-3", "sigma": "25", "mode": "hard", "ensemble": "yes"})
    assert p == DemoParams(iterations=200, rate=1e-3, sigma=25.0, mode="hard", ensemble=True)
    assert DemoParams.from_strings({"sigma": "auto"}, base=p).sigma is None
    assert DemoParams.from_strings({"sigma": "none"}).sigma is None
    assert DemoParams.from_strings({"iterations": "3e2"}).iterations == 300
    # The base's other values are kept.
    assert DemoParams.from_strings({"mode": "soft"}, base=p).iterations == 200


@pytest.mark.parametrize(
    "pairs,message",
    [
        ({"iterations": "ten"}, "expected int"),
        ({"iterations": "2.5"}, "expected int"),
        ({"rate": "x"}, "expected float"),
        ({"ensemble": "maybe"}, "true or false"),
        ({"colour": "red"}, "unknown parameter 'colour'"),
        ({"iterations": "none"}, "expected int, got 'none'"),  # only optional fields take none
        ({"rate": "1"}, "above the maximum"),
    ],
)
def test_from_strings_errors(pairs: dict, message: str) -> None:
    with pytest.raises(ParamError, match=message):
        DemoParams.from_strings(pairs)


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(ParamError, match="known: iterations, rate, sigma, mode, ensemble"):
        DemoParams.spec("nope")
    with pytest.raises(ParamError):
        DemoParams.from_dict({"nope": 1})


def test_params_are_frozen_and_replace_checks() -> None:
    p = DemoParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.iterations = 5  # type: ignore[misc]
    assert p.replace(iterations=5).iterations == 5
    with pytest.raises(ParamError):
        p.replace(iterations=-5)


def test_parse_value_bool_spellings() -> None:
    spec = DemoParams.spec("ensemble")
    for text in ("1", "true", "Yes", "ON"):
        assert parse_value(spec, text) is True
    for text in ("0", "false", "No", "off"):
        assert parse_value(spec, text) is False


def test_a_field_of_an_unsupported_type_is_rejected() -> None:
    @dataclass(frozen=True)
    class Bad(Params):
        values: list = param(None)  # type: ignore[assignment]

    with pytest.raises(TypeError, match="int, float, bool or str"):
        Bad.specs()
