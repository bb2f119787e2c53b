"""k-mer tokens, the network's two paths, and model bundles."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from multirm_tools.bundle import Bundle, load_bundle, save_bundle
from multirm_tools.constants import CLASS_NAMES
from multirm_tools.errors import BundleError
from multirm_tools.kmers import centre_windows, encode, tokenize, vocabulary
from multirm_tools.model import EnsembleNet, ModelConfig, MultiRMNet, mean_probability_logit

from conftest import make_tiny_bundle


def test_tokens_follow_the_vocabulary_and_n_is_token_zero():
    vocab = vocabulary(3)
    seq = "ACGTNACGUacg"
    tokens = tokenize(encode(seq), 3)
    dna = seq.upper().replace("U", "T")
    for i, t in enumerate(tokens):
        kmer = dna[i:i + 3]
        assert vocab[t] == (kmer if "N" not in kmer else "NNN")
    assert vocab[1:] == ["".join(p) for p in itertools.product("ACGT", repeat=3)]


def test_centre_windows_pad_with_n_past_the_ends():
    codes = [encode("ACGTA"), encode("GGGGGGGGG")]
    w = centre_windows(codes, np.array([0, 4]), 5)
    assert w[0].tolist() == [4, 4, 0, 1, 2]
    assert w[1].tolist() == [2] * 5


@pytest.mark.parametrize("hidden", [3, 16])
def test_scan_path_equals_lstm_path(hidden):
    torch.manual_seed(0)
    cfg = ModelConfig(window=21, hidden=hidden, embedding="word2vec", embedding_dim=10, attention_dim=4,
                      head_hidden=5)
    model = MultiRMNet(cfg, torch.randn(cfg.vocab_size, 10)).eval()
    tokens = torch.randint(0, cfg.vocab_size, (37, cfg.n_tokens))
    with torch.no_grad():
        torch.testing.assert_close(model.scan_logits(tokens), model(tokens), atol=1e-5, rtol=1e-5)


def test_batch_rows_are_independent():
    """MultiRM reshaped the final BiLSTM state across the batch; one window must not see another."""
    torch.manual_seed(1)
    model = MultiRMNet(ModelConfig(window=21, hidden=8, embedding="onehot", embedding_dim=64)).eval()
    tokens = torch.randint(0, 65, (8, 19))
    with torch.no_grad():
        whole = model(tokens)
        alone = torch.cat([model(tokens[i:i + 1]) for i in range(8)])
    torch.testing.assert_close(whole, alone, atol=1e-6, rtol=1e-5)


def test_bundle_round_trip_and_same_bytes(tmp_path):
    a = make_tiny_bundle(tmp_path / "a.safetensors", seed=3)
    b = make_tiny_bundle(tmp_path / "b.safetensors", seed=3)
    assert a.read_bytes() == b.read_bytes(), "the same model must give the same file"
    loaded = load_bundle(a)
    assert loaded.config == ModelConfig(window=21, hidden=8, embedding="onehot", embedding_dim=64,
                                        attention_dim=8, head_hidden=8)
    assert loaded.thresholds["m6A"] == 0.5
    assert all(np.all(np.diff(v) >= 0) for v in loaded.null_scores.values())
    again = tmp_path / "c.safetensors"
    save_bundle(again, loaded)
    reloaded = load_bundle(again)
    for k, v in loaded.model.state_dict().items():
        assert torch.equal(v, reloaded.model.state_dict()[k])


def test_truncated_bundle_is_refused(tmp_path):
    path = make_tiny_bundle(tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="truncated"):
        load_bundle(path)


def test_foreign_and_future_bundles_are_refused(tmp_path):
    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(2)}, str(foreign))
    with pytest.raises(BundleError, match="not a multirm-tools model bundle"):
        load_bundle(foreign)
    future = tmp_path / "future.safetensors"
    save_file({"x": torch.zeros(2)}, str(future),
              metadata={"multirm_bundle": json.dumps({"format": "multirm-bundle", "format_version": 99})})
    with pytest.raises(BundleError, match="format version 99"):
        load_bundle(future)
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "missing.safetensors")


def test_bundle_with_missing_weights_is_refused(tmp_path):
    cfg = ModelConfig(window=21, hidden=8, embedding="onehot", embedding_dim=64)
    model = MultiRMNet(cfg)
    path = tmp_path / "m.safetensors"
    save_bundle(path, Bundle(model, {c: np.array([0.1, 0.2]) for c in cfg.classes}))
    from safetensors import safe_open
    with safe_open(str(path), "pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys() if k != "model.head_b2"}
        meta = fh.metadata()
    save_file(tensors, str(path), metadata=meta)
    # The message names the missing tensor, not only load_state_dict's heading.
    with pytest.raises(BundleError, match=r"invalid model bundle: .*Missing key\(s\).*head_b2"):
        load_bundle(path)


def _w2v_members(n: int, embedding: torch.Tensor | None = None) -> list[MultiRMNet]:
    cfg = ModelConfig(window=21, hidden=6, embedding="word2vec", embedding_dim=10, attention_dim=4, head_hidden=5)
    torch.manual_seed(0)
    emb = torch.randn(cfg.vocab_size, 10) if embedding is None else embedding
    return [MultiRMNet(cfg, emb).eval() for _ in range(n)]


def test_ensemble_is_the_mean_probability_on_both_paths():
    members = _w2v_members(3)
    ens = EnsembleNet(members).eval()
    tokens = torch.randint(0, ens.config.vocab_size, (29, ens.config.n_tokens))
    with torch.no_grad():
        mean_p = torch.stack([torch.sigmoid(m(tokens)) for m in members]).mean(0)
        logits, attn = ens(tokens, return_attention=True)
        torch.testing.assert_close(torch.sigmoid(logits), mean_p, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(ens.scan_logits(tokens), logits, atol=1e-5, rtol=1e-5)
        mean_attn = torch.stack([m(tokens, return_attention=True)[1] for m in members]).mean(0)
        torch.testing.assert_close(attn, mean_attn)


def test_mean_probability_logit_stays_finite_at_saturation():
    logits = torch.tensor([[200.0, -200.0, 0.0], [100.0, -300.0, 2.0]])
    out = mean_probability_logit(logits)
    assert torch.all(torch.isfinite(out))
    assert out[0] > 99 and out[1] < -199  # mean of two near-certain probabilities stays near-certain
    p = torch.sigmoid(torch.tensor([0.0, 2.0])).mean()
    assert torch.isclose(out[2], torch.log(p / (1 - p)))


def test_ensemble_members_must_agree():
    with pytest.raises(ValueError, match="at least 1"):
        EnsembleNet([])
    a, = _w2v_members(1)
    b, = _w2v_members(1, embedding=torch.randn(65, 10))
    with pytest.raises(ValueError, match="member 2 has another embedding"):
        EnsembleNet([a, b])
    c = MultiRMNet(ModelConfig(window=21, hidden=7, embedding="word2vec", embedding_dim=10, attention_dim=4,
                               head_hidden=5), a.embedding.weight.clone())
    with pytest.raises(ValueError, match="member 2 has another model configuration"):
        EnsembleNet([a, c])


def _header(path) -> dict:
    from safetensors import safe_open
    with safe_open(str(path), "pt") as fh:
        return json.loads(fh.metadata()["multirm_bundle"])


def test_ensemble_bundle_round_trip(tmp_path):
    single = make_tiny_bundle(tmp_path / "one.safetensors", seed=3)
    path = make_tiny_bundle(tmp_path / "ens.safetensors", seed=3, members=3)
    # A single network stays format 1 (older releases read it); an ensemble is format 2.
    assert _header(single)["format_version"] == 1 and "members" not in _header(single)
    assert _header(path)["format_version"] == 2 and _header(path)["members"] == 3
    loaded = load_bundle(path)
    assert isinstance(loaded.model, EnsembleNet) and loaded.n_members == 3
    assert load_bundle(single).n_members == 1
    again = tmp_path / "again.safetensors"
    save_bundle(again, loaded)
    assert again.read_bytes() == path.read_bytes()
    # Member 1 of the ensemble is the single network made from the same seed.
    one = load_bundle(single).model.state_dict()
    first = loaded.model.members[0].state_dict()
    assert all(torch.equal(one[k], first[k]) for k in one)


@pytest.mark.parametrize("members", ["0", "true", "2.5", "3", "1000000000"])
def test_ensemble_bundle_with_a_bad_member_count_is_refused(tmp_path, members):
    path = make_tiny_bundle(tmp_path / "ens.safetensors", members=2)
    from safetensors import safe_open
    with safe_open(str(path), "pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    header = {**_header(path), "members": json.loads(members)}
    save_file(tensors, str(path), metadata={"multirm_bundle": json.dumps(header)})
    with pytest.raises(BundleError, match="invalid model bundle"):
        load_bundle(path)


def test_ensemble_bundle_with_unequal_embeddings_is_refused(tmp_path):
    path = tmp_path / "ens.safetensors"
    cfg = ModelConfig(window=21, hidden=6, embedding="word2vec", embedding_dim=10, attention_dim=4, head_hidden=5)
    save_bundle(path, Bundle(EnsembleNet(_w2v_members(2)), {c: np.array([0.1, 0.2]) for c in cfg.classes}))
    from safetensors import safe_open
    with safe_open(str(path), "pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        meta = fh.metadata()
    tensors["model.members.1.embedding.weight"] = tensors["model.members.1.embedding.weight"] + 1
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(BundleError, match="member 2 has another embedding"):
        load_bundle(path)


def _specialist_ensemble() -> EnsembleNet:
    """Two networks of every class and one of m6A alone (the default model's layout)."""
    shared = _w2v_members(2)
    cfg = shared[0].config
    torch.manual_seed(1)
    m6a = MultiRMNet(replace(cfg, classes=("m6A",)), shared[0].embedding.weight.clone()).eval()
    return EnsembleNet([*shared, m6a], classes=cfg.classes).eval()


def test_a_specialist_member_counts_only_for_its_class():
    ens = _specialist_ensemble()
    shared, m6a = list(ens.members[:2]), ens.members[2]
    c = ens.config.classes.index("m6A")
    tokens = torch.randint(0, ens.config.vocab_size, (17, ens.config.n_tokens))
    with torch.no_grad():
        logits, attn = ens(tokens, return_attention=True)
        out = [m(tokens, return_attention=True) for m in shared]
        sp_logit, sp_attn = m6a(tokens, return_attention=True)
        p_shared = torch.stack([torch.sigmoid(o[0]) for o in out])
        expected = p_shared.mean(0)
        expected[:, c] = (p_shared[:, :, c].sum(0) + torch.sigmoid(sp_logit[:, 0])) / 3
        torch.testing.assert_close(torch.sigmoid(logits), expected, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(ens.scan_logits(tokens), logits, atol=1e-5, rtol=1e-5)
        a_shared = torch.stack([o[1] for o in out])
        expected_attn = a_shared.mean(0)
        expected_attn[:, c] = (a_shared[:, :, c].sum(0) + sp_attn[:, 0]) / 3
        torch.testing.assert_close(attn, expected_attn)


def test_subset_runs_only_the_needed_members_with_bit_identical_scores(tmp_path):
    """The default model's layout: shared members without m6A, and an m6A network."""
    shared = _w2v_members(2)
    cfg = replace(shared[0].config, classes=tuple(c for c in shared[0].config.classes if c != "m6A"))
    torch.manual_seed(2)
    shared = [MultiRMNet(cfg, shared[0].embedding.weight.clone()).eval() for _ in range(2)]
    m6a = MultiRMNet(replace(cfg, classes=("m6A",)), shared[0].embedding.weight.clone()).eval()
    ens = EnsembleNet([*shared, m6a], classes=CLASS_NAMES).eval()
    tokens = torch.randint(0, ens.config.vocab_size, (23, ens.config.n_tokens))
    with torch.no_grad():
        full = ens.scan_logits(tokens)
        full_fwd = ens(tokens)
        for classes, members in [(["m6A"], [m6a]), (["Psi", "m5C"], shared), (["m6A", "Psi"], [*shared, m6a])]:
            sub = ens.subset(classes)
            assert list(sub.members) == members
            cols = [ens.config.classes.index(c) for c in classes]
            sub_cols = [sub.config.classes.index(c) for c in classes]
            # Bit for bit: a subset run reports exactly what a full run reports for those classes.
            assert torch.equal(sub.scan_logits(tokens)[:, sub_cols], full[:, cols])
            assert torch.equal(sub(tokens)[:, sub_cols], full_fwd[:, cols])
    assert ens.subset(["m6A", "Psi"]) is ens
    assert ens.subset(["m6A"]).config.classes == ("m6A",)
    with pytest.raises(ValueError, match="one-member ensemble"):
        save_bundle(tmp_path / "one.safetensors",
                    Bundle(ens.subset(["m6A"]), {"m6A": np.array([0.1, 0.2])}))
    assert not (tmp_path / "one.safetensors").exists()


def test_specialist_members_must_fit_the_ensemble():
    ens = _specialist_ensemble()
    shared, m6a = list(ens.members[:2]), ens.members[2]
    with pytest.raises(ValueError, match=r"member 1 predicts class\(es\) \['m6A'\]"):
        EnsembleNet([*shared, m6a], classes=tuple(c for c in ens.config.classes if c != "m6A"))
    with pytest.raises(ValueError, match=r"no ensemble member predicts class\(es\) \['Zz'\]"):
        EnsembleNet([*shared, m6a], classes=(*ens.config.classes, "Zz"))
    wider = MultiRMNet(replace(m6a.config, hidden=7), m6a.embedding.weight.clone())
    with pytest.raises(ValueError, match="member 3 has another model configuration"):
        EnsembleNet([*shared, wider])


def test_specialist_ensemble_bundle_round_trip(tmp_path):
    ens = _specialist_ensemble()
    path = tmp_path / "spec.safetensors"
    save_bundle(path, Bundle(ens, {c: np.array([0.1, 0.2]) for c in ens.config.classes}))
    header = _header(path)
    # Format 3 only where needed: older releases refuse it by its version, not by a cryptic weight error.
    assert header["format_version"] == 3 and header["members"] == 3
    assert header["member_classes"] == [list(ens.config.classes)] * 2 + [["m6A"]]
    loaded = load_bundle(path)
    assert [m.config.classes for m in loaded.model.members] == [m.config.classes for m in ens.members]
    tokens = torch.randint(0, ens.config.vocab_size, (9, ens.config.n_tokens))
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(tokens), ens(tokens))
    again = tmp_path / "again.safetensors"
    save_bundle(again, loaded)
    assert again.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("member_classes", [
    None,  # format 3 without the list: member 3 would get every class, and its weights do not fit
    "m6A",
    [["m6A"]],  # one list for three networks
    "ALL,ALL,Zz",  # a class the model does not have
    "ALL,ALL,",  # a network of no class
    "ALL,ALL,m6A m6A",
])
def test_specialist_bundle_with_bad_member_classes_is_refused(tmp_path, member_classes):
    ens = _specialist_ensemble()
    path = tmp_path / "spec.safetensors"
    save_bundle(path, Bundle(ens, {c: np.array([0.1, 0.2]) for c in ens.config.classes}))
    from safetensors import safe_open
    with safe_open(str(path), "pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    if isinstance(member_classes, str) and "," in member_classes:
        member_classes = [list(ens.config.classes) if m == "ALL" else m.split() for m in member_classes.split(",")]
    header = {**_header(path), "member_classes": member_classes}
    save_file(tensors, str(path), metadata={"multirm_bundle": json.dumps(header)})
    with pytest.raises(BundleError, match="invalid model bundle"):
        load_bundle(path)


def _header(path):
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as fh:
        return json.loads(fh.metadata()["multirm_bundle"])


def test_a_bilstm_bundle_stays_readable_by_older_releases(tmp_path):
    """No conv keys in a BiLSTM bundle's config and its old format version: releases before the
    architecture option read it (they refuse unknown config keys)."""
    header = _header(make_tiny_bundle(tmp_path / "b.safetensors"))
    assert header["format_version"] == 1
    assert not {"architecture", "kernel", "dilations"} & set(header["config"])
    assert ModelConfig.from_dict(header["config"]).architecture == "bilstm"


def test_conv_bundles_are_format_4_and_refused_below_it(tmp_path):
    from conftest import TINY_CONV
    from multirm_tools.model import DilatedConvNet
    path = make_tiny_bundle(tmp_path / "c.safetensors", **TINY_CONV)
    header = _header(path)
    assert header["format_version"] == 4 and header["config"]["architecture"] == "conv"
    assert isinstance(load_bundle(path).model, DilatedConvNet)
    # A header that claims an older version cannot carry a conv network.
    from safetensors.torch import load_file
    forged = tmp_path / "forged.safetensors"
    save_file(load_file(str(path)), str(forged),
              metadata={"multirm_bundle": json.dumps({**header, "format_version": 3})})
    with pytest.raises(BundleError, match="conv architecture needs format version 4, not 3"):
        load_bundle(forged)


def test_conv_bundle_with_composition_round_trips_and_one_without_omits_the_key(tmp_path):
    """A composition network's bundle reloads to the same scores; a conv bundle without the
    features leaves the key out, so releases that predate the option still read it."""
    from conftest import TINY_CONV
    plain = _header(make_tiny_bundle(tmp_path / "plain.safetensors", **TINY_CONV))
    assert "composition" not in plain["config"]
    path = make_tiny_bundle(tmp_path / "comp.safetensors", members=2, specialists=("m6A",),
                            classes=tuple(c for c in CLASS_NAMES if c != "m6A"), composition=6, **TINY_CONV)
    assert _header(path)["config"]["composition"] == 6
    a, b = load_bundle(path), load_bundle(path)
    assert all(m.config.composition == 6 for m in a.model.members)
    tokens = torch.as_tensor(tokenize(np.random.default_rng(1).integers(0, 4, (5, a.config.window)), a.config.k))
    torch.testing.assert_close(a.model(tokens), b.model(tokens), rtol=0, atol=0)
    # The composition weights are in the file: zeroing them moves the scores.
    with torch.no_grad():
        for m in b.model.members:
            m.head_wc.zero_()
    assert (a.model(tokens) - b.model(tokens)).abs().max() > 1e-4


def test_conv_bundle_with_position_weights_round_trips_and_one_without_omits_the_key(tmp_path):
    """An attention+position network's bundle reloads to the same scores, its position weights in
    the file; a conv bundle with attention alone leaves the key out (older releases read it)."""
    from conftest import TINY_CONV
    assert "pooling" not in _header(make_tiny_bundle(tmp_path / "plain.safetensors", **TINY_CONV))["config"]
    first = load_bundle(make_tiny_bundle(tmp_path / "pos0.safetensors", pooling="attention+position", **TINY_CONV))
    with torch.no_grad():  # trained-looking position weights (a new network's are zero)
        first.model.att_position.copy_(torch.randn(first.model.att_position.shape, generator=torch.Generator().manual_seed(1)))
    save_bundle(tmp_path / "pos.safetensors", first)
    assert _header(tmp_path / "pos.safetensors")["config"]["pooling"] == "attention+position"
    again = load_bundle(tmp_path / "pos.safetensors")
    assert again.config.pooling == "attention+position"
    torch.testing.assert_close(again.model.att_position, first.model.att_position, rtol=0, atol=0)
    tokens = torch.as_tensor(tokenize(np.random.default_rng(2).integers(0, 4, (5, again.config.window)), again.config.k))
    torch.testing.assert_close(again.model(tokens), first.model(tokens), rtol=0, atol=0)
    with torch.no_grad():
        again.model.att_position.zero_()
    assert (again.model(tokens) - first.model(tokens)).abs().max() > 1e-4
