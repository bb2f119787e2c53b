"""multirm-variants with the bundled model on MultiRM's validation sites (skips without ../shared/data).

Each site row's window is a transcript of its own (``--transcriptome``): changing the centre base of
a site the model calls significant must give ``site_destroyed`` for that class, every time; changing
a DRACH core base (R at -1 or C at +1) of an m6A site it calls significant should mostly give
``loss``. Calls here use p-values alone (``--fdr 1``): q-values are over every score of the run,
nearly all of them positions of the windows that are not sites, so at q <= 0.05 few sites of so small
a sample remain. The shares are printed (``pytest -s``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from multirm_tools.cli import variants
from multirm_tools.constants import CLASS_NAMES
from multirm_tools.sites import read_sites

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT.parent / "shared" / "data" / "multirm" / "valid.tsv.gz"
PER_CLASS = 25  # sites per class: the whole test takes a minute or two with the BiLSTM model
FLANK = 60  # nt kept on each side of the site: more than half the bundled model's window

pytestmark = [pytest.mark.shared_data, pytest.mark.skipif(not VALID.exists(), reason="../shared/data is absent")]


def _swap(base: str) -> str:
    return {"A": "G", "G": "A", "C": "T", "T": "C"}[base]


@pytest.fixture(scope="module")
def sites_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("variants_real")
    df = read_sites(VALID)
    df = df[df["label"] == 1].groupby("modification").head(PER_CLASS).reset_index(drop=True)
    records, vcf = [], []
    for i, row in df.iterrows():
        seq = row["sequence"][row["site"] - FLANK:row["site"] + FLANK + 1]
        name = f"s{i}_{row['modification']}"
        records.append(f">{name}\n{seq}\n")
        centre = seq[FLANK]
        vcf.append((name, FLANK + 1, f"centre_{i}", centre, _swap(centre)))
        if row["modification"] == "m6A" and seq[FLANK - 1] in "AG" and seq[FLANK + 1] == "C":
            vcf.append((name, FLANK, f"drach_r_{i}", seq[FLANK - 1], "C" if seq[FLANK - 1] == "A" else "T"))
            vcf.append((name, FLANK + 2, f"drach_c_{i}", "C", "A"))
    (d / "sites.fa").write_text("".join(records))
    # one contig per site: the VCF's contigs are in FASTA order, positions sorted within each
    order = {name: k for k, name in enumerate(r[0] for r in vcf)}
    vcf.sort(key=lambda r: (order[r[0]], r[1]))
    (d / "sites.vcf").write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" +
                                 "".join(f"{c}\t{p}\t{i}\t{r}\t{a}\t.\tPASS\t.\n" for c, p, i, r, a in vcf))
    assert variants.main([str(d / "sites.vcf"), str(d / "sites.fa"), "-o", str(d / "out"), "--transcriptome",
                          "--threads", "2", "--fdr", "1"]) == 0
    rows = pd.read_csv(d / "out" / "variants.tsv", sep="\t")
    return df, rows


def test_changing_the_centre_base_destroys_every_significant_site(sites_run):
    df, rows = sites_run
    at_site = rows[rows["id"].str.startswith("centre_") & (rows["position"] == FLANK + 1)].copy()
    at_site["cls_of_row"] = [df.loc[int(x.split("_")[1]), "modification"] for x in at_site["id"]]
    own = at_site[at_site["modification"] == at_site["cls_of_row"]]
    significant = own[own["ref_p_value"] <= 0.05]
    shares = significant.groupby("modification").size() / PER_CLASS
    print("\nshare of validation sites significant on the reference, per class:\n" + shares.round(2).to_string())
    print(f"all classes: {len(significant)} of {len(df)}")
    assert len(significant) >= 0.25 * len(df)  # a sample worth checking
    assert (significant["call"] == "site_destroyed").all()
    assert set(significant["modification"]) <= set(CLASS_NAMES)


def test_breaking_drach_mostly_loses_the_m6a_site(sites_run):
    df, rows = sites_run
    drach = rows[rows["id"].str.startswith("drach_") & (rows["modification"] == "m6A") &
                 (rows["position"] == FLANK + 1)]
    significant = drach[drach["ref_p_value"] <= 0.05]
    share = float(np.mean(significant["call"] == "loss")) if len(significant) else float("nan")
    print(f"\nDRACH core changes of significant m6A sites called loss: {share:.2f} of {len(significant)}")
    assert len(significant) >= 10
    assert share > 0.5
