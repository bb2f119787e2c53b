"""multirm-train: options map onto TrainConfig/ModelConfig, a tiny run writes a loadable bundle."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
import torch

from multirm_tools import train as train_module
from multirm_tools import train_options as spec
from multirm_tools.bundle import load_bundle
from multirm_tools.cli import train as cli
from multirm_tools.kmers import vocabulary
from multirm_tools.model import ModelConfig
from multirm_tools.sites import write_sites
from multirm_tools.train import TrainConfig
from synthetic import make_sites

CLASSES = ("m6A", "Psi", "m5C")


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    write_sites(make_sites(CLASSES, 12, length=41, seed=1, id_prefix="t"), d / "train.tsv.gz")
    write_sites(make_sites(("Am",), 4, length=41, seed=4, id_prefix="a"), d / "train_am.tsv")
    write_sites(make_sites(CLASSES, 6, length=31, seed=2, id_prefix="v"), d / "valid.tsv")
    rng = np.random.default_rng(0)
    with open(d / "emb.txt", "w") as fh:
        fh.write("64 5\n")
        for w in vocabulary(3)[1:]:
            fh.write(w + " " + " ".join(f"{x:.4f}" for x in rng.normal(size=5)) + "\n")
    return d


def test_every_config_field_has_one_option():
    names = [n for n, _, _ in spec.TRAIN_OPTIONS]
    assert len(names) == len(set(names))
    assert set(names) | spec.COMPUTE_FIELDS == {f.name for f in fields(TrainConfig)}
    assert {n for n, _, _ in spec.MODEL_OPTIONS} <= {f.name for f in fields(ModelConfig)}


def test_options_reach_the_configs(tables, tmp_path, monkeypatch):
    seen = {}

    def fake_train_model(train_df, valid_df, model_config, embedding, config, workdir, device, progress):
        seen.update(train=train_df, valid=valid_df, model=model_config, emb=embedding, cfg=config,
                    workdir=workdir, device=device)
        raise SystemExit(0)

    monkeypatch.setattr(cli, "train_model", fake_train_model)
    with pytest.raises(SystemExit):
        cli.main(["--train", str(tables / "train.tsv.gz"), str(tables / "train_am.tsv"),
                  "--valid", str(tables / "valid.tsv"), "--embedding", str(tables / "emb.txt"),
                  "--output", str(tmp_path / "m.safetensors"), "--classes", "N6-methyladenosine,Psi",
                  "--epochs", "3", "--lr", "0.01", "--no-uncertainty-weighting", "--class-balance",
                  "--ohem-keep", "1", "--max-rows-per-class", "7", "--class-max-rows", "psi=3, m6A=9",
                  "--class-cross-negatives", "m6a=0.25", "--precision", "bf16", "--batch-size", "16",
                  "--specialists", "N6-methyladenosine", "--specialist-epochs", "5",
                  "--specialist-cross-negatives", "0.3", "--specialist-selection-rows", "9",
                  "--distill", "teacher.safetensors", "--distill-weight", "0.25",
                  "--window", "21", "--hidden", "4", "--dropout", "0", "--kernel", "5", "--dilations", "1, 2",
                  "--composition", "7", "--pooling", "attention+position", "--device", "cpu"])
    cfg, model = seen["cfg"], seen["model"]
    assert (cfg.epochs, cfg.lr, cfg.uncertainty_weighting, cfg.class_balance, cfg.ohem_keep,
            cfg.max_rows_per_class, cfg.batch_size) == (3, 0.01, False, True, 1.0, 7, 16)
    assert cfg.class_max_rows == {"Psi": 3, "m6A": 9}  # aliases and any case, as --classes
    assert cfg.class_cross_negatives == {"m6A": 0.25} and cfg.cross_negatives == 0.0
    assert cfg.precision == "bf16"
    assert (cfg.specialists, cfg.specialist_epochs, cfg.specialist_cross_negatives,
            cfg.specialist_selection_rows) == (("m6A",), 5, 0.3, 9)
    assert (cfg.distill, cfg.distill_weight) == ("teacher.safetensors", 0.25)
    assert cfg.patience == TrainConfig().patience
    assert (model.window, model.hidden, model.dropout, model.classes) == (21, 4, 0.0, ("m6A", "Psi"))
    assert (model.architecture, model.kernel, model.dilations) == ("conv", 5, (1, 2))  # conv by default
    assert (model.composition, model.pooling) == (7, "attention+position")
    assert model.embedding == "word2vec" and model.embedding_dim == 5 and seen["emb"].shape == (65, 5)
    assert set(seen["train"]["modification"]) == {"m6A", "Psi"}  # Am and m5C rows dropped
    assert set(seen["valid"]["modification"]) == {"m6A", "Psi"}
    assert str(seen["workdir"]).endswith("m.safetensors.work")


@pytest.mark.parametrize("argv, code, text", [
    (["--ohem-keep", "0"], 2, "must be above 0"),
    (["--window", "20"], 2, "odd"),
    (["--window", "21"], 2, "receptive field (31 tokens) is wider than the window's 19 tokens"),
    (["--kernel", "4"], 2, "odd"),
    (["--dilations", "1,0"], 2, "must be"),
    (["--dilations", ","], 2, "at least one number"),
    (["--architecture", "transformer"], 2, "invalid choice: 'transformer'"),
    (["--class-max-rows", "m6A"], 2, "'m6A' is not CLASS=N"),
    (["--class-max-rows", "m6A=0"], 2, "must be >= 1"),
    (["--class-max-rows", "m9Z=5"], 2, "unknown modification 'm9Z'"),
    (["--classes", "m6A", "Psi", "--class-max-rows", "m5C=5"], 2, "(--class-max-rows) names class(es)"),
    (["--class-cross-negatives", "m6A"], 2, "'m6A' is not CLASS=R"),
    (["--class-cross-negatives", "m6A=-0.5"], 2, "must be >= 0"),
    (["--classes", "m6A", "Psi", "--class-cross-negatives", "m1A=1"], 2,
     "(--class-cross-negatives) names class(es)"),
    (["--precision", "fp16"], 2, "invalid choice: 'fp16'"),
    (["--composition", "-1"], 2, "--composition"),
    (["--architecture", "bilstm", "--composition", "4"], 2, "composition must be >= 0, and 0 unless"),
    (["--pooling", "position"], 2, "invalid choice: 'position'"),
    (["--architecture", "bilstm", "--pooling", "attention+position"], 2, "attention unless the architecture is conv"),
    (["--specialists", "m9Z"], 2, "unknown modification 'm9Z'"),
    (["--classes", "m6A", "Psi", "--specialists", "m5C"], 2, "(--specialists) names class(es)"),
    (["--specialist-epochs", "0"], 2, "must be"),
    (["--classes", "Am"], 1, "no validation rows"),
    (["--classes", "m1A"], 2, "no training rows for class(es) m1A"),
    (["--embedding", "missing.txt"], 1, "file not found"),
])
def test_bad_options(tables, tmp_path, capsys, argv, code, text):
    base = ["--train", str(tables / "train.tsv.gz"), str(tables / "train_am.tsv"), "--valid",
            str(tables / "valid.tsv"), "--embedding", "onehot", "--output", str(tmp_path / "m.safetensors")]
    try:
        rc = cli.main(base + argv)
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    assert rc == code
    assert text in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()


def test_tiny_training_run(tables, tmp_path):
    out = tmp_path / "m.safetensors"
    argv = ["--train", str(tables / "train.tsv.gz"), "--valid", str(tables / "valid.tsv"),
            "--embedding", "onehot", "--output", str(out), "--workdir", str(tmp_path / "w"),
            "--epochs", "2", "--batch-size", "64", "--window", "21", "--dilations", "1,2", "--hidden", "4",
            "--composition", "3",
            "--attention-dim", "4", "--head-hidden", "4", "--background-per-row", "0",
            "--device", "cpu", "--threads", "1", "--quiet"]
    assert cli.main(argv) == 0
    bundle = load_bundle(out)
    assert bundle.config.classes == ("m5C", "m6A", "Psi")  # registry order
    assert bundle.config.window == 21
    assert (bundle.config.architecture, bundle.config.dilations, bundle.config.composition) == ("conv", (1, 2), 3)
    assert bundle.config.embedding == "onehot"
    assert set(bundle.null_scores) == set(CLASSES)
    assert bundle.provenance["embedding"] == "onehot" and "--epochs 2" in bundle.provenance["command_line"]
    log = (tmp_path / "w" / "log.tsv").read_text().splitlines()
    assert len(log) == 3 and log[0].startswith("epoch\t")
    assert train_module.TrainConfig is TrainConfig
    # same workdir again: the finished run is resumed (no epoch re-run), same bundle
    assert cli.main(argv) == 0
    assert (tmp_path / "w" / "log.tsv").read_text().splitlines() == log
    again = load_bundle(out)
    for key, value in bundle.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[key])
