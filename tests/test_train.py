"""Training behaviour: the loss, OHEM, uncertainty weighting, determinism and resume."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from multirm_tools import train as train_mod
from multirm_tools.bundle import save_bundle
from multirm_tools.errors import InputError, UsageError
from multirm_tools.inference import score_windows
from multirm_tools.kmers import centre_windows, encode
from multirm_tools.model import EnsembleNet, ModelConfig
from multirm_tools.train import MultiTaskLoss, TrainConfig, build_examples, train_model

from synthetic import make_sites

CLASSES = ("m6A", "Psi", "m5C")
SMALL = dict(window=21, hidden=8, embedding="onehot", embedding_dim=64, attention_dim=8, head_hidden=8,
             classes=CLASSES)


def tables():
    train = make_sites(CLASSES, n_per_class=60, length=61, seed=1)
    valid = make_sites(CLASSES, n_per_class=20, length=61, seed=2, id_prefix="v")
    return train, valid


CONV = dict(SMALL, architecture="conv", dilations=(1, 2))


def fit(tmp_path, name="w", epochs=3, model=SMALL, train=None, **kw):
    default_train, valid = tables()
    cfg = TrainConfig(epochs=epochs, batch_size=32, lr=1e-2, patience=10, background_per_row=1, **kw)
    return train_model(default_train if train is None else train, valid, ModelConfig(**model), None, cfg,
                       tmp_path / name, progress=False)


def test_uncertainty_weights_reach_the_optimiser(tmp_path):
    fit(tmp_path, epochs=2)
    log = pd.read_csv(tmp_path / "w" / "log.tsv", sep="\t")
    logvars = log[[f"logvar_{c}" for c in CLASSES]].to_numpy()
    assert np.all(np.abs(logvars[-1]) > 1e-4), "log variances never moved: not optimised"


def test_uncertainty_weighting_off_keeps_weights_fixed(tmp_path):
    fit(tmp_path, epochs=1, uncertainty_weighting=False)
    log = pd.read_csv(tmp_path / "w" / "log.tsv", sep="\t")
    assert np.all(log[[f"logvar_{c}" for c in CLASSES]].to_numpy() == 0)


def test_rows_per_epoch_capped_per_class():
    train, _ = tables()
    ex = build_examples(train, CLASSES, 21, background_per_row=1, seed=0)
    sizes = {c: int((ex.cls == i).sum()) for i, c in enumerate(CLASSES)}
    cfg = TrainConfig(max_rows_per_class=50, class_max_rows={"Psi": 10, "m5C": 10_000})
    _, cls, _, _ = train_mod.epoch_examples(ex, CLASSES, cfg, epoch=0)
    got = {c: int((cls == i).sum()) for i, c in enumerate(CLASSES)}
    assert got == {"m6A": 50, "Psi": 10, "m5C": sizes["m5C"]}
    # Only the overrides: the other classes keep every row.
    _, cls, _, _ = train_mod.epoch_examples(ex, CLASSES, TrainConfig(class_max_rows={"Psi": 10}), epoch=0)
    assert {c: int((cls == i).sum()) for i, c in enumerate(CLASSES)} == {**sizes, "Psi": 10}


def test_ohem_keeps_only_the_hardest_examples():
    loss_fn = MultiTaskLoss(2, ohem_keep=0.5, uncertainty_weighting=False)
    # Class 0, four examples, all label 1: logits 5 and 4 are easy, -3 and -4 are hard.
    logits = torch.tensor([[5.0, 0], [4.0, 0], [-3.0, 0], [-4.0, 0]], requires_grad=True)
    cls = torch.zeros(4, dtype=torch.long)
    label = torch.ones(4)
    loss = loss_fn(logits, cls, label)
    loss.backward()
    grad = logits.grad[:, 0]
    assert torch.all(grad[:2] == 0), "easy examples still contribute"
    assert torch.all(grad[2:] != 0)
    expected = torch.nn.functional.softplus(torch.tensor([3.0, 4.0])).mean()
    assert torch.isclose(loss, expected)


def test_missing_class_contributes_no_loss():
    loss_fn = MultiTaskLoss(3, ohem_keep=1.0, uncertainty_weighting=True)
    logits = torch.randn(6, 3, requires_grad=True)
    cls = torch.tensor([0, 0, 0, 2, 2, 2])  # class 1 absent from this batch
    label = torch.tensor([1.0, 0, 1, 0, 1, 0])
    loss = loss_fn(logits, cls, label)
    loss.backward()
    assert torch.all(logits.grad[:, 1] == 0)
    assert loss_fn.log_vars.grad[1] == 0, "absent class's uncertainty term still in the loss"
    assert loss_fn.log_vars.grad[0] != 0 and loss_fn.log_vars.grad[2] != 0
    # Changing the absent class's logits changes nothing.
    other = logits.detach().clone()
    other[:, 1] += 100
    assert torch.isclose(loss_fn(other, cls, label), loss.detach())


def test_background_negatives_sit_on_the_class_base_away_from_the_site():
    df = make_sites(("Psi",), n_per_class=5, length=201, seed=3)
    ex = build_examples(df, ("Psi",), 21, background_per_row=3, seed=0)
    assert len(ex.label) == len(df) * 4
    assert np.all(ex.windows[:, 10] == encode("T")[0])
    bg = ex.label[len(df):]
    assert np.all(bg == 0)


def test_cross_negatives_are_other_classes_sites_on_the_same_base():
    df = make_sites(("m6A", "m1A", "AtoI", "Psi"), n_per_class=10, length=61, seed=4)
    df = df[~((df["modification"] == "AtoI") & (df["label"] == 1) & (df.index % 2 == 0))]  # 5 AtoI sites
    classes = ("m6A", "m1A", "AtoI", "Psi")
    plain = build_examples(df, classes, 21, background_per_row=0, seed=0)
    ex = build_examples(df, classes, 21, background_per_row=0, seed=0, cross_negatives=1.5)
    extra = slice(len(plain.cls), None)
    cls, label, wins = ex.cls[extra], ex.label[extra], ex.windows[extra]
    assert np.all(label == 0)
    # round(1.5 x own sites), at most the other A classes' sites; Psi has no other U class.
    assert [int((cls == i).sum()) for i in range(4)] == [15, 15, 8, 0]
    sites = {c: {plain.windows[j].tobytes() for j in np.flatnonzero((plain.cls == i) & (plain.label == 1))}
             for i, c in enumerate(classes)}
    for w, c in zip(wins, cls):
        donor = [d for d in classes if w.tobytes() in sites[d]]
        assert donor and classes[c] not in donor and all(d != "Psi" for d in donor)
    again = build_examples(df, classes, 21, background_per_row=0, seed=0, cross_negatives=1.5)
    np.testing.assert_array_equal(again.windows, ex.windows)


def test_class_cross_negatives_override_the_rate_per_class():
    df = make_sites(("m6A", "m1A", "AtoI"), n_per_class=10, length=61, seed=4)
    classes = ("m6A", "m1A", "AtoI")
    plain = build_examples(df, classes, 21, background_per_row=0, seed=0)
    counts = {}
    for rate, per_class in ((0.0, {"m6A": 0.5}), (1.0, {"m1A": 0.0, "AtoI": 0.2})):
        ex = build_examples(df, classes, 21, background_per_row=0, seed=0, cross_negatives=rate,
                            class_cross_negatives=per_class)
        extra = ex.cls[len(plain.cls):]
        counts[rate] = [int((extra == i).sum()) for i in range(3)]
    # 10 sites per class: m6A alone gets 5; then m6A keeps the global 1 per site, m1A none, AtoI 2.
    assert counts == {0.0: [5, 0, 0], 1.0: [10, 0, 2]}


def test_class_cross_negatives_must_name_model_classes(tmp_path):
    df = make_sites(("m6A", "m1A"), n_per_class=10, length=41, seed=4)
    cfg = TrainConfig(epochs=1, class_cross_negatives={"Psi": 1.0})
    with pytest.raises(UsageError, match="class_cross_negatives.*Psi"):
        train_model(df, df, ModelConfig(**dict(SMALL, classes=("m6A", "m1A"))), None, cfg, tmp_path, progress=False)


def test_cross_negatives_teach_a_class_apart_from_a_lookalike(tmp_path):
    """m1A sites here carry m6A's motif plus a mark of their own: without cross negatives the m6A
    head takes them for m6A sites; with them it learns that the mark means "not m6A"."""
    classes = ("m6A", "m1A")

    def lookalike(seed, prefix):
        df = make_sites(classes, n_per_class=100, length=41, seed=seed, id_prefix=prefix)
        m1a = (df["modification"] == "m1A") & (df["label"] == 1)
        df.loc[m1a, "sequence"] = [s[:18] + "GGACT" + "CCCC" + s[27:] for s in df.loc[m1a, "sequence"]]
        return df

    train, valid = lookalike(1, ""), lookalike(2, "v")
    small = dict(SMALL, classes=classes, hidden=16, attention_dim=16, head_hidden=16)
    windows = centre_windows([encode(s) for s in valid["sequence"]], valid["site"].to_numpy(), 21)
    m6a, m1a = (((valid["modification"] == c) & (valid["label"] == 1)).to_numpy() for c in classes)
    mean_m6a_score = {}
    for r in (0.0, 1.0):
        cfg = TrainConfig(epochs=8, batch_size=32, lr=5e-3, patience=10, background_per_row=0, cross_negatives=r)
        b = train_model(train, valid, ModelConfig(**small), None, cfg, tmp_path / str(r), progress=False)
        s = score_windows(b.model, windows)[:, 0]
        mean_m6a_score[r] = (s[m6a].mean(), s[m1a].mean())
    (site_0, lookalike_0), (site_1, lookalike_1) = mean_m6a_score[0.0], mean_m6a_score[1.0]
    assert site_0 > 0.8 and lookalike_0 > 0.5, mean_m6a_score
    assert site_1 > 0.8 and lookalike_1 < 0.2, mean_m6a_score


def test_same_seed_same_model_other_seed_differs(tmp_path):
    a = fit(tmp_path, "a", epochs=2)
    b = fit(tmp_path, "b", epochs=2)
    c = fit(tmp_path, "c", epochs=2, seed=1)
    sa, sb, sc = (m.model.state_dict() for m in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    for cls in CLASSES:
        np.testing.assert_array_equal(a.null_scores[cls], b.null_scores[cls])


def test_resume_after_kill_continues_the_same_run(tmp_path, monkeypatch):
    whole = fit(tmp_path, "whole", epochs=4)
    real_save = train_mod._save_checkpoint
    calls = []

    def save_then_die(path, state):
        real_save(path, state)
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed right after epoch 2's checkpoint

    monkeypatch.setattr(train_mod, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path, "killed", epochs=4)
    monkeypatch.setattr(train_mod, "_save_checkpoint", real_save)
    resumed = fit(tmp_path, "killed", epochs=4)
    log = pd.read_csv(tmp_path / "killed" / "log.tsv", sep="\t")
    assert log["epoch"].tolist() == [1, 2, 3, 4]
    sw, sr = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(sw[k], sr[k]) for k in sw)


def test_finished_run_extended_with_more_epochs_equals_the_longer_run(tmp_path):
    whole = fit(tmp_path, "whole", epochs=4)
    fit(tmp_path, "short", epochs=2)  # finished: its bundle is the best of 2 epochs
    extended = fit(tmp_path, "short", epochs=4)  # same workdir, --epochs raised
    assert pd.read_csv(tmp_path / "short" / "log.tsv", sep="\t")["epoch"].tolist() == [1, 2, 3, 4]
    # Epoch 4's weights (the checkpoint's, not the best epoch's) and every epoch's score agree.
    lw, le = (torch.load(tmp_path / n / "checkpoint.pt", weights_only=True)["model"] for n in ("whole", "short"))
    assert all(torch.equal(lw[k], le[k]) for k in lw)
    logs = [pd.read_csv(tmp_path / n / "log.tsv", sep="\t")["valid_mean_auc"] for n in ("whole", "short")]
    pd.testing.assert_series_equal(*logs)
    sw, se = whole.model.state_dict(), extended.model.state_dict()
    assert all(torch.equal(sw[k], se[k]) for k in sw)


@pytest.mark.parametrize("other", [{"ohem_keep": 0.5}, {"precision": "bf16"}])
def test_resume_refuses_other_options(tmp_path, other):
    fit(tmp_path, "w", epochs=1)
    with pytest.raises(Exception, match="other options"):
        fit(tmp_path, "w", epochs=1, **other)


def test_resume_from_a_checkpoint_older_than_an_option(tmp_path):
    fit(tmp_path, "w", epochs=1)
    path = tmp_path / "w" / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=True)
    del ckpt["train_config"]["class_max_rows"]  # as written before the option existed
    torch.save(ckpt, path)
    with pytest.raises(Exception, match="other options"):
        fit(tmp_path, "w", epochs=2, class_max_rows={"Psi": 5})
    fit(tmp_path, "w", epochs=2)  # the option at its default: the same run, resumed
    assert pd.read_csv(tmp_path / "w" / "log.tsv", sep="\t")["epoch"].tolist() == [1, 2]


def planted_aucs(bundle) -> dict[str, float]:
    """Each class's AUC of fresh planted-motif sites against their background."""
    valid = make_sites(CLASSES, n_per_class=30, length=61, seed=5, id_prefix="t")
    codes = [encode(s) for s in valid["sequence"]]
    scores = score_windows(bundle.model, centre_windows(codes, valid["site"].to_numpy(), 21))
    out = {}
    for j, cls in enumerate(CLASSES):
        m = (valid["modification"] == cls).to_numpy()
        out[cls] = roc_auc_score(valid["label"][m], scores[m, j])
    return out


