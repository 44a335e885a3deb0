"""A document's parents come from jobflow's resolved input references, never from uuids passed beside them."""

from __future__ import annotations

from jobflow import Flow, JobStore, Response, job, run_locally
from maggma.stores import MemoryStore
from pydantic import BaseModel

from defectscreen.jobs.provenance import made_by, parent_uuids, provenance, read, read_all, uuid_of


class Number(BaseModel):
    value: float
    parent_uuids: list[str] = []
    source_uuid: str | None = None


@job
def number(value: float) -> Number:
    return Number(value=value, parent_uuids=parent_uuids())


@job(config=provenance())
def total(first: Number, others: list[Number]) -> Number:
    numbers = [read(first, Number), *read_all(others, Number)]
    return Number(value=sum(n.value for n in numbers), parent_uuids=parent_uuids(), source_uuid=uuid_of(first))


@job(config=provenance())
def doubled_later(first: Number) -> Response:
    """Hands its input on to a job it makes (as it arrived: value and uuid together)."""
    again = made_by(total(first, [first]), parent_uuid=_running_uuid())
    return Response(replace=Flow([again], output=again.output))


def _running_uuid() -> str:
    from jobflow import CURRENT_JOB

    return CURRENT_JOB.job.uuid


def test_parents_are_the_input_references_in_argument_order_and_made_by_first() -> None:
    a, b, c = number(1.0), number(2.0), number(3.0)
    added = total(a.output, [b.output, c.output, a.output])
    later = doubled_later(b.output)
    store = JobStore(MemoryStore())
    responses = run_locally(Flow([a, b, c, added, later]), store=store, ensure_success=True)
    assert set(responses) >= {a.uuid, added.uuid, later.uuid}
    result = Number.model_validate(store.get_output(added.uuid))
    assert result.value == 7.0 and result.parent_uuids == [a.uuid, b.uuid, c.uuid] and result.source_uuid == a.uuid
    assert Number.model_validate(store.get_output(a.uuid)).parent_uuids == []  # no input references: no parents
    replaced = Number.model_validate(store.get_output(later.uuid, which="last"))
    assert replaced.value == 4.0 and replaced.parent_uuids == [later.uuid, b.uuid] and replaced.source_uuid == b.uuid


def test_documents_given_directly_have_no_source() -> None:
    assert read({"value": 2.0}, Number).value == 2.0 and uuid_of(Number(value=2.0)) is None
    assert read(None, Number) is None and read_all(None, Number) == []
