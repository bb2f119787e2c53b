"""FASTA reading: alphabets, IUPAC mapping, streaming, genome headers and every input error."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from multirm_tools.errors import InputError
from multirm_tools.seqio import (FastaRecord, GenomeLocus, genome_positions, parse_locus, read_fasta,
                                 record_locus, text_lines)


def write(tmp_path, text: str, name: str = "in.fa"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_records_any_case_rna_and_iupac(tmp_path):
    path = write(tmp_path, ">a first one\nACgu\nnNry\n\n>b\r\nswkmbdhv\r\n")
    recs = list(read_fasta(path))
    assert recs == [FastaRecord("a", "a first one", "ACGTNNNN"), FastaRecord("b", "b", "NNNNNNNN")]


def test_gzip_same_as_plain(tmp_path):
    text = ">x desc\nACGT\nAC\n>y\nGGG\n"
    plain = write(tmp_path, text)
    gz = tmp_path / "in.fa.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    assert list(read_fasta(gz)) == list(read_fasta(plain)) == [
        FastaRecord("x", "x desc", "ACGTAC"), FastaRecord("y", "y", "GGG")]


def test_byte_order_mark_is_skipped(tmp_path):
    # Notepad saves UTF-8 with a BOM: once "text before the first '>' header", and '\ufeffchr1' in BEDs.
    fasta = tmp_path / "bom.fa"
    fasta.write_bytes(b"\xef\xbb\xbf>a\nACGT\n")
    assert list(read_fasta(fasta)) == [FastaRecord("a", "a", "ACGT")]
    bed = tmp_path / "bom.bed"
    bed.write_bytes(b"\xef\xbb\xbfchr1\t0\t1\n")
    assert list(text_lines(bed)) == [(1, "chr1\t0\t1")]


def test_streams_records_before_reading_the_rest(tmp_path):
    path = write(tmp_path, ">a\nACGT\n>b\nAC1T\n")
    it = read_fasta(path)
    assert next(it).id == "a"  # the bad second record is only seen later
    with pytest.raises(InputError, match="record 'b' position 3: '1'"):
        next(it)


@pytest.mark.parametrize("text, message", [
    ("", "no FASTA records"),
    ("\n\n", "no FASTA records"),
    ("ACGT\n>a\nACGT\n", "line 1: text before the first '>'"),
    (">a\n>b\nACGT\n", "record 'a' has an empty sequence"),
    (">a\nACGT\n>b\n", "record 'b' has an empty sequence"),
    (">a\nACGT\n>a other\nACGT\n", "line 3: duplicate record id 'a'"),
    (">\nACGT\n", "header without a record id"),
    (">x\nACGTACGTAC\nGEFIL\n", "record 'x' position 12: 'E' is not a nucleotide code \\(protein FASTA\\?\\)"),
    (">x\nAC-GT\n", "position 3: '-' is not a nucleotide code$"),
    (">x\nACG*\n", "position 4: '\\*'"),
    (">x\nAC GT\n", "position 3: ' '"),
    (">x\nMKVLAAGIVGLLLA\n", "position 2: 'V'|position 4: 'L'|not a nucleotide"),
])
def test_bad_fasta(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=message) as err:
        list(read_fasta(path))
    assert "in.fa" in str(err.value)


def test_protein_fasta_names_first_bad_letter(tmp_path):
    path = write(tmp_path, ">sp|P69905|HBA_HUMAN Hemoglobin\nMVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSF\n")
    with pytest.raises(InputError, match=r"record 'sp\|P69905\|HBA_HUMAN' position 3: 'L' .*protein"):
        list(read_fasta(path))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        list(read_fasta(tmp_path / "absent.fa"))


def test_truncated_gzip(tmp_path):
    data = gzip.compress((">a\n" + "ACGT" * 5000 + "\n").encode())
    path = tmp_path / "cut.fa.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt gzip"):
        list(read_fasta(path))


def test_corrupt_gzip(tmp_path):
    data = bytearray(gzip.compress((">a\n" + "ACGT" * 100 + "\n").encode()))
    data[20:30] = b"\xff" * 10
    path = tmp_path / "bad.fa.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="gzip"):
        list(read_fasta(path))


def test_parse_locus():
    assert parse_locus("chr1:1000-1300(+)") == GenomeLocus("chr1", 1000, 1300, "+")
    assert parse_locus("chrX:5-9(-)") == GenomeLocus("chrX", 5, 9, "-")
    assert parse_locus("name::chr2:0-10(-)") == GenomeLocus("chr2", 0, 10, "-")
    assert parse_locus("chr3:10-20") == GenomeLocus("chr3", 10, 20, ".")
    assert parse_locus("tx1") is None
    assert parse_locus("chr1:20-10(+)") is None


def test_record_locus_checks_length():
    assert record_locus(FastaRecord("chr1:10-14(+)", "", "ACGT")) == GenomeLocus("chr1", 10, 14, "+")
    with pytest.raises(InputError, match="header interval is 5 nt but the sequence has 4 nt"):
        record_locus(FastaRecord("chr1:10-15(+)", "", "ACGT"), "x.fa")


def test_genome_positions():
    pos = np.arange(4)
    assert genome_positions(None, pos).tolist() == [0, 1, 2, 3]
    assert genome_positions(GenomeLocus("c", 10, 14, "+"), pos).tolist() == [10, 11, 12, 13]
    assert genome_positions(GenomeLocus("c", 10, 14, "-"), pos).tolist() == [13, 12, 11, 10]
