"""The exercise checker's feedback: right, too high, too low, wrong unit, wrong type, no answer."""

import json
from pathlib import Path

import pytest

from helpers.core import exercises as ex

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
GIVEN = {"01-simul-boards": {"master_s": 5, "opponent_s": 55}, "01-cpu-idle-share": {"idle_share": 0.9},
         "02-speedup": {"cores": 2}, "02-memory": {"uss_mb_per_worker": 20.0}, "04-hidden-cap": {"limit": 100}}


def fb(eid, answer):
    return ex.feedback(eid, answer, **GIVEN.get(eid, {}))


@pytest.mark.parametrize("eid", sorted(ex.EXERCISES))
def test_every_exercise_accepts_its_answer_and_has_a_hint(eid):
    want = ex.expected(eid, **GIVEN.get(eid, {}))
    assert fb(eid, want).right
    assert fb(eid, want).message.startswith("Right")
    assert "within 0 %" not in fb(eid, want).message and "within 0%" not in fb(eid, want).message
    assert len(ex.EXERCISES[eid].hint) > 20
    high, low = fb(eid, want * 3 + 1), fb(eid, want / 3 - 1)
    assert (high.status, low.status) == ("high", "low")
    assert "too high" in high.message and "Hint:" in high.message and "too low" in low.message


def test_models_give_the_answers():
    assert ex.expected("00-batch") == pytest.approx(0.2)
    assert ex.expected("02-batch") == pytest.approx(0.3)
    assert ex.expected("03-workers") == 20
    assert ex.expected("03-throughput") == pytest.approx(30)
    assert ex.expected("01-simul-boards", master_s=5, opponent_s=55) == 12
    assert ex.expected("04-hidden-cap", limit=100) == pytest.approx(0.6)
    assert ex.expected("02-memory", uss_mb_per_worker=20.0) == pytest.approx(1000)


def test_wrong_unit_is_named():
    assert fb("00-batch", 200).status == "unit"        # ms for s
    assert "factor of 1000" in fb("00-batch", 200).message
    assert fb("01-cpu-idle-share", 90).status == "unit"  # a percentage for a share
    assert "percentage" in fb("01-cpu-idle-share", 90).message


@pytest.mark.parametrize("answer, words", [("0.2", "without quotes"), ("two", "without quotes"),
                                           (True, "yes/no"), ([0.2], "one number"), (float("nan"), "finite"),
                                           (object(), "should be a number")])
def test_wrong_types_get_a_message_not_a_traceback(answer, words):
    f = fb("00-batch", answer)
    assert f.status == "type" and words in f.message


def test_no_answer_and_printing(capsys):
    assert fb("00-batch", None).status == "empty"
    assert ex.check("00-batch", None) is None  # nothing returned: no stray True/False under the message
    assert "No answer yet" in capsys.readouterr().out
    ex.hint("03-workers")
    ex.solution("01-simul-boards", master_s=5, opponent_s=55)
    out = capsys.readouterr().out
    assert out.startswith("Hint:") and "12" in out


def test_bad_ids_and_missing_measurements_are_clear():
    with pytest.raises(KeyError, match="no exercise"):
        ex.check("99-nope", 1)
    with pytest.raises(TypeError, match="needs the measured value"):
        ex.check("02-memory", 1)


def test_exercise_cells_do_not_hold_their_answers():
    """An exercise cell calls the checker by id; it computes no expected value in sight."""
    for path in sorted(NOTEBOOKS.glob("0[0-4]-*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            src = "".join(cell["source"])
            if cell["cell_type"] == "code" and "my_answer = None" in src:
                assert "exercises.check(\"" in src, f"{path.name}: {src[:80]}"
                assert "models." not in src and "next(" not in src, f"{path.name}: answer in sight: {src[:120]}"


def test_tryouts_run_on_real_servers(capsys, no_leftovers):
    from helpers.lessons import tryouts

    df = tryouts.measure("00-batch", 0.2)
    assert tryouts.run("00-batch", 0.2) is None  # a cell ending in it shows only the sentence
    out = capsys.readouterr().out
    assert len(df) == 8 and "measured on the real servers: the batch took" in out and "the model: 0.2 s" in out
    assert tryouts.measure("03-threads", None) is None  # the server is built with your number: none, no run
    assert tryouts.measure("03-threads", "four") is None
    assert "without quotes" in capsys.readouterr().out
    with pytest.raises(KeyError, match="no real-server run"):
        tryouts.run("01-simul-boards", 12)


def test_a_cell_run_out_of_order_says_what_to_do():
    from helpers.core import kernel_hints

    root = Path(__file__).resolve().parent.parent
    e = kernel_hints.explain(NameError("name 'svc' is not defined"))
    assert str(e).startswith("name 'svc' is not defined: ") and "Run All Above Selected Cell" in str(e)
    assert str(kernel_hints.explain(e)).count("Run All Above") == 1  # once, even if re-raised
    assert "helpers.core.kernel_hints" in (root / "scripts" / "ipython_kernel_config.py").read_text()
    assert "etc/ipython/ipython_kernel_config.py" in (root / "Makefile").read_text()
