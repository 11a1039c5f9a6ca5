"""The prediction helper: every kind of input gives a sentence, none a traceback."""

import numpy as np
import pytest

from helpers.core import predictions


def test_empty_prediction_still_reports_the_run():
    s = predictions.line(None, measured=0.41, model=0.4, unit="s")
    assert s.startswith("No prediction made") and "measured 0.41 s" in s and "the model said 0.4 s" in s


def test_a_number_is_set_beside_the_measurement():
    assert "within 10 %" in predictions.line(0.42, measured=0.41, unit="s")
    assert "2x the measurement" in predictions.line(80, measured=40, model=40, unit="requests/s")
    assert "0.5x the measurement" in predictions.line(np.float64(20), measured=40)


@pytest.mark.parametrize("bad", ["0.4 s", True, [1], float("nan")])
def test_not_a_number_is_a_message(bad):
    assert "is not a number" in predictions.line(bad, measured=1.0)


def test_measured_must_be_a_number():
    with pytest.raises(ValueError, match="measured"):
        predictions.line(1, measured="fast")


def test_choices(capsys):
    opts = ("faster", "same", "slower")
    assert predictions.choice_line("Same ", options=opts, measured="same").endswith("right.")
    assert "not one of" in predictions.choice_line("quick", options=opts, measured="same")
    assert predictions.choice_line(None, options=opts, measured="slower").startswith("No prediction made")
    assert predictions.show_choice("faster", options=opts, measured="same") is None
    assert capsys.readouterr().out.startswith("You predicted 'faster'")
    with pytest.raises(ValueError):
        predictions.choice_line("same", options=opts, measured="sideways")