def assert_learns_planted_motifs(bundle) -> None:
    """Each class's head separates fresh planted-motif sites from their background (AUC > 0.8)."""
    for cls, auc in planted_aucs(bundle).items():
        assert auc > 0.8, cls


def test_conv_network_learns_planted_motifs(tmp_path):
    bundle = fit(tmp_path, epochs=12, model=CONV)
    assert bundle.config.architecture == "conv"
    assert_learns_planted_motifs(bundle)


def _teacher(tmp_path, flipped: bool = False):
    """A BiLSTM bundle on disk; ``flipped``: trained on inverted labels (it calls the background sites)."""
    train, _ = tables()
    if flipped:
        train = train.assign(label=1 - train["label"])
    bundle = fit(tmp_path, "teacher_flipped" if flipped else "teacher", epochs=12, train=train)
    path = tmp_path / ("flipped.safetensors" if flipped else "teacher.safetensors")
    save_bundle(path, bundle)
    return path


def test_distillation_fits_the_teachers_probabilities(tmp_path):
    """With weight 1 the targets are the teacher's alone: a teacher trained on inverted labels
    gives a student that ranks the sites below their background, although its rows are labelled."""
    student = fit(tmp_path, "student", epochs=12, model=CONV, distill=str(_teacher(tmp_path, flipped=True)),
                  distill_weight=1.0)
    assert all(auc < 0.2 for auc in planted_aucs(student).values())
    cached = np.load(tmp_path / "student" / "teacher.npy")
    assert cached.min() >= 0 and cached.max() <= 1 and cached.std() > 0.1


