"""A FileJournal on a disk that refuses writes: full (RLIMIT_FSIZE), or read-only.

The full disk is real: the job runs in a child process whose file size limit
(``RLIMIT_FSIZE``, SIGXFSZ ignored) makes the kernel refuse the journal's writes with
``EFBIG`` part-way through, exactly as a full disk refuses them with ``ENOSPC``.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from devsms_async.bulk import FileJournal, JournalError

CHILD = textwrap.dedent(
    """
    import json, resource, signal, sys
    import anyio
    from devsms_async.bulk import FileJournal, JournalError
    from devsms_async.testing import Sandbox

    path, limit, backend = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    messages = [(f"99890{i:07d}", f"Aksiya #{i}") for i in range(300)]

    async def main():
        sandbox = Sandbox()
        report = {"results": []}
        async with sandbox.client() as sms:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
            try:
                with FileJournal(path) as journal:
                    await sms.send_bulk(
                        messages, journal=journal,
                        on_result=lambda r: report["results"].append([r.index, r.outcome.value]),
                    )
            except JournalError as exc:
                report["error"] = {
                    "type": type(exc).__name__, "text": str(exc),
                    "in_doubt": list(exc.in_doubt), "path": exc.path,
                    "cause": type(exc.__cause__).__name__,
                    "errno": getattr(exc.__cause__, "errno", None),
                }
            except BaseException as exc:
                report["error"] = {"type": type(exc).__name__, "text": str(exc)}
        report["received"] = [m.text for m in sandbox.messages]
        print(json.dumps(report))

    anyio.run(main, backend=backend)
    """
)


@pytest.mark.parametrize("limit", [1500, 4000])
def test_a_full_disk_is_a_journal_error_that_says_what_may_have_gone_out(
    tmp_path: Path, backend: str, limit: int
) -> None:
    path = tmp_path / "job.journal.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(limit), backend],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    error = report["error"]
    # The job's own JournalError, chained from the kernel's refusal, not replaced by
    # a second OSError from closing the journal.
    assert error["type"] == "JournalError", error
    assert error["cause"] == "OSError"
    assert error["errno"] == 27
    assert error["path"] == str(path)
    assert "File too large" in error["text"]
    assert "reconcile_journal" in error["text"]
    assert "99890" not in error["text"]  # indices, never numbers

    received = {int(text.split("#")[1]) for text in report["received"]}
    assert received, "the limit let no send through: the test proves nothing"
    assert len(received) < 300
    outcomes = dict(report["results"])
    # The journal, read back without the limit: every message the provider received is
    # journaled sent or still in doubt (attempting), never lost or provably unsent.
    with FileJournal(path) as journal:
        entries = journal.entries()
    unrecorded = {i for i in received if entries.get(i) is None or entries[i].state != "sent"}
    for index in unrecorded:
        assert entries[index].state == "attempting", (index, entries.get(index))
    # ... and the error names exactly those that may have gone out unrecorded.
    assert set(error["in_doubt"]) >= unrecorded
    for index in error["in_doubt"]:
        # (a write cut short may still have put whole records on the disk)
        assert entries[index].state in ("attempting", "sent")
        assert outcomes[index] in ("sent", "unknown")
    for index, outcome in outcomes.items():
        if outcome == "sent":
            assert index in received


def _unprivileged() -> list[str]:
    """Run as ``nobody`` when we are root (root writes into read-only directories)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is needed to drop root")
    user = pwd.getpwnam("nobody")
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"]


READ_ONLY_CHILD = textwrap.dedent(
    """
    import sys
    from devsms_async.bulk import FileJournal, JournalError
    try:
        FileJournal(sys.argv[1])
    except JournalError as exc:
        print("JournalError", type(exc.__cause__).__name__, exc.__cause__.errno, exc.path)
    except BaseException as exc:
        print("escaped", type(exc).__name__)
    """
)


def test_a_journal_in_a_read_only_directory_is_a_journal_error() -> None:
    directory = Path(tempfile.mkdtemp(prefix="devsms-ro-"))
    try:
        directory.chmod(0o555)
        path = directory / "job.journal.jsonl"
        done = subprocess.run(
            [*_unprivileged(), sys.executable, "-c", READ_ONLY_CHILD, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
        )
        assert done.returncode == 0, done.stderr
        kind, cause, errno, where = done.stdout.split()
        assert kind == "JournalError"
        assert cause in ("PermissionError", "OSError")
        assert int(errno) in (13, 30)  # EACCES, or EROFS on a read-only mount
        assert where == str(path)
    finally:
        directory.chmod(0o755)
        shutil.rmtree(directory)


def test_a_journal_that_cannot_be_opened_is_a_journal_error(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("x")
    with pytest.raises(JournalError) as caught:
        FileJournal(not_a_directory / "job.journal.jsonl")
    assert isinstance(caught.value.__cause__, OSError)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_file_journal_opened_before_fork_refuses_to_write_in_the_child(tmp_path: Path) -> None:
    import anyio

    from devsms_async import UsageError
    from devsms_async.bulk import JournalEntry

    path = tmp_path / "job.journal.jsonl"
    with FileJournal(path) as journal:
        pid = os.fork()
        if pid == 0:  # the child
            code = 3
            try:
                anyio.run(journal.write, JournalEntry(index=0, hash="h", state="attempting"))
            except UsageError:
                code = 0
            except BaseException:
                code = 4
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        anyio.run(journal.write, JournalEntry(index=0, hash="h", state="attempting"))
    with FileJournal(path) as journal:
        assert list(journal.entries()) == [0]  # only the parent's record
