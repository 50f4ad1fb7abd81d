"""Strategy parameters are typed dataclass fields carrying their ``Param`` declaration."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from layerlab.errors import ConfigError
from layerlab.strategies import FAMILIES, Strategy, available, get_strategy, strategy_from_json
from layerlab.strategies.base import param
from layerlab.strategies.nixery import Nixery


@pytest.mark.parametrize("cls", list(FAMILIES.values()), ids=list(FAMILIES))
def test_every_family_declares_its_parameters_as_typed_fields(cls: type[Strategy]) -> None:
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    fields = dataclasses.fields(cls)
    assert [p.name for p in cls.params] == [f.name for f in fields]  # every field is a parameter, in order
    hints = typing.get_type_hints(cls)
    for f, p in zip(fields, cls.params):
        assert f.metadata["param"].kind == p.kind
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        assert default == p.default
        if p.kind == "choice":  # a choice is typed by a Literal of exactly its choices
            assert typing.get_args(hints[f.name]) == p.choices
    s = cls()
    assert hash(s) == hash(cls()) and s == cls()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.name_of_nothing = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", list(available()))
def test_every_strategy_round_trips_through_json(name: str) -> None:
    s = get_strategy(name)
    assert strategy_from_json(s.to_json()) == s
    assert type(s).from_json(s.to_json()) == s
    assert type(s).from_json({"strategy": name, "params": {}}) == s  # a preset's values come with its name


def test_values_are_coerced_validated_and_typed() -> None:
    s = Nixery(size_threshold="50M", popularity_by_name="yes")  # type: ignore[arg-type]
    assert (s.size_threshold, s.popularity_by_name) == (50_000_000, True)
    assert s.replace(merge_mode="resort").merge_mode == "resort" and s.merge_mode == "seed"
    with pytest.raises(ConfigError, match="strategy nixery: unknown parameter colour \\(known: size_threshold"):
        Nixery(colour="blue")  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="merge_mode must be one of seed, resort"):
        Nixery(merge_mode="sed")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="below the minimum"):
        s.replace(size_threshold=-1)
    with pytest.raises(ConfigError, match="cannot be read from a 'keystone' document"):
        Nixery.from_json({"strategy": "keystone", "params": {}})
    a, b = Nixery(), Nixery()
    assert a.forced_popularity == {} and a.forced_popularity is not b.forced_popularity  # no shared default


def test_a_params_tuple_is_refused_with_a_pointer_to_param() -> None:
    with pytest.raises(TypeError, match="declare parameters as dataclass fields with param"):

        class Old(Strategy):
            name = "old"
            params = ()  # type: ignore[assignment]

    @dataclasses.dataclass(frozen=True, eq=False)
    class New(Strategy):
        name = "new"
        weight: float = param("float", 1.0, "a weight", minimum=0)

        def _group(self, graph, context, budget):  # type: ignore[no-untyped-def]
            return []

    assert [p.name for p in New.params] == ["weight"] and New(weight=2).weight == 2.0
    assert New.param("weight").minimum == 0


def test_names_documents_and_instances_become_strategies_in_one_place() -> None:
    from layerlab.imageset import default_imageset
    from layerlab.metrics.scorecard import scorecard
    from layerlab.metrics.sweep import grid, sweep
    from layerlab.strategies import as_strategies, as_strategy

    preset = get_strategy("nixery-2022")
    assert preset.values != get_strategy("nixery").values  # so the preset's values are what is checked
    for spec in ("nixery-2022", {"strategy": "nixery-2022"}, preset.to_json(), preset):
        assert as_strategy(spec) == preset
    assert strategy_from_json({"strategy": "nixery-2022", "params": {"size_threshold": 7}}) == preset.replace(
        size_threshold=7
    )
    assert as_strategies(["per-path", {"strategy": "single-layer"}]) == [
        get_strategy("per-path"),
        get_strategy("single-layer"),
    ]
    for bad, message in [
        (3, "expected a strategy, a strategy name or its JSON, not int"),
        ({"strategy": {"strategy": "nixery"}}, "a strategy name must be a string"),
        ({"strategy": "nixery", "params": [1]}, "'params' must be an object"),
        ("nope", "unknown strategy 'nope'"),
    ]:
        with pytest.raises(ConfigError, match=message):
            as_strategy(bad)  # type: ignore[arg-type]
    # the scorecard, the sweep and the grid take every form alike
    s = default_imageset().subset(["img-curl", "img-make"])
    by_name = scorecard(s, ["nixery-2022", "per-path"], [10], sample=4)
    by_doc = scorecard(s, [preset.to_json(), get_strategy("per-path")], [10], sample=4)
    assert by_doc.equals(by_name)
    swept = sweep(s, [{"strategy": "nixery-2022"}, "per-path"], [10], executor="serial", cache=False)
    assert (
        swept["pulled_bytes"].tolist()
        == sweep(s, [preset, "per-path"], [10], executor="serial", cache=False)["pulled_bytes"].tolist()
    )
    assert grid(preset.to_json(), {"size_threshold": [1, 2]}) == [preset.replace(size_threshold=v) for v in (1, 2)]
