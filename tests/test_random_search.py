"""``random`` with ``sampling: architectures``: every distinct architecture equally likely."""

from __future__ import annotations

import collections

import pytest

from dppnas.errors import ConfigError, DppnasError, validate_section
from dppnas.spaces import arch_key, enumerate_architectures, make_space
from search_algos import SEARCHERS
from search_algos.uniform import UniformArchitectureSearch

SPACE = {
    "name": "dpp",
    "max_depth": 2,
    "norms": ["bn_relu", "bn"],
    "convs": ["conv1x1", "conv3x3", "dwconv3x3"],
}


def _space():
    return make_space(SPACE)


def test_encodings_count_the_decision_vectors_of_an_architecture():
    space = _space()
    searcher = UniformArchitectureSearch(space, seed=0)
    archs = enumerate_architectures(space)
    raw = 1
    for d in space.decisions:
        raw *= len(d.choices)
    # every decision vector encodes exactly one architecture
    assert sum(searcher.encodings(a) for a in archs) == raw
    shallow = [a for a in archs if a["depth"] == 1]
    assert {searcher.encodings(a) for a in shallow} == {6}  # 2 norms x 3 convs unused


def test_every_architecture_is_equally_likely():
    space = _space()
    searcher = UniformArchitectureSearch(space, seed=1)
    archs = {arch_key(a) for a in enumerate_architectures(space)}  # 6 depth-1, 36 depth-2
    n = 8400
    counts = collections.Counter(
        arch_key(space.encode(space.decode(searcher.suggest(str(i))["arch"]))) for i in range(n)
    )
    assert set(counts) == archs
    depth1 = sum(c for k, c in counts.items() if '"depth":1' in k)
    # uniform over architectures: 6/42 = 0.143 (each decision uniform would give 0.5)
    assert depth1 / n == pytest.approx(6 / 42, abs=0.02)
    assert max(counts.values()) < 2 * n / len(archs)


def test_a_restored_searcher_continues_identically(tmp_path):
    first = UniformArchitectureSearch(_space(), seed=3)
    for i in range(5):
        first.suggest(str(i))
    first.save(str(tmp_path / "random.json"))
    expected = [first.suggest(str(i)) for i in range(5, 15)]
    second = UniformArchitectureSearch(_space(), seed=99)
    second.restore(str(tmp_path / "random.json"))
    assert [second.suggest(str(i)) for i in range(5, 15)] == expected


def test_the_option_is_validated_and_a_foreign_param_space_refused():
    spec = SEARCHERS.get("random")
    with pytest.raises(ConfigError, match="sampling"):
        validate_section(spec.options, {"sampling": "genotypes"}, "searcher")
    searcher = UniformArchitectureSearch(_space(), seed=0)
    with pytest.raises(DppnasError, match="build it with that space"):
        searcher.set_search_properties(None, None, {"arch": {"lr": 0.1}})
    assert searcher.set_search_properties(None, None, {"arch": _space().tune_space()})


def test_the_option_picks_the_sampler():
    from types import SimpleNamespace

    from ray.tune.search.basic_variant import BasicVariantGenerator

    spec = SEARCHERS.get("random")
    experiment = SimpleNamespace(search_space=_space(), seed=0, max_concurrent=2)
    for sampling, expected in [
        ("architectures", UniformArchitectureSearch),
        ("decisions", BasicVariantGenerator),
    ]:
        options = validate_section(spec.options, {"sampling": sampling}, "searcher")
        assert isinstance(spec.factory(experiment, options, None), expected)
