"""The conv network shares its work across overlapping windows, exactly.

Scanning a record runs the encoder once over it (``DilatedConvNet.span_logits``); each
position must still get the score its own window alone gets (``forward`` on that window,
N-padded past the record ends), whatever the record length and the chunk boundaries.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from multirm_tools.bundle import load_bundle
from multirm_tools.constants import CLASS_NAMES
from multirm_tools.inference import score_windows
from multirm_tools.kmers import centre_windows, tokenize
from multirm_tools.model import DilatedConvNet, EnsembleNet, ModelConfig, build_network
from multirm_tools.scan import class_mask, scan_codes

from conftest import TINY_CONFIG, TINY_CONV

CONV = ModelConfig(**{**TINY_CONFIG, **TINY_CONV})


def _trained_looking(net: DilatedConvNet, seed: int) -> DilatedConvNet:
    """Random weights large enough that attention is far from uniform (a harder test of the windows)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return net.eval()


def _per_window(model, codes: np.ndarray) -> np.ndarray:
    """Every position's score from its own window alone (the reference)."""
    windows = centre_windows([codes] * len(codes), np.arange(len(codes)), model.config.window)
    return score_windows(model, windows)


def _scanned(model, codes: np.ndarray, chunk_size: int) -> np.ndarray:
    chunks = list(scan_codes(model, codes, chunk_size=chunk_size))
    assert [c.start for c in chunks] == list(range(0, len(codes), chunk_size))
    return np.concatenate([c.probs for c in chunks]), np.concatenate([c.mask for c in chunks])


def _models():
    torch.manual_seed(0)
    single = _trained_looking(build_network(CONV), 1)
    shared = replace(CONV, classes=tuple(c for c in CLASS_NAMES if c != "m6A"))
    members = [_trained_looking(build_network(shared, single.embedding.weight), 2),
               _trained_looking(build_network(shared, single.embedding.weight), 3),
               _trained_looking(build_network(replace(CONV, classes=("m6A",)), single.embedding.weight), 4)]
    composed = replace(CONV, composition=5)
    with_composition = _trained_looking(build_network(composed, single.embedding.weight), 5)
    composed_members = [_trained_looking(build_network(replace(composed, classes=shared.classes),
                                                       single.embedding.weight), 6),
                        _trained_looking(build_network(replace(composed, classes=("m6A",)),
                                                       single.embedding.weight), 7)]
    placed = replace(CONV, pooling="attention+position")
    with_position = _trained_looking(build_network(placed, single.embedding.weight), 9)
    both = replace(placed, composition=3)
    placed_members = [_trained_looking(build_network(replace(both, classes=shared.classes), single.embedding.weight), 10),
                      _trained_looking(build_network(replace(both, classes=("m6A",)), single.embedding.weight), 12)]
    return {"single": single, "ensemble with a specialist": EnsembleNet(members, classes=CONV.classes).eval(),
            "single with composition": with_composition,
            "ensemble with composition": EnsembleNet(composed_members, classes=CONV.classes).eval(),
            "single with position weights": with_position,
            "ensemble with position weights and composition": EnsembleNet(placed_members,
                                                                          classes=CONV.classes).eval()}


MODELS = _models()


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("length", [1, 2, 9, 10, 21, 22, 57, 300])
@pytest.mark.parametrize("chunk_size", [1, 7, 64, 16384])
def test_scan_equals_each_window_alone(name, length, chunk_size):
    model = MODELS[name]
    rng = np.random.default_rng(length * 31 + chunk_size)
    codes = rng.integers(0, 4, length).astype(np.uint8)
    codes[rng.random(length) < 0.05] = 4  # a few N inside the record
    probs, mask = _scanned(model, codes, chunk_size)
    ref = _per_window(model, codes)
    assert mask.any()
    np.testing.assert_allclose(probs[mask], ref[mask], rtol=0, atol=1e-5)
    assert np.isnan(probs[~mask]).all()


