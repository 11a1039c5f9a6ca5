"""The verdict ledger: one call prints and records; the file format is simple and stable."""

import json

import numpy as np
import pytest

from helpers.core import ledger


@pytest.fixture
def book(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_MODE", "quick")
    return ledger.Ledger("03-sync-server")


def test_verdict_prints_and_records(book, capsys):
    assert book.verdict("C4", True, "more workers helped up to the cores", figure=np.float64(1.9), unit="x") is None
    rec = book.records[-1]
    assert capsys.readouterr().out == "Verdict (C4): more workers helped up to the cores\n"
    lines = ledger.path().read_text().splitlines()
    assert len(lines) == 1
    stored = json.loads(lines[0])
    assert set(stored) == set(ledger.FIELDS)
    assert stored == rec
    assert stored["claims"] == ["C4"] and stored["outcome"] == "holds" and stored["kind"] == "verdict"
    assert stored["figure"] == pytest.approx(1.9) and stored["unit"] == "x" and stored["mode"] == "quick"
    assert stored["notebook"] == "03-sync-server" and stored["machine"]["cores_usable"] >= 1


def test_outcomes_and_several_claims(book, capsys):
    book.verdict(["C13", "C3"], np.bool_(False), "queued")
    assert book.records[-1]["outcome"] == "does not hold"
    book.verdict("C4", "inconclusive", "one core only")
    assert book.records[-1]["outcome"] == "inconclusive"
    assert capsys.readouterr().out.splitlines()[0] == "Verdict (C13, C3): queued"


def test_check_decides_no_claim(book, capsys):
    book.check("the generator was faster than the server", False, figure=3.0, unit="x")
    rec = book.records[-1]
    assert capsys.readouterr().out == "Check FAILED: the generator was faster than the server\n"
    book.check("it ran", True)
    assert capsys.readouterr().out == "Check: it ran\n"
    assert rec["kind"] == "check" and rec["claims"] == [] and rec["outcome"] == "failed"


@pytest.mark.parametrize("args, exc", [
    (("C17", True, "x"), ValueError), (([], True, "x"), ValueError), (("C1", "maybe", "x"), ValueError),
    (("C1", 1, "x"), TypeError), (("C1", True, " "), ValueError),
])
def test_bad_verdicts_are_refused_and_nothing_is_written(book, args, exc):
    with pytest.raises(exc):
        book.verdict(*args)
    assert not ledger.path().exists()


def test_bad_figure_and_notebook(book):
    with pytest.raises(TypeError):
        book.verdict("C1", True, "x", figure="fast")
    with pytest.raises(ValueError):
        ledger.Ledger("sync server")
    book.verdict("C1", True, "x", figure=float("nan"))
    assert book.records[-1]["figure"] is None


def test_read_and_latest(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path))
    first, second, other = ledger.Ledger("03-sync-server"), ledger.Ledger("03-sync-server"), ledger.Ledger("01-blocking-io")
    first.verdict("C1", True, "old")
    other.verdict("C14", False, "one")
    second.verdict("C1", False, "new")
    with open(ledger.path(), "a") as f:
        f.write("not json\n")
    df = ledger.read()
    assert len(df) == 3 and df.attrs["skipped_lines"] == 1
    last = ledger.latest()
    assert sorted(last["text"]) == ["new", "one"]
    assert ledger.latest(tmp_path / "missing.jsonl").empty