def test_distillation_with_weight_zero_is_training_on_the_labels(tmp_path):
    plain = fit(tmp_path, "plain", epochs=2, model=CONV)
    zero = fit(tmp_path, "zero", epochs=2, model=CONV, distill=str(_teacher(tmp_path)), distill_weight=0.0)
    a, b = plain.model.state_dict(), zero.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_distillation_refuses_a_teacher_of_another_window_or_classes(tmp_path):
    teacher = _teacher(tmp_path)
    with pytest.raises(InputError, match="window is 21 nt, the model's 31"):
        fit(tmp_path, "w31", epochs=1, model=dict(CONV, window=31), distill=str(teacher))
    train, _ = tables()
    other = train.assign(modification=train["modification"].replace({"m5C": "Cm"}))
    ex = build_examples(other, ("m6A", "Psi", "Cm"), 21, background_per_row=0, seed=0)
    with pytest.raises(InputError, match="the teacher does not predict class.*Cm"):
        train_mod.teacher_probabilities(teacher, ex, ("m6A", "Psi", "Cm"), "cpu")


def test_training_learns_planted_motifs_and_calibrates(tmp_path):
    bundle = fit(tmp_path, epochs=12)
    assert_learns_planted_motifs(bundle)
    for cls in CLASSES:
        null = bundle.null_scores[cls]
        assert null.size > 0 and np.all(np.diff(null) >= 0)
        assert 0 <= bundle.thresholds[cls] <= 1


