"""Search spaces, ops and CondenseNet's learned group convolution (no Ray runtime needed)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
import torch
from torch import nn

from dppnas.errors import ConfigError, DppnasError
from dppnas.nn import (
    OPS,
    CondensedConv,
    LearnedGroupConv,
    deploy,
    make_op,
    set_condensation_progress,
)
from dppnas.spaces import (
    CONDENSENET_CELL,
    DENSENET_BC_CELL,
    SPACES,
    Cell,
    SearchSpace,
    make_space,
)

SHAPES = [(1, 8, 8), (3, 32, 32)]
NUM_CLASSES = 10


def covering_archs(space: SearchSpace) -> list[dict[str, Any]]:
    """Few architectures that, between them, use every choice of every decision.

    Arch ``k`` takes choice ``k`` (mod the count) of each decision; in the ``dpp`` space every
    such arch has the maximal depth so that all its (norm, conv) decisions are used, and the
    other depths get an arch of their own.
    """
    decisions = space.decisions
    width = max(len(d.choices) for d in decisions)
    archs = []
    for k in range(width):
        arch = {d.name: d.choices[k % len(d.choices)] for d in decisions}
        if "depth" in arch:
            arch["depth"] = max(next(d for d in decisions if d.name == "depth").choices)
        archs.append(arch)
    depth = next((d for d in decisions if d.name == "depth"), None)
    if depth is not None:
        for value in depth.choices[:-1]:
            archs.append({**archs[0], "depth": value})
    return archs


def train_step(model: nn.Module, shape: tuple[int, int, int], batch: int = 4) -> torch.Tensor:
    """One SGD step on a random batch; returns the logits of the forward pass."""
    x = torch.randn(batch, *shape)
    y = torch.randint(0, NUM_CLASSES, (batch,))
    model.train()
    set_condensation_progress(model, 0.3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, y)
    assert math.isfinite(loss.item())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return logits


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# --- building and training -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["monas", "monas-condensenet", "dpp"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_every_choice_builds_and_trains(name: str, shape: tuple[int, int, int]) -> None:
    space = make_space({"name": name})
    archs = covering_archs(space)
    for decision in space.decisions:  # the archs cover every choice of every decision
        assert {a[decision.name] for a in archs} == set(decision.choices)
    for arch in archs:
        model = space.build(arch, shape, NUM_CLASSES)
        logits = train_step(model, shape)
        assert logits.shape == (4, NUM_CLASSES)
        assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", ["monas", "monas-condensenet", "dpp"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 3, 5), (1, 2, 1)])
def test_any_input_size(name: str, shape: tuple[int, int, int]) -> None:
    space = make_space({"name": name})
    arch = {d.name: d.choices[0] for d in space.decisions}
    model = space.build(arch, shape, 3).eval()
    assert model(torch.randn(2, *shape)).shape == (2, 3)


@pytest.mark.parametrize("cell", [DENSENET_BC_CELL, CONDENSENET_CELL], ids=["densenet", "condense"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_reference_cells(cell: Cell, shape: tuple[int, int, int]) -> None:
    space = make_space({"name": "dpp"})
    model = space.build(cell, shape, NUM_CLASSES)
    assert model(torch.randn(2, *shape)).shape == (2, NUM_CLASSES)
    assert space.build(space.encode(cell), shape, NUM_CLASSES) is not None
    assert cell.depth == 2
    assert cell.tokens() == ("bn_relu", cell.layers[0][1], "bn_relu", cell.layers[1][1])
    assert Cell.from_tokens(cell.tokens()) == cell


@pytest.mark.parametrize("name", sorted(OPS.names()))
def test_ops_with_indivisible_channels(name: str) -> None:
    op = make_op(name, 6, 10, groups=4, condense_factor=4)
    assert op(torch.randn(2, 6, 5, 5)).shape == (2, 10, 5, 5)


# --- decisions, genotypes, tune space ---------------------------------------------------------


@pytest.mark.parametrize("name", ["monas", "monas-condensenet", "dpp"])
def test_round_trip_and_tune_space(name: str) -> None:
    space = make_space({"name": name})
    for arch in covering_archs(space):
        genotype = space.decode(arch)
        canonical = space.encode(genotype)
        assert space.decode(canonical) == genotype
        assert space.encode(space.decode(canonical)) == canonical
        assert list(canonical) == [d.name for d in space.decisions]
        assert isinstance(space.describe(arch), str) and "\n" not in space.describe(arch)
        assert space.describe(genotype) == space.describe(arch)
    assert list(space.tune_space()) == [d.name for d in space.decisions]
    assert make_space(space.config()).config() == space.config()
    assert space.config()["name"] == name


def test_dpp_encode_fills_unused_decisions() -> None:
    space = make_space({"name": "dpp"})
    arch = space.encode(Cell((("bn", "gconv3x3"),)))
    assert arch == {
        "depth": 1,
        "norm1": "bn",
        "conv1": "gconv3x3",
        "norm2": "bn_relu",
        "conv2": "conv1x1",
        "norm3": "bn_relu",
        "conv3": "conv1x1",
    }
    # unused decisions may be left out of a hand-written arch
    assert space.decode({"depth": 1, "norm1": "bn", "conv1": "gconv3x3"}).depth == 1
    assert Cell((("bn", "conv1x1"),)).extend("identity", "dwconv3x3").depth == 2
    with pytest.raises(DppnasError, match="depth"):
        space.encode(Cell(()))


@pytest.mark.parametrize(
    ("name", "arch_change", "needle"),
    [
        ("monas", {"layer2_filters": 30}, "layer2_filters"),
        ("monas", {"layer1_filter_height": "3"}, "layer1_filter_height"),
        ("monas-condensenet", {"stage3_growth": 5}, "stage3_growth"),
        ("dpp", {"conv2": "conv5x5"}, "conv2"),
        ("dpp", {"depth": 0}, "depth"),
    ],
)
def test_decode_bad_value(name: str, arch_change: dict, needle: str) -> None:
    space = make_space({"name": name})
    arch = {**covering_archs(space)[0], **arch_change}
    with pytest.raises(DppnasError, match=needle) as info:
        space.decode(arch)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["monas", "monas-condensenet", "dpp"])
def test_decode_missing_decision(name: str) -> None:
    space = make_space({"name": name})
    arch = covering_archs(space)[0]
    last = space.decisions[-1].name
    del arch[last]
    with pytest.raises(DppnasError, match=f"arch.{last}: required decision is missing"):
        space.decode(arch)


@pytest.mark.parametrize(
    "config",
    [
        {"name": "monas", "num_layers": 2, "filter_heights": [1, 3], "filter_widths": [3],
         "filters": [8, 16]},
        {"name": "monas-condensenet", "stages": 2, "depths": [1, 2], "growths": [4, 8, 12]},
        {"name": "dpp", "max_depth": 3, "norms": ["bn", "identity"],
         "convs": ["conv1x1", "conv3x3"]},
        {"name": "dpp", "max_depth": 2, "norms": ["bn_relu"], "convs": ["lgconv1x1"]},
    ],
)  # fmt: skip
def test_size_is_brute_force_count(config: dict) -> None:
    space = make_space(config)
    decisions = space.decisions
    genotypes = {
        space.decode(dict(zip([d.name for d in decisions], values, strict=True)))
        for values in itertools.product(*(d.choices for d in decisions))
    }
    assert space.size() == len(genotypes)


# --- learned group convolution ----------------------------------------------------------------


def test_learned_group_conv_stages() -> None:
    conv = LearnedGroupConv(16, 32, 1, groups=4, condense_factor=4)
    x = torch.randn(2, 16, 3, 3)
    expected = {0.0: 16, 0.1: 16, 0.2: 12, 0.4: 8, 0.5: 4, 1.0: 4}
    for progress, kept in expected.items():
        set_condensation_progress(conv, progress)
        conv.train()(x)
        for i in range(4):
            rows = conv.mask[i::4]
            assert (rows == rows[0]).all()  # a group shares its inputs
            assert int(rows[0].sum()) == kept
    assert int(conv.stage) == 3
    # in eval mode nothing is dropped
    fresh = LearnedGroupConv(16, 32, 1, groups=4, condense_factor=4)
    set_condensation_progress(fresh, 1.0)
    fresh.eval()(x)
    assert bool((fresh.mask == 1).all())


def test_learned_group_conv_drops_smallest_l1() -> None:
    conv = LearnedGroupConv(8, 4, 1, groups=2, condense_factor=2)
    with torch.no_grad():
        conv.weight.copy_(torch.arange(1.0, 9.0).repeat(4, 1)[:, :, None, None])
        conv.weight[1, 7] = 0.0  # group 1 (rows 1, 3): input 7 is now weaker than input 4
        conv.weight[3, 7] = 0.0
    set_condensation_progress(conv, 1.0)
    conv.train()(torch.randn(1, 8, 1, 1))
    assert conv.mask[0].nonzero().flatten().tolist() == [4, 5, 6, 7]
    assert conv.mask[1].nonzero().flatten().tolist() == [3, 4, 5, 6]


def test_learned_group_conv_indivisible_inputs() -> None:
    conv = LearnedGroupConv(18, 8, 1, groups=4, condense_factor=4)
    set_condensation_progress(conv, 1.0)
    x = torch.randn(3, 18, 4, 4)
    conv.train()(x)
    assert [int(conv.mask[i].sum()) for i in range(4)] == [4] * 4
    conv.eval()
    assert torch.allclose(deploy(conv)(x), conv(x), atol=1e-5)


def _condense_model(**options: Any) -> nn.Module:
    space = make_space({"name": "dpp", "cells_per_stage": [2, 1], "growth": [8, 16], **options})
    return space.build(CONDENSENET_CELL, (3, 16, 16), NUM_CLASSES)


def test_deploy_matches_masked_model() -> None:
    model = _condense_model()
    x = torch.randn(4, 3, 16, 16)
    y = torch.randint(0, NUM_CLASSES, (4,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    steps = 8
    for step in range(steps):
        set_condensation_progress(model, step / (steps - 1))
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    convs = [m for m in model.modules() if isinstance(m, LearnedGroupConv)]
    assert convs
    for conv in convs:
        assert conv._stage == conv.num_stages == 3
        for i in range(conv.groups):
            assert int(conv.mask[i].sum()) == conv.in_channels // conv.condense_factor
    model.eval()
    with torch.no_grad():
        expected = model(x)
        deployed = deploy(model)
        got = deployed(x)
    assert not deployed.training
    assert torch.allclose(got, expected, atol=1e-5)
    assert not any(isinstance(m, LearnedGroupConv) for m in deployed.modules())
    assert any(isinstance(m, CondensedConv) for m in deployed.modules())
    assert any(isinstance(m, LearnedGroupConv) for m in model.modules())  # original untouched

    def count(m: nn.Module) -> int:
        return sum(p.numel() for p in m.parameters())

    assert count(deployed) < count(model)


def test_deploy_finalises_untrained_model() -> None:
    model = _condense_model().eval()
    deployed = deploy(model)
    for module in deployed.modules():
        if isinstance(module, CondensedConv):
            assert module.index.numel() == module.groups * (module.in_channels // 4)
    assert deployed(torch.randn(1, 3, 16, 16)).shape == (1, NUM_CLASSES)


def test_progress_is_per_model_and_state_dict_round_trips() -> None:
    first, second = _condense_model(), _condense_model()
    x = torch.randn(2, 3, 16, 16)
    set_condensation_progress(first, 1.0)
    first.train()(x)
    second.train()(x)
    for conv in (m for m in second.modules() if isinstance(m, LearnedGroupConv)):
        assert conv._stage == 0 and bool((conv.mask == 1).all())
    second.load_state_dict(first.state_dict())
    set_condensation_progress(second, 1.0)
    second.train()(x)
    pairs = zip(first.modules(), second.modules(), strict=True)
    for a, b in pairs:
        if isinstance(a, LearnedGroupConv):
            assert b._stage == 3 and torch.equal(a.mask, b.mask)


def test_condense_factor_one_deploys_to_dense_conv() -> None:
    conv = LearnedGroupConv(8, 8, 1, groups=4, condense_factor=1).eval()
    x = torch.randn(1, 8, 2, 2)
    deployed = deploy(conv)
    assert type(deployed) is nn.Conv2d
    assert torch.allclose(deployed(x), conv(x), atol=1e-6)


# --- configuration errors ---------------------------------------------------------------------


def test_make_space_unknown_name_lists_spaces() -> None:
    with pytest.raises(ConfigError) as info:
        make_space({"name": "nope"})
    message = str(info.value)
    assert message.startswith("space.name:")
    for name in SPACES.names():
        assert name in message
    assert {"dpp", "monas", "monas-condensenet"} <= set(SPACES.names())


def test_make_space_missing_name() -> None:
    with pytest.raises(ConfigError, match=r"^space\.name: required key is missing$"):
        make_space({"max_depth": 2})


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"name": "dpp", "growth": [8, 16]}, "space.growth:"),
        ({"name": "dpp", "convs": ["conv1x1", "conv7x7"]}, "space.convs:"),
        ({"name": "dpp", "norms": ["layernorm"]}, "space.norms:"),
        ({"name": "dpp", "norms": []}, "space.norms:"),
        ({"name": "dpp", "max_depth": 0}, "space.max_depth:"),
        ({"name": "monas", "filter_widths": [3, 4]}, "space.filter_widths:"),
        ({"name": "monas", "filters": [8, 8]}, "space.filters:"),
        ({"name": "monas", "layers": 3}, "space.layers:"),
        ({"name": "monas-condensenet", "depths": [0]}, "space.depths"),
    ],
)
def test_make_space_bad_option(config: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_space(config)
    message = str(info.value)
    assert message.startswith(key), message
    assert "\n" not in message


def test_space_from_options_model_and_mapping() -> None:
    cls = SPACES.get("monas")
    assert cls().options == cls({}).options == cls(cls.Options()).options
    assert cls({"num_layers": 2}).options.num_layers == 2
    with pytest.raises(DppnasError, match="input_shape"):
        cls().build({d.name: d.choices[0] for d in cls().decisions}, (0, 8, 8), 10)
