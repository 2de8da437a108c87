"""Surges judged on a rule's share of all new stories: a burst is told once, a busy news day is not a surge."""

from __future__ import annotations

from datetime import timedelta

import pytest

from presswatch.crawler.rules.surge import Baseline, SurgeSettings, Window, binomial_tail, judge, next_state

SETTINGS = SurgeSettings()
# 14 days of 300 new stories a day, 6 of which a day match the rule: its usual share is 2%,
# about 1.5 of the 75 stories of a 6-hour window.
STEADY = Baseline(stories=84, total=4200, span=timedelta(days=14))


def _replay(windows: list[Window], baseline: Baseline = STEADY) -> list[bool]:
    """Whether a surge is told at each window in turn (the state carried from one to the next)."""
    told, surging = [], False
    for window in windows:
        tell, surging = next_state(surging, judge(window, baseline, SETTINGS))
        told.append(tell)
    return told


def test_a_burst_is_told_once_with_its_figures():
    burst = Window(stories=23, outlets=17, total=95)
    verdict = judge(burst, STEADY, SETTINGS)
    assert verdict.surging and verdict.reason == ""
    assert verdict.ratio > 10 and verdict.p_value < 1e-10
    assert verdict.figures(burst, SETTINGS) == "23 stories from 17 outlets in the last 6 h; usual 1.5"
    # It keeps growing for a day: still one surge.
    assert _replay([Window(1, 1, 75), burst, Window(30, 20, 100), Window(26, 18, 90)]) == [False, True, False, False]


def test_after_it_calms_a_new_burst_is_told_again():
    windows = [Window(20, 12, 80), Window(12, 8, 80), Window(2, 2, 75), Window(18, 11, 80)]
    assert _replay(windows) == [True, False, False, True]


def test_a_window_hovering_at_the_minimum_is_one_surge():
    # A quiet rule (usual share 0.05%) whose ongoing story brings about one item an hour:
    # its sliding window goes 5, 4, 5, 4, 5 stories, always far above the usual share.
    quiet = Baseline(stories=2, total=4200, span=timedelta(days=14))
    windows = [Window(n, n, 75) for n in (5, 4, 5, 4, 5)]
    assert _replay(windows, quiet) == [True, False, False, False, False]
    # Down to 2 stories (under half the minimum of 5) it has calmed: the next burst is news.
    assert _replay([*windows, Window(2, 2, 75), Window(6, 6, 75)], quiet)[-2:] == [False, True]


def test_a_steady_stream_is_not_a_surge():
    # The usual share, window after window, with the spread of chance (up to 4 of 75).
    windows = [Window(n, n, 75) for n in (1, 2, 0, 3, 1, 4, 2, 1, 2, 3)]
    assert not any(_replay(windows))


def test_a_day_when_every_source_doubles_is_not_a_surge():
    # Twice the rule's usual count, because twice everything arrived: its share is as usual.
    doubled = Window(stories=6, outlets=5, total=150)
    verdict = judge(doubled, STEADY, SETTINGS)
    assert not verdict.surging and "usual share" in verdict.reason
    # The same six stories against the usual total would be one.
    assert judge(Window(stories=6, outlets=5, total=75), STEADY, SETTINGS).ratio > verdict.ratio


def test_a_source_outage_does_not_make_the_rule_surge():
    # Half the sources down: fewer stories in all, the rule's share as usual.
    assert not judge(Window(stories=1, outlets=1, total=37), STEADY, SETTINGS).surging


def test_minimum_evidence_holds_even_for_a_quiet_rule():
    quiet = Baseline(stories=0, total=4200, span=timedelta(days=14))
    assert judge(Window(stories=5, outlets=3, total=75), quiet, SETTINGS).surging
    few_outlets = judge(Window(stories=5, outlets=2, total=75), quiet, SETTINGS)
    assert not few_outlets.surging and "outlets" in few_outlets.reason
    few_stories = judge(Window(stories=4, outlets=4, total=75), quiet, SETTINGS)
    assert not few_stories.surging and "fewer than 5" in few_stories.reason


def test_a_new_database_learns_before_it_judges():
    young = Baseline(stories=0, total=30, span=timedelta(days=1))
    verdict = judge(Window(stories=12, outlets=9, total=20), young, SETTINGS)
    assert not verdict.surging and verdict.reason.startswith("not enough history")


def test_settings_move_the_line():
    window = Window(stories=5, outlets=4, total=75)  # 3.3 times the usual share
    assert judge(window, STEADY, SETTINGS).ratio > 3
    strict = SurgeSettings(min_ratio=5.0)
    assert "under 5" in judge(window, STEADY, strict).reason


def test_the_binomial_tail_is_scipys_without_importing_scipy():
    """The tail is summed here (scipy costs a third of a second at each start); it must
    agree with scipy's `bdtrc` from tiny p-values to certainty."""
    from scipy.special import bdtrc  # the reference only; the product never imports scipy

    cases = [(5, 40, 0.01), (23, 500, 0.001), (281, 4981, 0.0065), (3, 100, 0.9), (90, 100, 0.9),
             (100, 100, 0.9), (50, 5000, 0.002), (2, 3000, 0.5), (1, 1, 0.5), (7, 20000, 0.0001)]
    for x, n, p in cases:
        expected = float(bdtrc(x - 1, n, p))
        assert binomial_tail(x, n, p) == pytest.approx(expected, rel=1e-9, abs=1e-300), (x, n, p)
    assert binomial_tail(0, 10, 0.1) == 1.0 and binomial_tail(11, 10, 0.1) == 0.0
    assert binomial_tail(3, 10, 0.0) == 0.0 and binomial_tail(3, 10, 1.0) == 1.0
