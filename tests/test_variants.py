"""multirm-variants: VCF reading, positions checked against scans of the edited sequence, calls on
planted motifs, the annotated VCF, strands from an annotation, and bad input."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_CONV, make_tiny_bundle
from planted import CONV_CONFIG, planted_bundle

from multirm_tools.bundle import load_bundle
from multirm_tools.cli import variants
from multirm_tools.curate import reverse_complement
from multirm_tools.kmers import encode
from multirm_tools.scan import scan_codes
from multirm_tools.vcf import read_vcf, trim

HEADER = ["##fileformat=VCFv4.2", "##contig=<ID=c1>", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]


def write_vcf(path, records, gz=False):
    text = "\n".join(HEADER + ["\t".join(map(str, r)) for r in records]) + "\n"
    if gz:
        from Bio import bgzf

        with bgzf.BgzfWriter(str(path), "wb") as fh:
            fh.write(text.encode())
    else:
        path.write_text(text)
    return path


def write_genome(path, contigs):
    path.write_text("".join(f">{k}\n{v}\n" for k, v in contigs.items()))
    return path


def other(base):
    return "A" if base != "A" else "C"


def run(tmp_path, vcf, genome, model, *extra, name="out"):
    out = tmp_path / name
    rc = variants.main([str(vcf), str(genome), "-o", str(out), "--model", str(model), "--threads", "1", *extra])
    return rc, out


def test_trim_and_read(tmp_path):
    assert trim(9, "A", "G") == (9, 10, "G")
    assert trim(9, "A", "AT") == (10, 10, "T")
    assert trim(9, "ACT", "A") == (10, 12, "")
    assert trim(9, "ACGT", "AGGT") == (10, 11, "G")
    vcf = write_vcf(tmp_path / "v.vcf", [("c1", 5, "rs1", "a", "G,<DEL>,*", ".", ".", "."),
                                         ("c1", 5, ".", "A", "A,T", ".", ".", "."),
                                         ("c1", 9, ".", "A", "A" + "T" * 60, ".", ".", "."),
                                         ("c2", 1, ".", "C", ".", ".", ".", ".")])
    v = read_vcf(vcf)
    assert [(a.record, a.line, a.alt) for a in v.alleles] == [(0, 4, "G"), (1, 5, "T")]
    assert v.records == 4 and v.skipped == {"symbolic": 1, "star": 1, "no_change": 1, "long_indel": 1, "no_alt": 1}
    assert not v.gzipped and read_vcf(write_vcf(tmp_path / "v.vcf.gz", [("c1", 5, ".", "A", "G", ".", ".", ".")],
                                                gz=True)).gzipped


@pytest.mark.parametrize("records, message", [
    ([("c1", 9, ".", "A", "G", ".", ".", "."), ("c1", 5, ".", "A", "G", ".", ".", ".")], "line 5: unsorted: c1:5 after c1:9"),
    ([("c1", 5, ".", "A", "G", ".", ".", "."), ("c2", 5, ".", "A", "G", ".", ".", "."),
      ("c1", 7, ".", "A", "G", ".", ".", ".")], "line 6: unsorted: contig 'c1' again"),
    ([("c1", "x", ".", "A", "G", ".", ".", ".")], "line 4: POS 'x' is not a positive integer"),
    ([("c1", 5, ".", "A", "G", ".", ".")], "line 4: 7 tab-separated columns"),
    ([("c1", 5, ".", "A", "Q", ".", ".", ".")], "line 4: ALT 'Q' is neither"),
])
def test_bad_vcf_lines_name_the_line(tmp_path, tiny_bundle, records, message, capsys):
    genome = write_genome(tmp_path / "g.fa", {"c1": "A" * 50, "c2": "A" * 50})
    rc, out = run(tmp_path, write_vcf(tmp_path / "v.vcf", records), genome, tiny_bundle)
    err = capsys.readouterr().err
    assert rc == 1 and message in err and "v.vcf" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_ref_mismatch_and_missing_contig(tmp_path, tiny_bundle, capsys):
    genome = write_genome(tmp_path / "g.fa", {"c1": "ACGT" * 20})
    vcf = write_vcf(tmp_path / "v.vcf", [("c1", 2, ".", "C", "T", ".", ".", "."),
                                         ("c1", 3, ".", "A", "T", ".", ".", ".")])
    rc, out = run(tmp_path, vcf, genome, tiny_bundle)
    assert rc == 1 and "line 5: REF A does not match g.fa at c1:3 (G)" in capsys.readouterr().err
    assert not out.exists()
    rc, out = run(tmp_path, vcf, genome, tiny_bundle, "--skip-mismatched")
    run_json = json.loads((out / "run.json").read_text())
    assert rc == 0 and run_json["counts"]["skipped"]["ref_mismatch"] == 1 and run_json["counts"]["alleles_scored"] == 1
    vcf = write_vcf(tmp_path / "w.vcf", [("chrZ", 2, ".", "C", "T", ".", ".", ".")])
    rc, out = run(tmp_path, vcf, genome, tiny_bundle, name="z")
    assert rc == 1 and "w.vcf: line 4: contig 'chrZ' is not in g.fa" in capsys.readouterr().err
    assert not out.exists()


def _scan_plus(model, seq, strand, classes):
    """Probabilities of every position of ``seq`` read on ``strand``, in + strand order."""
    codes = encode(reverse_complement(seq) if strand == "-" else seq)
    probs = np.concatenate([c.probs for c in scan_codes(model, codes, classes)])
    return probs[::-1] if strand == "-" else probs


@pytest.fixture(scope="module")
def edited(tmp_path_factory):
    """A tiny conv model, a genome, and a VCF of SNVs, an MNV and indels (also at the contig ends),
    run with every position written."""
    d = tmp_path_factory.mktemp("variants_exact")
    model = make_tiny_bundle(d / "conv.safetensors", **TINY_CONV)
    rng = np.random.default_rng(3)
    contigs = {"c1": "".join(rng.choice(list("ACGT"), 400)), "c2": "".join(rng.choice(list("ACGT"), 120))}
    c1, c2 = contigs["c1"], contigs["c2"]
    records = [("c1", 1, "s0", c1[0], other(c1[0]), ".", ".", "."),        # first base
               ("c1", 40, "s1", c1[39], other(c1[39]), ".", ".", "."),     # SNV
               ("c1", 90, "m1", c1[89:92], other(c1[89]) + c1[90] + other(c1[91]), ".", ".", "."),  # MNV
               ("c1", 150, "i1", c1[149], c1[149] + "GAC", ".", ".", "."),  # insertion
               ("c1", 220, "d1", c1[219:225], c1[219], ".", ".", "."),      # deletion
               ("c1", 300, "x1", c1[299:302], "TG", ".", ".", "."),         # complex
               ("c2", 118, "e1", c2[117:120], c2[117], ".", ".", ".")]      # deletion reaching the end
    genome = write_genome(d / "g.fa", contigs)
    vcf = write_vcf(d / "v.vcf", records)
    out = d / "out"
    assert variants.main([str(vcf), str(genome), "-o", str(out), "--model", str(model), "--threads", "1",
                          "--min-delta", "0", "--alpha", "1", "--fdr", "1"]) == 0
    rows = pd.read_csv(out / "variants.tsv", sep="\t", keep_default_na=False, na_values=["NA"])
    return d, model, contigs, read_vcf(vcf), rows


def test_every_row_is_the_scan_of_the_edited_sequence(edited):
    """Brute force: scan the whole reference and the whole edited contig on each strand; each row's
    probabilities are those positions', and the rows are all the positions whose window changed."""
    _, model_path, contigs, vcf, rows = edited
    model = load_bundle(model_path).model
    classes = list(model.config.classes)
    half = model.config.window // 2
    assert set(rows["strand"]) == {"+", "-"}
    for a in vcf.alleles:
        ref_seq = contigs[a.chrom]
        alt_seq = ref_seq[:a.start] + a.inserted + ref_seq[a.end:]
        shift = len(a.inserted) - (a.end - a.start)
        for strand in "+-":
            ref_p = _scan_plus(model, ref_seq, strand, classes)
            alt_p = _scan_plus(model, alt_seq, strand, classes)
            mine = rows[(rows["id"] == a.id) & (rows["strand"] == strand)]
            want_ref = []
            for p in range(max(0, a.start - half), min(len(ref_seq), a.end + half)):
                q = p if p < a.start else p + shift if p >= a.end else (p if p - a.start < len(a.inserted) else None)
                for j, c in enumerate(classes):
                    r = ref_p[p, j]
                    alt = alt_p[q, j] if q is not None else np.nan
                    if not (np.isnan(r) and np.isnan(alt)):
                        want_ref.append((p + 1, c, r, alt))
            got = mine[mine["ref_base"] != "-"]
            assert len(got) == len(want_ref), (a, strand)
            got = got.sort_values(["position", "modification"])
            want = pd.DataFrame(want_ref, columns=["position", "modification", "r", "a"]).sort_values(
                ["position", "modification"])
            assert got["position"].tolist() == want["position"].tolist()
            assert got["modification"].tolist() == want["modification"].tolist()
            np.testing.assert_allclose(got["ref_probability"], want["r"], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(got["alt_probability"], want["a"], rtol=1e-5, atol=1e-6)
            # inserted bases beyond the replaced ones: the alternative's own positions, as a set
            extra = range(a.start + (a.end - a.start), a.start + len(a.inserted))
            want_ins = sorted(x for q in extra for x in alt_p[q] if not np.isnan(x))
            np.testing.assert_allclose(sorted(mine[mine["ref_base"] == "-"]["alt_probability"]), want_ins, rtol=1e-5)
            # and no position outside the range changed: windows that miss the allele score the same
            for p in (a.start - half - 1, a.end + half):
                if 0 <= p < len(ref_seq) and 0 <= p + (shift if p >= a.end else 0) < len(alt_seq):
                    np.testing.assert_allclose(ref_p[p], alt_p[p + (shift if p >= a.end else 0)], rtol=1e-5)


def test_bases_are_read_on_the_rows_strand(edited):
    _, _, _, vcf, rows = edited
    snv = next(a for a in vcf.alleles if a.id == "s1")
    at = rows[(rows["id"] == "s1") & (rows["position"] == snv.pos)]
    plus = at[at["strand"] == "+"].iloc[0]
    minus = at[at["strand"] == "-"].iloc[0]
    to_rna = str.maketrans("T", "U")
    assert plus["ref_base"] == snv.ref.translate(to_rna) and plus["alt_base"] == snv.alt.translate(to_rna)
    assert minus["ref_base"] == reverse_complement(snv.ref).translate(to_rna)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The planted-motif conv network (m6A on GGACT) and a genome with planted sites."""
    d = tmp_path_factory.mktemp("variants_planted")
    bundle = planted_bundle(d / "conv.safetensors", seed=0, **CONV_CONFIG)
    rng = np.random.default_rng(5)
    seq = list(rng.choice(list("CGT"), 1200))  # no A: no m6A candidate except the planted ones
    sites = {"a": 100, "b": 300, "c": 500}
    for s in sites.values():
        seq[s - 2:s + 3] = list("GGACT")
    seq[700 - 2:700 + 3] = list("GGAGT")  # one change from GGACT: a site to create
    sites["far"] = 1000  # a POS (1-based) far from every site
    sites["far_ref"] = seq[999]
    genome = write_genome(d / "g.fa", {"chr1": "".join(seq)})
    return d, bundle, genome, sites


def test_calls_on_planted_sites(planted, tmp_path):
    _, bundle, genome, sites = planted
    vcf = write_vcf(tmp_path / "v.vcf", [
        ("chr1", sites["a"] + 1, "centre", "A", "G", ".", ".", "."),      # the modified A itself
        ("chr1", sites["b"] - 1, "core", "G", "T", ".", ".", "."),        # GGACT -> GTACT
        ("chr1", 700 + 2, "create", "G", "C", ".", ".", "."),             # GGAGT -> GGACT
        ("chr1", 1000, "far", sites["far_ref"], other(sites["far_ref"]), ".", ".", ".")])
    rc, out = run(tmp_path, vcf, genome, bundle, "--classes", "m6A", "--annotation",
                  str(write_bed12(tmp_path / "tx.bed", "chr1", 0, 1200, "+")))
    assert rc == 0
    rows = pd.read_csv(out / "variants.tsv", sep="\t")
    calls = rows[rows["call"] != "none"]
    by_id = {k: set(zip(g["position"], g["call"])) for k, g in calls.groupby("id")}
    assert by_id.get("centre") == {(sites["a"] + 1, "site_destroyed")}
    assert by_id.get("core") == {(sites["b"] + 1, "loss")}
    assert by_id.get("create") == {(701, "gain")}
    assert "far" not in set(rows["id"])  # no call, nothing moved by 0.05
    assert set(rows["strand"]) == {"+"} and set(rows["transcript"]) == {"tx1"}
    bed = pd.read_csv(out / "affected_sites.bed", sep="\t", header=None)
    assert sorted(bed[1]) == sorted([sites["a"], sites["b"], 700]) and set(bed[5]) == {"+"}
    assert set(bed[3]) == {"centre|m6A|site_destroyed", "core|m6A|loss", "create|m6A|gain"}


def write_bed12(path, chrom, start, end, strand):
    path.write_text(f"{chrom}\t{start}\t{end}\ttx1\t0\t{strand}\t{start}\t{end}\t0\t1\t{end - start},\t0,\n")
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_annotated_vcf_keeps_every_record(planted, tmp_path, gz):
    _, bundle, genome, sites = planted
    records = [("chr1", sites["a"] + 1, "centre", "A", "G,T", "50", "PASS", "DP=7"),
               ("chr1", 1000, "far", sites["far_ref"], other(sites["far_ref"]), ".", ".", ".")]
    vcf = write_vcf(tmp_path / ("v.vcf.gz" if gz else "v.vcf"), records, gz=gz)
    # the planted model has 310 null scores: with the run's 66 tests no q-value reaches 0.05
    rc, out = run(tmp_path, vcf, genome, bundle, "--classes", "m6A", "--fdr", "1")
    assert rc == 0
    name = out / ("annotated.vcf.gz" if gz else "annotated.vcf")
    raw = name.read_bytes()
    if gz:
        assert raw[12:14] == b"BC"  # a BGZF block (tabix can index it)
        raw = gzip.decompress(raw)
    lines = raw.decode().splitlines()
    header = [x for x in lines if x.startswith("##")]
    body = [x.split("\t") for x in lines if not x.startswith("#")]
    assert header[:2] == HEADER[:2] and any(x.startswith("##INFO=<ID=MRM_SITE_DESTROYED,") for x in header)
    assert [b[:7] for b in body] == [list(map(str, r[:7])) for r in records]
    info = dict(kv.split("=", 1) for kv in body[0][7].split(";"))
    assert info["DP"] == "7"
    destroyed = info["MRM_SITE_DESTROYED"].split(",")
    # both alleles change the planted A, on the + strand (the - strand has a T there)
    assert sorted(e.split("|")[:4] for e in destroyed) == [["G", "m6A", "+", str(sites["a"] + 1)],
                                                         ["T", "m6A", "+", str(sites["a"] + 1)]]
    assert body[1][7] == "."


def test_transcriptome_scores_one_strand_and_excludes_annotation(planted, tmp_path, capsys):
    _, bundle, genome, sites = planted
    vcf = write_vcf(tmp_path / "v.vcf", [("chr1", sites["a"] + 1, "centre", "A", "G", ".", ".", ".")])
    rc, out = run(tmp_path, vcf, genome, bundle, "--transcriptome", "--min-delta", "0")
    assert rc == 0 and set(pd.read_csv(out / "variants.tsv", sep="\t")["strand"]) == {"+"}
    rc, out = run(tmp_path, vcf, genome, bundle, "--transcriptome", "--annotation", str(genome), name="x")
    assert rc == 2 and "exclude each other" in capsys.readouterr().err and not out.exists()


def test_minus_strand_annotation(planted, tmp_path):
    """A planted site on the - strand (reverse complement of GGACT) is found only with - strand scoring."""
    _, bundle, _, _ = planted
    rng = np.random.default_rng(9)
    seq = list(rng.choice(list("ACG"), 400))  # no T: no A on the - strand but the planted one
    seq[198:203] = list(reverse_complement("GGACT"))  # the A of the - strand is the T at 200
    genome = write_genome(tmp_path / "g.fa", {"chr2": "".join(seq)})
    vcf = write_vcf(tmp_path / "v.vcf", [("chr2", 201, "m", "T", "C", ".", ".", ".")])
    rc, out = run(tmp_path, vcf, genome, bundle, "--classes", "m6A", "--annotation",
                  str(write_bed12(tmp_path / "tx.bed", "chr2", 0, 400, "-")))
    rows = pd.read_csv(out / "variants.tsv", sep="\t")
    called = rows[rows["call"] != "none"]
    assert set(rows["strand"]) == {"-"} and set(rows["transcript"]) == {"tx1"}
    assert rc == 0 and called[["position", "strand", "call", "ref_base"]].values.tolist() == [[201, "-", "site_destroyed", "A"]]


def test_report_shows_the_calls(planted, tmp_path):
    from multirm_tools.cli import report

    _, bundle, genome, sites = planted
    vcf = write_vcf(tmp_path / "v.vcf", [("chr1", sites["a"] + 1, "centre", "A", "G", ".", ".", "."),
                                         ("chr1", sites["b"] - 1, "core", "G", "T", ".", ".", ".")])
    rc, out = run(tmp_path, vcf, genome, bundle, "--classes", "m6A", "--transcriptome")
    assert rc == 0
    assert report.main([str(out), "-o", str(tmp_path / "r.html"), "--quiet"]) == 0
    html = (tmp_path / "r.html").read_text()
    assert '<section id="variants">' in html and "multirm-variants run record" in html
    # one row per class in the calls table: m6A with one site destroyed and one lost, from 2 alleles
    assert ('<tr><td>m6A</td><td class="num">1</td><td class="num">1</td><td class="num">0</td>'
            '<td class="num">2</td></tr>') in html


def test_report_of_a_run_without_calls(planted, tmp_path):
    # Most VCFs change no significant site: the report shows an empty calls table, not a traceback.
    from multirm_tools.cli import report

    _, bundle, genome, sites = planted
    vcf = write_vcf(tmp_path / "v.vcf", [("chr1", sites["far"], "far", sites["far_ref"], other(sites["far_ref"]),
                                          ".", ".", ".")])
    rc, out = run(tmp_path, vcf, genome, bundle, "--classes", "m6A", "--transcriptome")
    assert rc == 0
    assert (pd.read_csv(out / "variants.tsv", sep="\t")["call"] == "none").all()
    assert report.main([str(out), "-o", str(tmp_path / "r.html"), "--quiet"]) == 0
    html = (tmp_path / "r.html").read_text()
    assert '<section id="variants">' in html and "Calls per class" in html


def test_rerun_on_its_own_output_replaces_its_fields(planted, tmp_path):
    # Chained in a workflow, the tool may read a VCF it annotated: each field stays once, freshly computed.
    _, bundle, genome, sites = planted
    vcf = write_vcf(tmp_path / "v.vcf", [("chr1", sites["a"] + 1, "centre", "A", "G", ".", ".", "DP=7"),
                                         ("chr1", sites["far"], "far", sites["far_ref"], other(sites["far_ref"]),
                                          ".", ".", ".")])
    rc1, first = run(tmp_path, vcf, genome, bundle, "--classes", "m6A", "--transcriptome", name="first")
    rc2, second = run(tmp_path, first / "annotated.vcf", genome, bundle, "--classes", "m6A", "--transcriptome",
                      name="second")
    assert rc1 == rc2 == 0
    lines1, lines2 = ((d / "annotated.vcf").read_text().splitlines() for d in (first, second))
    ids = [ln.split(",")[0] for ln in lines2 if ln.startswith("##INFO=<ID=MRM")]
    assert ids and len(ids) == len(set(ids))
    data1, data2 = ([ln for ln in lines if not ln.startswith("#")] for lines in (lines1, lines2))
    assert data2 == data1 and "DP=7;MRM_" in data1[0]
    for ln in data2:
        keys = [e.split("=")[0] for e in ln.split("\t")[7].split(";")]
        assert len(keys) == len(set(keys)), ln


def test_annotation_with_other_chromosome_names_is_an_error(planted, tmp_path, capsys):
    # An Ensembl GTF ("1") with a UCSC genome ("chr1") once left every allele outside the transcripts,
    # scored on both strands without a word.
    _, bundle, genome, sites = planted
    vcf = write_vcf(tmp_path / "v.vcf", [("chr1", sites["a"] + 1, "centre", "A", "G", ".", ".", ".")])
    rc, out = run(tmp_path, vcf, genome, bundle, "--annotation",
                  str(write_bed12(tmp_path / "tx.bed", "1", 0, 1200, "+")))
    assert rc == 1 and "tx.bed: none of its chromosomes (1, ...) is in g.fa" in capsys.readouterr().err
    assert not out.exists()
