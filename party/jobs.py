"""Job registry: what a session computes.

A *job* is the pair of programs the two parties run on one session's :class:`Channel`.  The
handshake names the job; the server looks it up here, so adding a job (secure BERT, a benchmark)
never touches the gRPC service code::

    from party.jobs import Job, register_job

    @register_job("bert-classify")
    class BertClassify(Job):
        needs_model = True                       # the handshake must name a served model
        def he_params(self, params): ...          # optional: HE parameters both sides must agree on
        def parse_inputs(self, args): ...        # optional: CLI --input/--text/--file -> inputs
        def server(self, ch, model, params): ... # party 0, ``model`` is a party.models.LoadedModel
        def client(self, ch, params, inputs): ...# party 1, returns the result the client gets
        def format_result(self, result): ...     # optional: text for ``party query`` output
        def result_json(self, result): ...       # optional: JSON-able form for ``--json``

Both methods run with a :class:`protocols.channel.Channel` (``ch.party`` is 0 on the server, 1 on
the client) under the configuration agreed in the handshake.  ``params`` is the job's public
parameter dict (sent by the client in the handshake; the client side additionally gets
``params["model_info"]``, the model's public facts).  Long jobs may report progress with
:func:`party.progress.report` (shown as a bar by ``party query``).

Job modules are imported at start-up from :data:`JOB_MODULES`; a module that is missing (not
written yet, or an optional dependency absent) is skipped with one log line.  To add a job, put
its module name in :data:`JOB_MODULES` (or import it before serving, or name it in the
environment variable ``PARTY_JOB_MODULES``, comma-separated, as the bench harness does).
"""
from __future__ import annotations

import importlib
import logging
import os
from typing import Any, Callable

log = logging.getLogger("party.jobs")

JOB_MODULES = [
    "party.job_demo",
    "party.job_bench",
    # later issues: secure models register their jobs from these modules
    "party.job_bert",
]
_loaded = False


class Job:
    """Base class of a registered job; subclass and decorate with :func:`register_job`."""

    name: str = ""
    needs_model: bool = False
    description: str = ""

    def he_params(self, params: dict) -> dict:
        """HE parameters the job uses (compared in the handshake); ``{}`` if none."""
        return {}

    def validate_params(self, params: dict) -> None:
        """Raise ValueError with a clear message if ``params`` are not acceptable (server side)."""

    def parse_inputs(self, args: Any) -> Any:
        """Client inputs from the CLI namespace (``args.input``, ``args.text``, ``args.file``)."""
        return args.input

    def server(self, ch, model, params: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def client(self, ch, params: dict, inputs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def format_result(self, result: Any) -> str:
        return str(result)

    def result_json(self, result: Any) -> Any:
        return result


_JOBS: dict[str, Job] = {}


def register_job(name: str) -> Callable[[type], type]:
    """Class decorator: register ``cls()`` under ``name`` (re-registering replaces)."""

    def deco(cls: type) -> type:
        inst = cls()
        inst.name = name
        _JOBS[name] = inst
        return cls

    return deco


def load_job_modules(modules: list[str] | None = None) -> None:
    """Import the job modules (once); missing optional ones are logged and skipped."""
    global _loaded
    if _loaded and modules is None:
        return
    if modules is None:
        # extra job modules named by the environment (the bench harness serves its workloads' jobs)
        extra = [m.strip() for m in os.environ.get("PARTY_JOB_MODULES", "").split(",") if m.strip()]
        modules_todo = JOB_MODULES + [m for m in extra if m not in JOB_MODULES]
    else:
        modules_todo = modules
    for m in modules_todo:
        try:
            importlib.import_module(m)
        except ModuleNotFoundError as e:
            if e.name is not None and m.startswith(e.name):
                log.info("optional job module %s is not installed; its jobs are not offered", m)
            else:
                log.warning("job module %s needs %s, which is missing; its jobs are not offered", m, e.name)
        except Exception as e:  # noqa: BLE001 - a broken optional module must not stop the server
            log.warning("job module %s failed to import: %s: %s; its jobs are not offered", m, type(e).__name__, e)
    if modules is None:
        _loaded = True


def get_job(name: str) -> Job:
    load_job_modules()
    try:
        return _JOBS[name]
    except KeyError:
        raise KeyError(f"unknown job {name!r}; available jobs: {', '.join(sorted(_JOBS)) or '(none)'}") from None


def list_jobs() -> list[str]:
    load_job_modules()
    return sorted(_JOBS)