def test_bf16_training_learns_the_motifs_deterministically_and_stores_fp32(tmp_path):
    bf16 = fit(tmp_path, "bf16", epochs=12, precision="bf16")
    again = fit(tmp_path, "again", epochs=12, precision="bf16")
    fp32 = fit(tmp_path, "fp32", epochs=12)
    sb, sa, sf = (b.model.state_dict() for b in (bf16, again, fp32))
    assert all(torch.equal(sb[k], sa[k]) for k in sb)  # same seed, same CPU, same model
    assert not all(torch.equal(sb[k], sf[k]) for k in sb)  # the training passes did run in bf16
    assert all(v.dtype != torch.bfloat16 for v in sb.values())
    assert bf16.provenance["train_config"]["precision"] == "bf16"
    assert_learns_planted_motifs(bf16)


def test_unknown_precision_is_refused(tmp_path):
    with pytest.raises(InputError, match="precision.*fp32, bf16.*'fp16'"):
        fit(tmp_path, epochs=1, precision="fp16")


def test_ensemble_members_are_the_seeded_single_runs_averaged(tmp_path):
    one = fit(tmp_path, "one", epochs=2)
    ens = fit(tmp_path, "ens", epochs=2, members=2)
    assert isinstance(ens.model, EnsembleNet) and len(ens.model.members) == 2
    # Member 1 is exactly the single run of the same seed; member 2 differs (seed + 1).
    s1, s0 = ens.model.members[0].state_dict(), one.model.state_dict()
    assert all(torch.equal(s1[k], s0[k]) for k in s0)
    s2 = ens.model.members[1].state_dict()
    assert not all(torch.equal(s1[k], s2[k]) for k in s0)
    assert [m["seed"] for m in ens.provenance["members"]] == [0, 1]
    # Scores are the mean of the members' probabilities.
    valid = make_sites(CLASSES, n_per_class=10, length=61, seed=5, id_prefix="t")
    wins = centre_windows([encode(s) for s in valid["sequence"]], valid["site"].to_numpy(), 21)
    each = [score_windows(m, wins) for m in ens.model.members]
    np.testing.assert_allclose(score_windows(ens.model, wins), np.mean(each, axis=0), rtol=1e-5, atol=1e-6)
    # One log with every member's epochs.
    log = pd.read_csv(tmp_path / "ens" / "log.tsv", sep="\t")
    assert log[["member", "epoch"]].values.tolist() == [[1, 1], [1, 2], [2, 1], [2, 2]]
    # Calibrated on the ensemble's own scores, from the same held-out rows as the single run.
    assert ens.provenance["n_calibration_rows"] == one.provenance["n_calibration_rows"]
    assert not all(np.array_equal(ens.null_scores[c], one.null_scores[c]) for c in CLASSES)


