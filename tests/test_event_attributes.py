"""``attributes``: extra source fields (a CRM's custom fields) carried by any event, kept in the
event log and read by no core metric. Values are text, booleans, whole numbers or null (a decimal
travels as its exact text), so an event re-read from its stored JSON is the same event."""

from __future__ import annotations

import pytest
from attain.core.engine import Engine, Record
from attain.core.models import parse_event
from pydantic import ValidationError

BASE = ('{"type":"activity","event_id":"a1","occurred_at":"2017-01-01T10:00:00Z",'
        '"activity_id":"a1","kind":"call","owner":"Ann","attributes":%s}')


def test_attributes_round_trip_and_are_bounded() -> None:
    ev = parse_event(BASE % '{"Region__c":"EMEA","Score__c":7,"Hot__c":true,"Net__c":"1234.50","X":null}')
    assert ev.attributes == {"Region__c": "EMEA", "Score__c": 7, "Hot__c": True, "Net__c": "1234.50",
                             "X": None}
    assert parse_event(ev.model_dump_json()) == ev
    for bad, why in (('{"n": 1.5}', "valid string"), ('{"": 1}', "at least 1 character"),
                     ('{"k": {"nested": 1}}', "valid string"),
                     ("{" + ",".join(f'"k{i}": {i}' for i in range(51)) + "}", "at most 50 items")):
        with pytest.raises(ValidationError, match=why):
            parse_event(BASE % bad)


def test_an_event_with_attributes_sent_twice_is_a_duplicate(engine: Engine) -> None:
    payload = {"type": "activity", "event_id": "a1", "occurred_at": "2017-01-01T10:00:00Z",
               "activity_id": "a1", "kind": "call", "owner": "Ann", "attributes": {"Net__c": "1234.50"}}
    assert engine.process([Record(payload)]).accepted == 1
    again = engine.process([Record(dict(payload))])
    assert (again.accepted, again.duplicates, again.conflicts) == (0, 1, 0)
    changed = engine.process([Record({**payload, "attributes": {"Net__c": "99"}})])
    assert changed.conflicts == 1
    assert engine.kpis("default", "rep")[0]["calls"] == 1