def test_composition_is_the_mean_over_the_window_tokens():
    """With the heads' attention and centre weights zeroed, a composition network's score depends on
    the window's tokens only as a multiset (the mean of their features): shuffling the window leaves
    it, and changing one token moves it."""
    net = _trained_looking(build_network(replace(CONV, composition=5)), 8)
    with torch.no_grad():
        net.head_w1.zero_()
    rng = np.random.default_rng(11)
    windows = rng.integers(0, 4, (6, CONV.window)).astype(np.uint8)
    tokens = torch.as_tensor(tokenize(windows, CONV.k).astype(np.int64))
    shuffled = tokens[:, torch.randperm(tokens.shape[1], generator=torch.Generator().manual_seed(0))]
    torch.testing.assert_close(net(shuffled), net(tokens), rtol=0, atol=1e-6)
    changed = tokens.clone()
    changed[:, 0] = (changed[:, 0] + 1) % 64
    assert (net(changed) - net(tokens)).abs().max() > 1e-4


def test_composition_leaves_a_seeds_other_weights_as_they_were():
    """Its weights are drawn last: with the same seed, the encoder, attention and heads are the
    weights a network without composition gets (its models stay reproducible)."""
    torch.manual_seed(3)
    plain = build_network(CONV).state_dict()
    torch.manual_seed(3)
    composed = build_network(replace(CONV, composition=4)).state_dict()
    assert set(composed) - set(plain) == {"composition_proj.weight", "composition_proj.bias", "head_wc"}
    for key, value in plain.items():
        torch.testing.assert_close(composed[key], value, rtol=0, atol=0)


def test_position_weights_start_at_zero_and_move_only_their_class():
    """A new attention+position network scores as the plain network of the same seed does (its
    weights are drawn as the plain one's, the position weights start at zero); a position weight
    then moves its own class's score and no other, and the attention it reports still sums to one."""
    torch.manual_seed(4)
    plain = build_network(CONV).eval()
    torch.manual_seed(4)
    placed = build_network(replace(CONV, pooling="attention+position")).eval()
    assert set(placed.state_dict()) - set(plain.state_dict()) == {"att_position"}
    assert placed.att_position.shape == (len(CONV.classes), CONV.n_states)
    rng = np.random.default_rng(5)
    tokens = torch.as_tensor(tokenize(rng.integers(0, 4, (4, CONV.window)).astype(np.uint8), CONV.k).astype(np.int64))
    torch.testing.assert_close(placed(tokens), plain(tokens), rtol=0, atol=0)
    with torch.no_grad():
        placed.att_position[2, 0] = 3.0  # the first state of the window, class 2 only
    moved = (placed(tokens) - plain(tokens)).abs()
    assert moved[:, 2].min() > 1e-4
    assert moved[:, [i for i in range(len(CONV.classes)) if i != 2]].max() == 0
    _, attn = placed(tokens, return_attention=True)
    torch.testing.assert_close(attn.sum(-1), torch.ones(attn.shape[:2]), rtol=0, atol=1e-5)


@pytest.mark.parametrize("bad, match", [(dict(pooling="position"), "pooling"),
                                        (dict(architecture="bilstm", pooling="attention+position"), "pooling")])
def test_pooling_option_is_checked(bad, match):
    with pytest.raises(ValueError, match=match):
        replace(CONV, **bad).validate()


@pytest.mark.parametrize("bad", [dict(composition=-1), dict(architecture="bilstm", composition=3)])
def test_composition_option_is_checked(bad):
    with pytest.raises(ValueError, match="composition"):
        replace(CONV, **bad).validate()


def test_scores_spread_widely():
    """The reference is not trivially constant: attention and heads matter at this scale."""
    codes = np.random.default_rng(5).integers(0, 4, 200).astype(np.uint8)
    ref = _per_window(MODELS["single"], codes)
    assert np.median(ref.std(axis=0)) > 0.05 and ref.std(axis=0).min() > 1e-3


