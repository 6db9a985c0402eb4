"""Staged files and folders: swapped into place whole, leftovers of killed writes removed."""

import fcntl
import os

import pytest

from fastsim import staging
from fastsim.errors import InputError
from fastsim.staging import check_folder_target, remove_stale, staged_file, staged_folder


def write_folder(path, files: dict[str, str]):
    with staged_folder(path, replaces=("a", "b")) as folder:
        for name, text in files.items():
            (folder / name).write_text(text)


def contents(path):
    return {p.name: p.read_text() for p in path.iterdir()}


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_folder_is_replaced_whole(tmp_path, monkeypatch, exchange):
    if not exchange:  # systems without renameat2(RENAME_EXCHANGE)
        monkeypatch.setattr(staging, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    write_folder(out, {"a": "1", "b": "1"})
    write_folder(out, {"a": "2"})
    assert contents(out) == {"a": "2"} and os.listdir(tmp_path) == ["out"]


def test_exchange_is_used_on_linux(tmp_path, monkeypatch):
    if staging._RENAMEAT2 is None:
        pytest.skip("no renameat2 on this system")
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    (tmp_path / "x" / "f").write_text("x")
    assert staging._exchange(tmp_path / "x", tmp_path / "y")
    assert (tmp_path / "y" / "f").read_text() == "x" and not os.listdir(tmp_path / "x")


def test_stale_staging_folders_go_but_a_live_one_stays(tmp_path):
    out = tmp_path / "out"
    stale = tmp_path / ".out.staging-dead"
    live = tmp_path / ".out.staging-live"
    other = tmp_path / ".other.staging-dead"
    for folder in (stale, live, other):
        folder.mkdir()
        (folder / "a").write_text("half")
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a write in progress holds it
    try:
        remove_stale(out)
        assert not stale.exists() and live.exists() and other.exists()
    finally:
        os.close(fd)
    write_folder(out, {"a": "1"})
    assert sorted(os.listdir(tmp_path)) == [".other.staging-dead", "out"]


def test_an_exception_inside_leaves_the_old_folder(tmp_path):
    out = tmp_path / "out"
    write_folder(out, {"a": "1"})
    with pytest.raises(RuntimeError), staged_folder(out, replaces=("a",)) as folder:
        (folder / "a").write_text("2")
        raise RuntimeError
    assert contents(out) == {"a": "1"} and os.listdir(tmp_path) == ["out"]


def test_a_link_to_a_folder_keeps_pointing_at_the_new_one(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    write_folder(tmp_path / "link", {"a": "1"})
    assert (tmp_path / "link").is_symlink() and contents(tmp_path / "real") == {"a": "1"}


def test_targets_that_cannot_be_written(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="file: is a file"):
        check_folder_target(tmp_path / "file", replaces=())
    with pytest.raises(InputError, match="cannot write here"):
        check_folder_target(tmp_path / "file" / "sub", replaces=())
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("x")
    with pytest.raises(InputError, match="'mine.txt'"):
        check_folder_target(tmp_path / "full", replaces=("a",))
    with pytest.raises(InputError, match="is a folder"), staged_file(tmp_path / "full"):
        pass
    check_folder_target(tmp_path / "new" / "deep", replaces=())  # checks, creates nothing
    assert not (tmp_path / "new").exists()
