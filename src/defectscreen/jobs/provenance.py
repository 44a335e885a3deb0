"""Where a job's inputs came from, read from jobflow itself.

A job made with :func:`provenance` has each input reference resolved together with the uuid of the job that made it
(jobflow's ``resolve_references="both"``: a ``ResolvedReference``). :func:`read` gives the document,
:func:`uuid_of` the uuid of one input, :func:`parent_uuids` the uuids of all of them: a document's parents are
recorded from its inputs, never passed beside them. A job made by another running job (a search's candidate
relaxation) also lists that job (:func:`made_by`, kept in jobflow's job metadata). An input handed on to such a
job is passed as it arrived: a resolved reference keeps its value and its uuid (a reference to a job outside the
new jobs' flow would not be allowed in it).
"""

from __future__ import annotations

from typing import Any, TypeVar

from jobflow import CURRENT_JOB, Job, JobConfig
from jobflow.core.reference import OnMissing, ResolvedReference
from pydantic import BaseModel

T = TypeVar("T", bound=BaseModel)

MADE_BY = "made_by"


def provenance(on_missing_references: OnMissing = OnMissing.ERROR, **config: Any) -> JobConfig:
    """The job config of every job that reads other jobs' documents."""
    return JobConfig(resolve_references="both", on_missing_references=on_missing_references, **config)


def value_of(argument: Any) -> Any:
    """An input as its value (a resolved reference unwrapped; lists element by element)."""
    if isinstance(argument, ResolvedReference):
        return argument.value
    if isinstance(argument, list | tuple):
        return [value_of(a) for a in argument]
    return argument


def read(argument: Any, schema: type[T]) -> T | None:
    """An input document as ``schema`` (None where a missing reference resolved to nothing)."""
    value = value_of(argument)
    return None if value is None else schema.model_validate(value)


def read_all(arguments: Any, schema: type[T]) -> list[T | None]:
    """A list of input documents (or one reference to a list) as ``schema``; None for a missing list."""
    return [None if v is None else schema.model_validate(v) for v in value_of(arguments) or []]


def uuid_of(argument: Any) -> str | None:
    """The uuid of the job whose output an input is (None for a value given directly)."""
    return argument.uuid if isinstance(argument, ResolvedReference) else None


def _uuids(argument: Any) -> list[str]:
    if isinstance(argument, ResolvedReference):
        return [argument.uuid]
    if isinstance(argument, list | tuple):
        return [u for a in argument for u in _uuids(a)]
    if isinstance(argument, dict):
        return [u for a in argument.values() for u in _uuids(a)]
    return []


def parent_uuids() -> list[str]:
    """The running job's parents: the job that made it (if any), then every job whose output it reads, in argument
    order, each once."""
    running = CURRENT_JOB.job
    if running is None:
        return []
    found = [*running.metadata.get(MADE_BY, []), *_uuids(list(running.function_args)),
             *_uuids(running.function_kwargs)]
    return list(dict.fromkeys(found))


def made_by(new: Job, parent_uuid: str) -> Job:
    """Record that ``new`` was made by the running job ``parent_uuid`` (it reads no reference to it)."""
    new.update_metadata({MADE_BY: [parent_uuid]})
    return new