def test_scan_depends_on_the_window_alone():
    """A change outside a position's window leaves its score bit for bit; inside, it moves it."""
    model = MODELS["single"]
    half = model.config.window // 2
    codes = np.random.default_rng(7).integers(0, 4, 120).astype(np.uint8)
    changed = codes.copy()
    changed[100] = (changed[100] + 1) % 4
    a, _ = _scanned(model, codes, 16384)
    b, _ = _scanned(model, changed, 16384)
    far = np.arange(120) < 100 - half
    both = ~np.isnan(a) & ~np.isnan(b)
    np.testing.assert_array_equal(np.where(both, a, 0)[far], np.where(both, b, 0)[far])
    near = (np.arange(120) >= 100 - half) & (np.arange(120) <= 100 + half)
    assert np.abs(np.where(both, a - b, 0)[near]).max() > 1e-4


def test_span_logits_computes_the_classes_needed():
    model = MODELS["single"]
    codes = np.random.default_rng(3).integers(0, 4, 50).astype(np.uint8)
    half = model.config.window // 2
    padded = np.concatenate([np.full(half, 4, np.uint8), codes, np.full(half, 4, np.uint8)])
    tokens = torch.as_tensor(tokenize(padded, model.config.k))
    need = torch.as_tensor(class_mask(padded, half, 0, 50, model.config.classes))
    wanted = [model.config.classes.index(c) for c in ("m6A", "Psi")]
    need[:, [j for j in range(need.shape[1]) if j not in wanted]] = False
    out = model.span_logits(tokens, need, batch=7)  # several attention steps
    windows = np.lib.stride_tricks.sliding_window_view(tokenize(padded, model.config.k), model.config.n_tokens)
    ref = model(torch.as_tensor(np.array(windows)))
    torch.testing.assert_close(out[:, wanted], ref[:, wanted], rtol=0, atol=1e-5)
    assert (out[:, [j for j in range(need.shape[1]) if j not in wanted]] == 0).all()


def test_attention_covers_the_window_and_sums_to_one():
    model = MODELS["single"]
    tokens = torch.as_tensor(tokenize(np.random.default_rng(0).integers(0, 4, (4, CONV.window)), CONV.k))
    _, attn = model(tokens, return_attention=True)
    assert attn.shape == (4, len(CONV.classes), CONV.n_tokens)
    margin = (CONV.receptive_field - 1) // 2
    torch.testing.assert_close(attn.sum(-1), torch.ones(4, len(CONV.classes)))
    assert (attn[..., :margin] == 0).all() and (attn[..., CONV.n_tokens - margin:] == 0).all()
    assert (attn[..., margin:CONV.n_tokens - margin] > 0).all()


@pytest.mark.parametrize("bad", [dict(kernel=2), dict(kernel=1), dict(dilations=()), dict(dilations=(0,)),
                                 dict(dilations=(4, 4, 4)), dict(architecture="transformer")])
def test_conv_config_refused(bad):
    with pytest.raises(ValueError):
        ModelConfig(**{**TINY_CONFIG, **TINY_CONV, **bad}).validate()


def test_conv_bundle_round_trip(tiny_bundle_factory):
    path = tiny_bundle_factory("conv.safetensors", members=2, specialists=("m6A",),
                               classes=tuple(c for c in CLASS_NAMES if c != "m6A"), **TINY_CONV)
    bundle = load_bundle(path)
    assert bundle.config.architecture == "conv" and bundle.config.dilations == (1, 2)
    assert all(isinstance(m, DilatedConvNet) for m in bundle.model.members)
    codes = np.random.default_rng(1).integers(0, 4, 80).astype(np.uint8)
    probs, mask = _scanned(bundle.model, codes, 16384)
    np.testing.assert_allclose(probs[mask], _per_window(bundle.model, codes)[mask], atol=1e-5, rtol=0)