def test_specialist_table_carves_selection_rows_and_relabels_other_sites():
    fit_df = make_sites(("m6A", "m1A", "Psi"), n_per_class=100, length=61, seed=3)
    rows, selection = train_mod.specialist_table(fit_df, "m6A", 0.25, 4000, seed=0)
    own = fit_df[fit_df["modification"] == "m6A"]
    assert len(selection) == len(own) // 10  # at most a tenth of its rows
    assert set(selection["id"]) <= set(own["id"]) and not set(selection["id"]) & set(rows["id"])
    assert set(rows["modification"]) == {"m6A"}
    cross = rows[rows["id"].str.startswith("cross:")]
    fitted_sites = int((rows["label"] == 1).sum())
    assert len(cross) == round(0.25 * fitted_sites) and (cross["label"] == 0).all()
    # Other A modifications' sites only (m1A), never U sites (Psi) or their background.
    donors = fit_df.set_index("id").loc[cross["id"].str.split(":", n=2).str[2]]
    assert set(donors["modification"]) == {"m1A"} and (donors["label"] == 1).all()
    assert list(donors["sequence"]) == list(cross["sequence"])
    assert len(rows) == len(own) - len(selection) + len(cross)


def test_a_specialist_network_learns_its_class_beside_the_shared_ones(tmp_path):
    bundle = fit(tmp_path, "spec", epochs=10, members=2, specialists=("m6A",), specialist_epochs=6)
    nets = bundle.model.members
    assert [m.config.classes for m in nets] == [("Psi", "m5C"), ("Psi", "m5C"), ("m6A",)]
    assert bundle.config.classes == CLASSES
    assert [m["classes"] for m in bundle.provenance["members"]] == [["Psi", "m5C"]] * 2 + [["m6A"]]
    assert_learns_planted_motifs(bundle)
    log = pd.read_csv(tmp_path / "spec" / "log.tsv", sep="\t")
    assert log.loc[log["member"] == 3, "epoch"].tolist() == list(range(1, 7))  # no early stop
    assert log.loc[log["member"] == 3, "auc_Psi"].isna().all()
    # Rerun on its workdir: every network resumes finished, the same model comes back.
    again = fit(tmp_path, "spec", epochs=10, members=2, specialists=("m6A",), specialist_epochs=6)
    a, b = bundle.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_specialists_must_be_model_classes(tmp_path):
    with pytest.raises(UsageError, match=r"specialists \(--specialists\).*\['m1A'\]"):
        fit(tmp_path, epochs=1, specialists=("m1A",))


