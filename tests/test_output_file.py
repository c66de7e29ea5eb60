"""--json PATH: atomic for regular files, written through for everything else, never lost."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from aicarbon.records.output_file import OutputPathError, check_writable, std_descriptor, write_text
from aicarbon.records.run import Run
from conftest import run_aicarbon

CORPUS_RECORD = Path(__file__).resolve().parent / "corpus" / "records" / "valid-plain.json"


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_regular_file_is_replaced_whole_and_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    target.write_text("old")
    target.chmod(0o640)
    write_text(target, "new text")
    assert target.read_text() == "new text"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert leftovers(tmp_path) == []


def test_new_file_gets_the_umask_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_text(tmp_path / "new.json", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o640


def test_symlink_is_followed_and_kept(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "x.json").write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to("runs/x.json")
    write_text(link, "record")
    assert link.is_symlink() and os.readlink(link) == "runs/x.json"
    assert (tmp_path / "runs" / "x.json").read_text() == "record"
    dangling = tmp_path / "next.json"
    dangling.symlink_to("runs/y.json")
    write_text(dangling, "created")
    assert dangling.is_symlink() and (tmp_path / "runs" / "y.json").read_text() == "created"


def test_hard_linked_file_is_written_in_place_so_every_name_sees_it(tmp_path: Path) -> None:
    first = tmp_path / "a.json"
    first.write_text("old old old")
    os.link(first, tmp_path / "b.json")
    write_text(first, "new")
    assert (tmp_path / "b.json").read_text() == "new"


def test_fifo_is_written_through_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    write_text(fifo, "through the pipe")
    reader.join(timeout=30)
    assert received == ["through the pipe"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_full_disk_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "run.json"
    target.write_text("the previous record")
    real_write = os.write

    def full(fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError, match="No space left"):
        write_text(target, "x" * 100_000)
    monkeypatch.undo()
    assert target.read_text() == "the previous record"
    assert leftovers(tmp_path) == []


def test_writable_file_in_a_directory_that_refuses_new_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    target = tmp_path / "shared.json"
    target.write_text("old")

    def refused(*args: object, **kwargs: object) -> object:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    write_text(target, "written in place")
    assert target.read_text() == "written in place"


def test_standard_stream_names() -> None:
    assert [
        std_descriptor(p) for p in ("-", "/dev/stdout", "/dev/stderr", "/dev/fd/7", "/proc/self/fd/9")
    ] == [
        1,
        1,
        2,
        7,
        9,
    ]
    assert std_descriptor("run.json") is None and std_descriptor("/dev/fd/x") is None


def test_paths_that_can_never_be_written_are_refused_first(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match="is a directory"):
        check_writable(tmp_path)
    with pytest.raises(OutputPathError, match="does not exist"):
        check_writable(tmp_path / "no" / "r.json")
    with pytest.raises(OutputPathError, match="descriptor 57 is not open"):
        check_writable(Path("/dev/fd/57"))
    check_writable(tmp_path / "fine.json")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_dev_full_is_written_through_never_replaced_and_the_record_rescued(tmp_path: Path) -> None:
    before = os.stat("/dev/full")
    out = run_aicarbon("run", "--json", "/dev/full", "--", "true", env={"TMPDIR": str(tmp_path)})
    assert out.returncode == 0
    after = os.stat("/dev/full")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert (
        "could not write /dev/full (No space left on device, ENOSPC); the run record was saved to"
        in out.stderr
    )
    (rescued,) = tmp_path.glob("aicarbon-run-*.json")
    assert json.loads(rescued.read_text())["exit"]["status"] == 0


def test_json_to_stdout_and_dash(tmp_path: Path) -> None:
    for target in ("/dev/stdout", "-"):
        out = run_aicarbon("run", "-q", "--json", target, "--", "true", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["schema"] == "aicarbon.run/4"
        assert sorted(p.name for p in tmp_path.iterdir()) == []  # no file named "-"


def test_symlinked_record_through_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    (tmp_path / "latest.json").symlink_to("runs/x.json")
    out = run_aicarbon("run", "-q", "--json", "latest.json", "--", "true", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "latest.json").is_symlink()
    assert json.loads((tmp_path / "runs" / "x.json").read_text())["schema"] == "aicarbon.run/4"


def test_twenty_parallel_runs_writing_one_path_all_succeed(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    command = ["run", "-q", "--sensors", "estimate", "--json", str(target), "--", "sh", "-c"]

    def one(i: int) -> subprocess.CompletedProcess[str]:
        return run_aicarbon(*command, f"exit {i % 3}")

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    assert [r.returncode for r in results] == [i % 3 for i in range(20)]
    assert all(r.stderr == "" for r in results), [r.stderr for r in results if r.stderr]
    assert json.loads(target.read_text())["schema"] == "aicarbon.run/4"  # one whole record
    assert leftovers(tmp_path) == []


def test_nothing_writable_anywhere_still_reports_and_keeps_the_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A read-only filesystem everywhere (faked at os.open): the report is printed, the user
    is told, and with -q the record itself is printed on stderr."""
    from aicarbon.cli.deliver import deliver

    record = Run.load(CORPUS_RECORD)
    real_open = os.open

    def read_only(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", read_only)
    deliver(record, tmp_path / "run.json", quiet=False)
    err = capsys.readouterr().err
    assert err.startswith("aicarbon  sh -c 'exit 3'")  # the report
    assert err.rstrip().splitlines()[-1] == (
        f"aicarbon: could not write {tmp_path / 'run.json'} (Read-only file system, EROFS); "
        "nor could it be saved in the temporary directory (Read-only file system, EROFS)"
    )
    deliver(record, tmp_path / "run.json", quiet=True)
    err = capsys.readouterr().err
    head, _, rest = err.partition("aicarbon: the run record follows, so that it is not lost:\n")
    assert "nor could it be saved" in head
    assert Run.from_dict(json.loads(rest)) == record
