from casenotes.casefile import load_samples
from casenotes.demo import check_notes
from casenotes.replay import schedule


def test_schedule_interleaves_cases_and_keeps_each_case_in_order():
    cases = load_samples()[:3]
    plan = schedule(cases, speed=10, max_gap=2.0, stagger=0.5)
    assert len(plan) == sum(len(c.events) for c in cases)
    assert [p.at for p in plan] == sorted(p.at for p in plan)
    for c in cases:
        assert [p.message.message_id for p in plan if p.case_id == c.case_id] == [m.message_id for m in c.events]
    assert max(b.at - a.at for c in cases
               for a, b in zip([p for p in plan if p.case_id == c.case_id], [p for p in plan if p.case_id == c.case_id][1:])) <= 2.0
    assert len({p.case_id for p in plan[:6]}) > 1 or len(cases) == 1


def test_speed_zero_publishes_without_waiting():
    assert {p.at for p in schedule(load_samples()[:2], speed=0)} == {0.0}


def test_check_notes_reports_missing_groups():
    checks = {"issue": [["charged twice", "double charge"]], "resolution": [["refund"]]}
    assert check_notes(checks, ["Customer was charged twice", "Agent issued a refund"]) == []
    assert check_notes(checks, ["Customer was charged twice"]) == ["resolution: one of ['refund']"]