def test_ensemble_progress_lines_name_the_member(tmp_path, capsys):
    train, valid = tables()
    cfg = TrainConfig(epochs=2, batch_size=32, lr=1e-2, patience=10, background_per_row=1, members=2)
    train_model(train, valid, ModelConfig(**SMALL), None, cfg, tmp_path / "p", progress=True)
    out = capsys.readouterr()
    lines = [ln for ln in (out.out + out.err).splitlines() if ": loss " in ln]
    assert [ln.split(":")[0] for ln in lines] == [f"member {m}/2 epoch {e}" for m in (1, 2) for e in (1, 2)]


def test_ensemble_resumes_a_killed_member(tmp_path, monkeypatch):
    whole = fit(tmp_path, "whole", epochs=2, members=2)
    real_save = train_mod._save_checkpoint
    calls = []

    def save_then_die(path, state):
        real_save(path, state)
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt  # member 2 killed after its first epoch

    monkeypatch.setattr(train_mod, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path, "killed", epochs=2, members=2)
    assert calls[-1].parent.name == "member2"
    monkeypatch.setattr(train_mod, "_save_checkpoint", real_save)
    resumed = fit(tmp_path, "killed", epochs=2, members=2)
    sw, sr = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(sw[k], sr[k]) for k in sw)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_runs_on_cuda(tmp_path, precision):
    train, valid = tables()
    cfg = TrainConfig(epochs=1, batch_size=32, background_per_row=1, precision=precision)
    bundle = train_model(train, valid, ModelConfig(**SMALL), None, cfg, tmp_path / "g", device="cuda",
                         progress=False)
    assert next(bundle.model.parameters()).device.type == "cpu"
