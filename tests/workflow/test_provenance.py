"""The provenance record detects every kind of tampering."""

from __future__ import annotations

import json

import pytest

from aihep.errors import InputError
from aihep.workflow.provenance import (
    ProvenanceRecord,
    canonical_hash,
    read_entries,
    verify_record,
)


@pytest.fixture()
def record(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("mjj\n3500\n")
    rec = ProvenanceRecord(tmp_path / "run" / "provenance.jsonl")
    rec.append("playbook", "inspect", {"path": str(data)}, inputs=[data])
    rec.append("playbook", "hunt", {"method": "cwola"}, inputs=[data], duration_s=1.5)
    rec.append("playbook", "report", {}, status="ok")
    return rec


def _rewrite(path, entries):
    path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))


def test_intact_record_verifies_and_resumes(record):
    result = verify_record(record.path, record.head, record.length)
    assert result.ok and result.length == 3
    again = ProvenanceRecord(record.path)  # a resumed run continues the chain
    assert again.head == record.head
    again.append("playbook", "validate")
    assert verify_record(record.path, again.head, 4).ok
    entry = read_entries(record.path)[0]
    assert len(entry["inputs"]) == 1 and entry["prev"] == "0" * 64


def test_edit_is_detected(record):
    entries = read_entries(record.path)
    entries[1]["arguments"]["method"] = "cathode"
    _rewrite(record.path, entries)
    result = verify_record(record.path, record.head)
    assert not result.ok and "entry 1 was modified" in result.problem
    with pytest.raises(InputError, match="hash chain"):
        ProvenanceRecord(record.path)


@pytest.mark.parametrize("change", ["delete", "reorder"])
def test_deletion_and_reordering_are_detected(record, change):
    entries = read_entries(record.path)
    entries = [entries[0], entries[2]] if change == "delete" else [entries[1], entries[0],
                                                                   entries[2]]
    _rewrite(record.path, entries)
    assert not verify_record(record.path, record.head).ok


def test_truncation_and_recomputation_need_the_stored_head(record):
    entries = read_entries(record.path)
    _rewrite(record.path, entries[:2])
    assert verify_record(record.path).ok  # a clean prefix is a valid chain on its own...
    assert not verify_record(record.path, record.head, 3).ok  # ...but not this run's record
    # recompute the whole chain after an edit: internally consistent, head differs
    entries[1]["arguments"]["method"] = "cathode"
    prev = "0" * 64
    for entry in entries:
        entry["prev"] = prev
        entry["hash"] = prev = canonical_hash(entry)
    _rewrite(record.path, entries)
    assert verify_record(record.path).ok
    result = verify_record(record.path, record.head, 3)
    assert not result.ok and "stored head" in result.problem


def test_garbage_line_is_a_clear_problem(record):
    with open(record.path, "a") as handle:
        handle.write("not json\n")
    result = verify_record(record.path, record.head)
    assert not result.ok and "line 4" in result.problem
