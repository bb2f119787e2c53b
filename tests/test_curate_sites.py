"""multirm-curate-sites on the generated genome, GTF and BEDs of test-data/curate/.

Windows are checked against the genome re-read here with plain Python (slice, reverse
complement), not through the tool's own genome access.
"""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from multirm_tools.bundle import load_bundle
from multirm_tools.cli import curate_sites as cli
from multirm_tools.cli import train as train_cli
from multirm_tools.constants import BY_NAME
from multirm_tools.sites import read_sites

DATA = Path(__file__).resolve().parents[1] / "test-data" / "curate"
COMP = str.maketrans("ACGTN", "TGCAN")
W = 101  # window used by most runs (the generated genome is small)
SMALL = ["--window", str(W), "--valid-size", "5", "--test-size", "3", "--quiet"]
# class -> (DRACH / BCA as a regex, index of the modified base in it)
MOTIFS = {"m6A": (re.compile("[AGT][AG]AC[ACT]"), 2), "m6Am": (re.compile("[CGT]CA"), 2)}


def revcomp(s: str) -> str:
    return s.translate(COMP)[::-1]


def read_genome(path: Path) -> dict[str, str]:
    genome, name = {}, None
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            genome[name] = ""
        else:
            genome[name] += line.strip().upper()
    return genome


def genome_window(genome: dict[str, str], chrom: str, pos: int, strand: str, width: int) -> str:
    half = width // 2
    seq = "".join(genome[chrom][p] if 0 <= p < len(genome[chrom]) else "N"
                  for p in range(pos - half, pos + half + 1))
    return revcomp(seq) if strand == "-" else seq


def read_bed(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", header=None, usecols=range(6),
                       names=["chrom", "start", "end", "name", "score", "strand"])


def read_gtf(path: Path) -> dict[str, tuple[str, str, list[tuple[int, int]]]]:
    tx: dict[str, tuple[str, str, list[tuple[int, int]]]] = {}
    for line in path.read_text().splitlines():
        f = line.split("\t")
        tid = re.search(r'transcript_id "([^"]+)"', f[8]).group(1)
        tx.setdefault(tid, (f[0], f[6], []))[2].append((int(f[3]) - 1, int(f[4])))
    return tx


def transcript_of(tx, chrom: str, pos: int, strand: str) -> str | None:
    for tid, (c, s, exons) in tx.items():
        if c == chrom and s == strand and any(a <= pos < b for a, b in exons):
            return tid
    return None


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """The generated inputs, copied so that the .fai index is not written into the repository."""
    d = tmp_path_factory.mktemp("curate_data")
    for name in ("genome.fa", "transcripts.gtf", "transcripts.bed", "sites.bed", "known.bed"):
        shutil.copyfile(DATA / name, d / name)
    return d


def run(data: Path, out: Path, *extra: str, sites: str = "sites.bed", annotation: bool = True) -> int:
    argv = ["--sites", str(data / sites), "--genome", str(data / "genome.fa"), "-o", str(out), *SMALL]
    if annotation:
        argv += ["--annotation", str(data / "transcripts.gtf"), "--exclude", str(data / "known.bed")]
    return cli.main(argv + list(extra))


def table(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "sites.tsv", sep="\t", keep_default_na=False)


