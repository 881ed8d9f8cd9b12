import pytest

from callcenter.calls.rings import CadenceError, cadence

CN = cadence("cn")


def test_r01_three_rings_last_until_the_fourth_ring_starts() -> None:
    assert CN.limit(3) == 15.0
    assert CN.within(15.0, 3)
    assert not CN.within(15.001, 3)


@pytest.mark.parametrize(("seconds", "rings"), [(0, 0), (0.1, 1), (5.0, 1), (5.01, 2), (14.9, 3), (15.0, 3), (15.2, 4)])
def test_ring_counting_on_the_cn_cadence(seconds: float, rings: int) -> None:
    assert CN.rings_at(seconds) == rings


def test_ivr_answers_after_the_nth_ring_tone() -> None:
    assert CN.answer_delay(0) == 0.0
    assert CN.answer_delay(1) == 1.0
    assert CN.answer_delay(2) == 6.0


def test_unknown_cadence_is_a_clear_error() -> None:
    with pytest.raises(CadenceError, match="unknown ring cadence 'xx'"):
        cadence("xx")