@pytest.fixture(scope="module")
def transcript_run(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tx") / "out"
    assert run(data, out) == 0
    return out


@pytest.fixture(scope="module")
def genomic_run(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "out"
    assert run(data, out, "--sequence-space", "genomic") == 0
    return out


# ---------------------------------------------------------------------------------------------

def test_outputs_and_format(transcript_run):
    df = table(transcript_run)
    assert list(df.columns) == ["id", "modification", "label", "site", "sequence", "source", "split",
                                "chrom", "start", "strand", "edge"]
    shared = read_sites(transcript_run / "sites.tsv")  # the shared reader accepts it
    assert len(shared) == len(df) and (shared["site"] == W // 2).all()
    assert (df["sequence"].str.len() == W).all()
    for split in ("train", "valid", "test"):
        part = pd.read_csv(transcript_run / f"{split}.tsv", sep="\t", keep_default_na=False)
        assert part.equals(df[df["split"] == split].reset_index(drop=True))
    fasta = (transcript_run / "sites.fa").read_text().splitlines()
    assert fasta[0::2] == [f">{r.id} modification={r.modification} label={r.label} site={r.site} "
                           f"split={r.split} chrom={r.chrom} start={r.start} strand={r.strand} "
                           f"edge={r.edge}" for r in df.itertuples()]
    assert fasta[1::2] == list(df["sequence"])
    report = pd.read_csv(transcript_run / "report.tsv", sep="\t", keep_default_na=False)
    rows = report[report["category"] == "rows"]
    assert rows["count"].sum() == len(df)
    assert report.query("category == 'input sites'")["count"].sum() == len(read_bed(DATA / "sites.bed"))
    # every input site is a positive row or counted as dropped; every negative drawn is a row or dropped
    for lab, drawn in (("1", "input sites"), ("0", "negatives drawn")):
        dropped = report[(report["category"] == "dropped") & (report["label"].astype(str) == lab)]["count"].sum()
        assert report.query(f"category == '{drawn}'")["count"].sum() == dropped + (df["label"] == int(lab)).sum()


@pytest.mark.parametrize("space", ["transcript", "genomic"])
def test_positive_windows_centred_on_site_and_strand(space, transcript_run, genomic_run):
    out = transcript_run if space == "transcript" else genomic_run
    genome = read_genome(DATA / "genome.fa")
    bed = read_bed(DATA / "sites.bed")
    bed_keys = set(zip(bed["chrom"], bed["start"], bed["strand"], bed["name"]))
    pos = table(out).query("label == 1")
    assert len(pos) > 100 and set(pos["strand"]) == {"+", "-"}
    for r in pos.itertuples():
        assert (r.chrom, r.start, r.strand, r.modification) in bed_keys
        expected = genome_window(genome, r.chrom, r.start, r.strand, W)
        assert r.sequence[r.site] == BY_NAME[r.modification].base
        if space == "genomic":
            assert r.sequence == expected
        else:  # sites are >= 30 nt from exon ends: the central 51 nt are exonic (or padding at a TSS)
            for j in range(W // 2 - 25, W // 2 + 26):
                assert r.sequence[j] in ("N", expected[j])


def test_transcript_windows_are_spliced(transcript_run):
    """A window that crosses an exon junction holds the next exon, not the intron."""
    genome = read_genome(DATA / "genome.fa")
    tx = read_gtf(DATA / "transcripts.gtf")
    checked = 0
    for r in table(transcript_run).itertuples():
        chrom, strand, exons = tx[transcript_of(tx, r.chrom, r.start, r.strand)]
        spliced = "".join(genome[chrom][a:b] for a, b in sorted(exons))
        coords = [p for a, b in sorted(exons) for p in range(a, b)]
        if strand == "-":
            spliced, coords = revcomp(spliced), coords[::-1]
        i = coords.index(r.start)
        expected = "".join(spliced[j] if 0 <= j < len(spliced) else "N" for j in range(i - W // 2, i + W // 2 + 1))
        assert r.sequence == expected
        assert r.edge == int(i - W // 2 < 0 or i + W // 2 >= len(spliced))
        checked += expected != genome_window(genome, r.chrom, r.start, r.strand, W)
    assert checked > 0  # some windows really differ from the genomic ones


def test_negatives_same_base_same_transcript_never_known(transcript_run):
    df = table(transcript_run)
    tx = read_gtf(DATA / "transcripts.gtf")
    bed = read_bed(DATA / "sites.bed")
    known = read_bed(DATA / "known.bed")
    forbidden = set(zip(bed["chrom"], bed["start"], bed["strand"]))
    for k in known.itertuples():
        for p in range(k.start, k.end):
            for s in ("+", "-") if k.strand == "." else (k.strand,):
                forbidden.add((k.chrom, p, s))
    pos_tx = {(transcript_of(tx, r.chrom, r.start, r.strand), r.modification)
              for r in df.query("label == 1").itertuples()}
    neg = df.query("label == 0")
    assert len(neg) > 100
    for r in neg.itertuples():
        assert r.sequence[r.site] == BY_NAME[r.modification].base
        assert (r.chrom, r.start, r.strand) not in forbidden
        assert (transcript_of(tx, r.chrom, r.start, r.strand), r.modification) in pos_tx
    assert not neg.duplicated(["chrom", "start", "strand", "modification"]).any()


def test_negatives_without_annotation_near_their_positive(data, tmp_path):
    out = tmp_path / "out"
    assert run(data, out, "--negative-distance", "200", annotation=False) == 0
    df = table(out)
    genome = read_genome(DATA / "genome.fa")
    pos = df.query("label == 1")
    bed = read_bed(DATA / "sites.bed")  # a site whose window duplicates another's is dropped after the draw
    for r in df.query("label == 0").itertuples():
        near = bed[(bed["chrom"] == r.chrom) & (bed["strand"] == r.strand) &
                   (bed["name"] == r.modification) & ((bed["start"] - r.start).abs() <= 200)]
        assert len(near), r.id
        assert r.sequence == genome_window(genome, r.chrom, r.start, r.strand, W)
    # without annotation the three intronic Psi sites are kept (with it they are dropped)
    tx = read_gtf(DATA / "transcripts.gtf")
    assert sum(transcript_of(tx, r.chrom, r.start, r.strand) is None for r in pos.itertuples()) == 3


@pytest.mark.parametrize("space", ["transcript", "genomic"])
def test_motif_filters_hold_on_the_genome(space, transcript_run, genomic_run):
    """Motifs are read on the genome around the site (pre-mRNA; promoter bases for m6Am at a TSS)."""
    genome = read_genome(DATA / "genome.fa")
    df = table(transcript_run if space == "transcript" else genomic_run)
    for cls, (rx, offset) in MOTIFS.items():
        rows = df[df["modification"] == cls]
        assert len(rows) and set(rows["label"]) == {0, 1}
        for r in rows.itertuples():
            context = genome_window(genome, r.chrom, r.start, r.strand, 9)
            assert rx.match(context, 4 - offset), r.id
            if space == "genomic":
                assert rx.match(r.sequence, r.site - offset), r.id


def test_m6am_at_transcription_start_kept_in_transcript_space(transcript_run):
    df = table(transcript_run).set_index(["chrom", "start", "strand", "modification", "label"])
    for start, strand in ((200, "+"), (4799, "-")):  # first nucleotide of tx1 and of tx2
        r = df.loc[("chr1", start, strand, "m6Am", 1)]
        assert r["sequence"].startswith("N" * (W // 2)) and r["sequence"][W // 2] == "A" and r["edge"] == 1


def test_motif_options(transcript_run, data, tmp_path):
    df = table(transcript_run)
    report = pd.read_csv(transcript_run / "report.tsv", sep="\t", keep_default_na=False)
    assert report.query("detail == 'outside motif DRACH'")["count"].sum() == 4
    # lifted: the four non-DRACH m6A sites come back; changed: every m6A row holds GGACT
    assert run(data, tmp_path / "lift", "--no-motif", "m6A") == 0
    lifted = table(tmp_path / "lift").query("modification == 'm6A' and label == 1")
    assert len(lifted) == len(df.query("modification == 'm6A' and label == 1")) + 4
    assert run(data, tmp_path / "rac", "--motif", "m6A=RaC", "--motif", "Psi=UUc") == 2  # c is no U
    assert run(data, tmp_path / "rac", "--motif", "m6A=RaC") == 0
    genome = read_genome(DATA / "genome.fa")
    rows = table(tmp_path / "rac").query("modification == 'm6A'")
    assert set(rows["label"]) == {0, 1} and len(rows) >= len(df.query("modification == 'm6A'"))
    for r in rows.itertuples():
        assert re.fullmatch("[AG]AC", genome_window(genome, r.chrom, r.start, r.strand, 3)), r.id


def test_no_central_kmer_group_crosses_splits_and_splits_are_balanced(transcript_run):
    df = table(transcript_run)
    kmer = df["sequence"].str.slice(W // 2 - 25, W // 2 + 26) + "|"
    splits = df.groupby(kmer)["split"].nunique()
    assert (splits == 1).all()
    assert (df.groupby(kmer).size() > 1).sum() >= 3  # the repeat's sites really share k-mers
    counts = df.groupby(["split", "modification", "label"]).size()
    for cls in ("m6A", "m6Am", "Psi", "m5C"):
        for lab in (0, 1):
            assert counts[("valid", cls, lab)] == 5 and counts[("test", cls, lab)] == 3
    assert not df.duplicated(["sequence", "modification", "label"]).any()


def test_same_seed_same_bytes_other_seed_differs(data, transcript_run, tmp_path):
    assert run(data, tmp_path / "again") == 0
    for name in ("sites.tsv", "sites.fa", "report.tsv", "train.tsv", "valid.tsv", "test.tsv"):
        assert (tmp_path / "again" / name).read_bytes() == (transcript_run / name).read_bytes(), name
    assert run(data, tmp_path / "seed1", "--seed", "1") == 0
    assert (tmp_path / "seed1" / "sites.tsv").read_bytes() != (transcript_run / "sites.tsv").read_bytes()


def test_annotation_formats_and_gz_genome_agree(data, transcript_run, tmp_path):
    argv = ["--sites", str(data / "sites.bed"), "--exclude", str(data / "known.bed"), *SMALL]
    assert cli.main(argv + ["--genome", str(data / "genome.fa"), "--annotation",
                            str(data / "transcripts.bed"), "-o", str(tmp_path / "bed12")]) == 0
    with open(data / "genome.fa", "rb") as src, gzip.open(tmp_path / "genome.fa.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert cli.main(argv + ["--genome", str(tmp_path / "genome.fa.gz"), "--annotation",
                            str(data / "transcripts.gtf"), "-o", str(tmp_path / "gz")]) == 0
    expected = table(transcript_run).drop(columns="source")
    assert table(tmp_path / "bed12").drop(columns="source").equals(expected)
    assert table(tmp_path / "gz").drop(columns="source").equals(expected)


def test_read_only_genome_folder_indexes_elsewhere(data, transcript_run, tmp_path, monkeypatch):
    """pyfaidx cannot write the .fai beside the FASTA (a Galaxy dataset): it goes to a temp folder."""
    import pyfaidx

    ro = tmp_path / "ro"
    ro.mkdir()
    shutil.copyfile(data / "genome.fa", ro / "genome.fa")
    real = pyfaidx.Fasta
    seen = []

    def fasta(path, indexname=None, **kw):
        seen.append(indexname)
        if indexname is None:  # what pyfaidx raises when the .fai is not writable
            raise OSError(f"{path}.fai may not be writable.")
        return real(path, indexname=indexname, **kw)

    monkeypatch.setattr(pyfaidx, "Fasta", fasta)
    argv = ["--sites", str(data / "sites.bed"), "--genome", str(ro / "genome.fa"), "--annotation",
            str(data / "transcripts.gtf"), "--exclude", str(data / "known.bed"), "-o",
            str(tmp_path / "out"), *SMALL]
    assert cli.main(argv) == 0
    assert seen[0] is None and seen[1] and not Path(seen[1]).exists()  # temporary index removed
    assert sorted(p.name for p in ro.iterdir()) == ["genome.fa"]
    assert (tmp_path / "out" / "sites.tsv").read_bytes() == (transcript_run / "sites.tsv").read_bytes()


def test_modification_per_file(data, tmp_path):
    bed = read_bed(DATA / "sites.bed")
    psi = bed[bed["name"] == "Psi"].assign(name=[f"peak{i}" for i in range((bed["name"] == "Psi").sum())])
    psi.to_csv(tmp_path / "psi.bed", sep="\t", header=False, index=False)
    bed[bed["name"] == "m5C"].to_csv(tmp_path / "m5c.bed", sep="\t", header=False, index=False)
    argv = ["--sites", str(tmp_path / "psi.bed"), str(tmp_path / "m5c.bed"), "--genome",
            str(data / "genome.fa"), "-o", str(tmp_path / "out"), *SMALL]
    assert cli.main(argv + ["--classes", "pseudouridine,m5C"]) == 0
    assert set(table(tmp_path / "out")["modification"]) == {"Psi", "m5C"}
    assert cli.main(argv + ["--classes", "Psi,m5C,m6A"]) == 2
    assert cli.main(argv + ["--classes", "Psi,m8Q"]) == 2


def test_edge_windows_are_padded_and_flagged(data, tmp_path):
    genome = read_genome(DATA / "genome.fa")
    (tmp_path / "edge.bed").write_text("".join(
        f"chr3\t{p}\t{p + 1}\tm5C\t0\t{s}\n" for p, s in ((i, "+") for i in range(3, 60) if genome["chr3"][i] == "C")
    ) + "".join(f"chr3\t{p}\t{p + 1}\tm5C\t0\t-\n" for p in range(2950, 3000) if genome["chr3"][p] == "G"))
    out = tmp_path / "out"
    assert cli.main(["--sites", str(tmp_path / "edge.bed"), "--genome", str(data / "genome.fa"),
                     "-o", str(out), *SMALL]) == 0
    df = table(out)
    for r in df.itertuples():
        assert r.sequence == genome_window(genome, r.chrom, r.start, r.strand, W)
        padded = r.start - W // 2 < 0 or r.start + W // 2 >= len(genome["chr3"])
        assert r.edge == int(padded)
    assert df["edge"].sum() >= 10 and (df["edge"] == 0).any()  # both cases occur
    minus = df.query("label == 1 and strand == '-'")
    # the 3' end of chr3 is the 5' end of a minus-strand window: the padding leads
    assert len(minus) and all(s.startswith("N" * (p + W // 2 - 2999)) and s[p + W // 2 - 2999] != "N"
                              for s, p in zip(minus["sequence"], minus["start"]))


# ---------------------------------------------------------------------------------------------
# errors: one line naming file, record and problem; exit 1; nothing written

def _bad(data: Path, tmp_path: Path, capsys, text: str, *extra: str) -> str:
    (tmp_path / "bad.bed").write_text(text)
    out = tmp_path / "out"
    rc = cli.main(["--sites", str(tmp_path / "bad.bed"), "--genome", str(data / "genome.fa"),
                   "-o", str(out), *SMALL, *extra])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and err.startswith("multirm-curate-sites: error: ")
    assert not out.exists()
    return err


@pytest.mark.parametrize("text, message", [
    ("chr1\t250\t251\tm6A\t0\t+\nchr3\t3000\t3001\tPsi\t0\t+\n",
     "bad.bed: line 2: site chr3:3000-3001 is outside chr3 (length 3000) in genome.fa"),
    ("chr1\t250\t251\tm6A\t0\t+\nchrZ\t10\t11\tm6A\t0\t+\n",
     "bad.bed: line 2: chromosome 'chrZ' is not in genome.fa"),
    ("1\t250\t251\tm6A\t0\t+\n",
     "bad.bed: line 1: chromosome '1' is not in genome.fa (it has 'chr1': the files name chromosomes differently)"),
    ("track name=x\n# nothing\n\n", "bad.bed: no sites (empty BED file)"),
    ("chr1\t250\t251\tm6A\t0\n", "bad.bed: line 1: a sites BED needs 6 tab-separated columns"),
    ("chr1\tx\t251\tm6A\t0\t+\n", "bad.bed: line 1: not a BED line"),
    ("chr1\t250\t252\tm6A\t0\t+\n", "bad.bed: line 1: site chr1:250-252 is 2 nt"),
    ("chr1\t250\t251\tm6A\t0\t.\n", "bad.bed: line 1: strand '.' must be '+' or '-'"),
    ("chr1\t250\t251\tm8Q\t0\t+\n", "bad.bed: line 1: unknown modification 'm8Q'"),
])
def test_bad_bed(data, tmp_path, capsys, text, message):
    assert message in _bad(data, tmp_path, capsys, text)


def test_off_by_one_bed_fails_the_base_check(data, tmp_path, capsys):
    """BED is 0-based half-open: a BED written 1-based (start + 1) is refused, with counts."""
    bed = read_bed(DATA / "sites.bed")
    shifted = bed.assign(start=bed["start"] + 1, end=bed["end"] + 1)
    text = shifted.to_csv(sep="\t", header=False, index=False)
    err = _bad(data, tmp_path, capsys, text)
    n = int(re.search(r"error: (\d+) site\(s\) whose base", err).group(1))
    assert 0 < n <= len(bed)
    assert re.search(r"bad\.bed m6A: \d+ of 50 \(expected A\)", err) and "--drop-mismatched" in err
    # dropped instead: counted in the report, the rest kept
    assert cli.main(["--sites", str(tmp_path / "bad.bed"), "--genome", str(data / "genome.fa"),
                     "-o", str(tmp_path / "drop"), "--drop-mismatched", *SMALL]) == 0
    report = pd.read_csv(tmp_path / "drop" / "report.tsv", sep="\t", keep_default_na=False)
    assert report[report["detail"].str.startswith("base mismatch")]["count"].sum() == n
    assert (table(tmp_path / "drop").query("label == 1")).shape[0] <= len(bed) - n


@pytest.mark.parametrize("extra, code, text", [
    (["--sequence-space", "transcript"], 2, "--sequence-space transcript needs --annotation"),
    (["--window", "100"], 2, "--window 100: must be an odd number"),
    (["--group-k", "201"], 2, "--group-k 201: must be odd and at most the window"),
    (["--motif", "m6A=GGACTT"], 2, "mark the modified base with one lower-case letter"),
    (["--labelled", "x.tsv"], 2, "cannot be combined"),
])
def test_bad_options(data, tmp_path, capsys, extra, code, text):
    rc = cli.main(["--sites", str(data / "sites.bed"), "--genome", str(data / "genome.fa"),
                   "-o", str(tmp_path / "out"), *SMALL, *extra])
    assert rc == code and text in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# import mode and training

def test_import_labelled_fasta_and_table(transcript_run, tmp_path):
    # the tool's own FASTA re-imported: same rows, same grouping rule
    out = tmp_path / "fa"
    assert cli.main(["--labelled", str(transcript_run / "sites.fa"), "-o", str(out), "--quiet",
                     "--valid-size", "5", "--test-size", "3"]) == 0
    df = table(out)
    ref = table(transcript_run)
    # without a genome motifs are read on the window: m6Am at a TSS has its BCA upstream, outside it
    assert set(ref["id"]) - set(df["id"]) == {"m6Am:site:chr1:200:+", "m6Am:site:chr1:4799:-"}
    assert set(df["id"]) <= set(ref["id"]) and (df["chrom"] == "NA").all()
    ref = ref[ref["id"].isin(df["id"])]
    kmer = df["sequence"].str.slice(W // 2 - 25, W // 2 + 26)
    assert (df.groupby(kmer)["split"].nunique() == 1).all()
    # a table with a repeated row (new id) and a shorter window: de-duplicated, re-centred
    tsv = ref[["id", "modification", "label", "site", "sequence"]]
    tsv = pd.concat([tsv, tsv.iloc[:4].assign(id=lambda d: d["id"] + "_copy")])
    tsv.to_csv(tmp_path / "in.tsv", sep="\t", index=False)
    assert cli.main(["--labelled", str(tmp_path / "in.tsv"), "-o", str(tmp_path / "tsv"), "--quiet",
                     "--window", "41", "--group-k", "21", "--valid-size", "5", "--test-size", "3"]) == 0
    df = table(tmp_path / "tsv")
    # windows distinct at 101 nt may be identical at 41 nt (the repeat): those are duplicates too
    n_dup = ref.assign(w=ref["sequence"].str.slice(30, 71)).duplicated(["w", "modification", "label"]).sum()
    assert len(df) == len(ref) - n_dup and (df["sequence"].str.len() == 41).all() and (df["site"] == 20).all()
    report = pd.read_csv(tmp_path / "tsv" / "report.tsv", sep="\t", keep_default_na=False)
    assert report.query("detail == 'duplicate window'")["count"].sum() == 4 + n_dup
    # headers without a label are refused
    (tmp_path / "bad.fa").write_text(">r1 modification=m6A\nGGACT\n")
    assert cli.main(["--labelled", str(tmp_path / "bad.fa"), "-o", str(tmp_path / "bad")]) == 1
    assert not (tmp_path / "bad").exists()


def test_output_feeds_multirm_train(transcript_run, tmp_path):
    model = tmp_path / "m.safetensors"
    assert train_cli.main(["--train", str(transcript_run / "train.tsv"), "--valid",
                           str(transcript_run / "valid.tsv"), "--embedding", "onehot", "--output", str(model),
                           "--workdir", str(tmp_path / "w"), "--epochs", "1", "--batch-size", "64",
                           "--window", "21", "--dilations", "1,2", "--hidden", "4", "--attention-dim", "4",
                           "--head-hidden", "4", "--background-per-row", "0", "--device", "cpu", "--threads", "1",
                           "--quiet"]) == 0
    assert load_bundle(model).config.classes == ("m5C", "m6A", "m6Am", "Psi")


# ---------------------------------------------------------------------------------------------
# more inputs and options

def test_gff3_annotation_agrees_with_gtf(data, transcript_run, tmp_path):
    lines = ["##gff-version 3"]
    for tid, (chrom, strand, exons) in read_gtf(DATA / "transcripts.gtf").items():
        lo, hi = min(a for a, _ in exons), max(b for _, b in exons)
        lines.append(f"{chrom}\ttest\tmRNA\t{lo + 1}\t{hi}\t.\t{strand}\t.\tID={tid}")
        lines += [f"{chrom}\ttest\texon\t{a + 1}\t{b}\t.\t{strand}\t.\tID={tid}.e{k};Parent={tid}"
                  for k, (a, b) in enumerate(exons)]
    (tmp_path / "tx.gff3").write_text("\n".join(lines) + "\n")
    assert cli.main(["--sites", str(data / "sites.bed"), "--genome", str(data / "genome.fa"),
                     "--annotation", str(tmp_path / "tx.gff3"), "--exclude", str(data / "known.bed"),
                     "-o", str(tmp_path / "out"), *SMALL]) == 0
    assert (tmp_path / "out" / "sites.tsv").read_bytes() == (transcript_run / "sites.tsv").read_bytes()


def test_negative_ratio_and_whole_record(data, tmp_path):
    out = tmp_path / "out"
    assert run(data, out, "--negative-ratio", "2", "--negative-distance", "0", annotation=False) == 0
    report = pd.read_csv(out / "report.tsv", sep="\t", keep_default_na=False)
    drawn = report.query("category == 'negatives drawn'").set_index("modification")["count"]
    kept = table(out).query("label == 1").groupby("modification").size()
    assert drawn["m5C"] == 2 * kept["m5C"]  # no m5C site is dropped or duplicated
    df = table(out)
    for _, rows in df.groupby("modification"):
        pos = set(zip(rows.query("label == 1")["chrom"], rows.query("label == 1")["strand"]))
        assert set(zip(rows.query("label == 0")["chrom"], rows.query("label == 0")["strand"])) <= pos


def test_default_split_sizes_scale_down_for_small_classes(data, tmp_path):
    out = tmp_path / "out"
    assert cli.main(["--sites", str(data / "sites.bed"), "--genome", str(data / "genome.fa"),
                     "--annotation", str(data / "transcripts.gtf"), "-o", str(out), "--window", "101",
                     "--quiet"]) == 0
    df = table(out)
    counts = df.groupby(["split", "modification", "label"]).size()
    for cls, n in df.query("label == 1").groupby("modification").size().items():
        for lab in (0, 1):  # 150 and 50 asked; each class has fewer than 2 * 200 sites
            assert counts.get(("valid", cls, lab), 0) == 150 * n // 400
            assert counts.get(("test", cls, lab), 0) == 50 * n // 400
    report = pd.read_csv(out / "report.tsv", sep="\t", keep_default_na=False)
    assert set(report.query("category == 'split sizes reduced'")["modification"]) == {"m5C", "m6A", "m6Am", "Psi"}


def test_parse_motif_and_exclusion():
    from multirm_tools.curate import Exclusion, Motif, parse_motif

    assert parse_motif("m6A=DRaCH") == ("m6A", Motif("DRACH", 2))
    assert parse_motif("pseudouridine=GuUCG") == ("Psi", Motif("GTTCG", 1))
    assert parse_motif("m5C=GCG") == ("m5C", Motif("GCG", 1))
    for bad in ("m6A", "m6A=DRACHH", "m6A=DraCH", "m6A=DRcCH", "m6A=DRaXH", "m9Z=A"):
        with pytest.raises(Exception, match="motif|modification"):
            parse_motif(bad)
    assert Motif("DRACH", 2).holds("GGACT", 2) and not Motif("DRACH", 2).holds("GGACT", 1)
    assert list(Motif("DRACH", 2).sites("TTGGACTGAACA")) == [4, 9]
    ex = Exclusion([("c", "+", 10, 12), ("c", "+", 11, 15), ("c", ".", 20, 21)])
    import numpy as np
    coords = np.arange(8, 23)
    assert list(coords[ex.mask("c", "+", coords)]) == [10, 11, 12, 13, 14, 20]
    assert list(coords[ex.mask("c", "-", coords)]) == [20]
    assert not ex.mask("d", "+", coords).any()


def test_annotation_with_other_chromosome_names(data, tmp_path, capsys):
    (tmp_path / "tx.gtf").write_text((data / "transcripts.gtf").read_text().replace("chr", ""))
    rc = cli.main(["--sites", str(data / "sites.bed"), "--genome", str(data / "genome.fa"), "--annotation",
                   str(tmp_path / "tx.gtf"), "-o", str(tmp_path / "out")])
    assert rc == 1 and "tx.gtf: none of its chromosomes (1, 2, 3, ...) is in genome.fa" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()



@pytest.mark.parametrize("start, end", [(0, 700), (700, 201)])
def test_gtf_exon_with_bad_coordinates_is_an_error(data, tmp_path, capsys, start, end):
    # GTF is 1-based and inclusive: start 0 once made all-N windows of the wrong width, end < start
    # dropped the exon silently.
    lines = (data / "transcripts.gtf").read_text().splitlines()
    i = next(k for k, ln in enumerate(lines) if "\texon\t" in ln)
    cells = lines[i].split("\t")
    cells[3], cells[4] = str(start), str(end)
    lines[i] = "\t".join(cells)
    (tmp_path / "tx.gtf").write_text("\n".join(lines) + "\n")
    rc = cli.main(["--sites", str(data / "sites.bed"), "--genome", str(data / "genome.fa"), "--annotation",
                   str(tmp_path / "tx.gtf"), "-o", str(tmp_path / "out")])
    assert rc == 1 and f"tx.gtf: line {i + 1}: bad exon {start}-{end}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

@pytest.mark.parametrize("fasta, message", [
    (None, "genome.fa: no such file"),
    (">chr1\nACGTACGT\nACG\nACGTACGT\n",
     "genome.fa: cannot index the FASTA (Line length of fasta file is not consistent"),
    (">chr1\nACGTACGTAC\n>chr1\nACGT\n", "genome.fa: cannot index the FASTA (Duplicate key"),
    (">chr1\nACGTAC*TACGT\n", "genome.fa: record 'chr1' position 7: '*' is not a nucleotide code"),
])
def test_bad_genome(tmp_path, capsys, fasta, message):
    if fasta is not None:
        (tmp_path / "genome.fa").write_text(fasta)
    (tmp_path / "s.bed").write_text("chr1\t1\t2\tm5C\t0\t+\n")
    rc = cli.main(["--sites", str(tmp_path / "s.bed"), "--genome", str(tmp_path / "genome.fa"),
                   "-o", str(tmp_path / "out"), "--window", "5", "--group-k", "3"])
    err = capsys.readouterr().err
    assert rc == 1 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


MULTIRM_VALID = Path(__file__).resolve().parents[2] / "shared" / "data" / "multirm" / "valid.tsv.gz"


@pytest.mark.shared_data
@pytest.mark.skipif(not MULTIRM_VALID.exists(), reason="../shared/data is absent")
def test_import_multirm_validation_split(tmp_path):
    """MultiRM's own validation split re-split: every input row is kept or counted, no leak."""
    out = tmp_path / "out"
    assert cli.main(["--labelled", str(MULTIRM_VALID), "-o", str(out), "--quiet", "--valid-size", "30",
                     "--test-size", "10"]) == 0
    df = table(out)
    report = pd.read_csv(out / "report.tsv", sep="\t", keep_default_na=False)
    assert len(df) + report.query("category == 'dropped'")["count"].sum() == len(read_sites(MULTIRM_VALID))
    kmer = [s[i - 25:i + 26] for s, i in zip(df["sequence"], df["site"])]
    assert (df.groupby(pd.Series(kmer, index=df.index))["split"].nunique() == 1).all()
