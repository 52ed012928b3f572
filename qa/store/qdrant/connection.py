"""Where a Qdrant store is and how to talk to it: store URLs, clients (one shared client per local-mode folder),
the alias that names the current version, and client failures as typed errors naming the URL.

URL forms: `qdrant://HOST[:PORT]/NAME` (a server over HTTP, port 6333 by default; `qdrants://` over HTTPS; an API
key from $QDRANT_API_KEY) and `qdrant+path:FOLDER/NAME` (qdrant-client's embedded local mode in FOLDER, absolute
as `qdrant+path:/abs/folder/NAME`). NAME is the alias readers resolve; versions are collections behind it.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from qdrant_client import QdrantClient

from qa.errors import IndexNotFoundError, InvalidStoreURLError, QAError, StoreUnavailableError
from qa.store.qdrant import LOCAL_SCHEME, SERVER_SCHEMES  # the one list, which qa.store.location reads too
DEFAULT_PORT = 6333
API_KEY_ENV = "QDRANT_API_KEY"
META_SUFFIX = "__meta"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,200}")
URL_FORMS = ("qdrant://HOST[:PORT]/COLLECTION (a server, port 6333 by default; https: qdrants://), "
             "qdrant+path:/abs/folder/COLLECTION or qdrant+path:relative/folder/COLLECTION (local mode)")


def meta_collection(version: str) -> str:
    return version + META_SUFFIX


@dataclass(frozen=True)
class QdrantLocation:
    """A parsed store URL: a server (host, port) or a local-mode folder, and the collection alias."""

    url: str
    collection: str
    host: str | None = None
    port: int = DEFAULT_PORT
    https: bool = False
    folder: Path | None = None  # local mode

    @classmethod
    def parse(cls, url: str) -> "QdrantLocation":
        url = str(url)
        if url.startswith(LOCAL_SCHEME):
            folder, _, collection = url[len(LOCAL_SCHEME):].removeprefix("//").rstrip("/").rpartition("/")
            if not folder:
                raise InvalidStoreURLError(f"{url!r} names no folder. Use {URL_FORMS}.")
            return cls(url, cls._collection(url, collection), folder=Path(folder).resolve())
        scheme = next((s for s in SERVER_SCHEMES if url.startswith(s)), None)
        if scheme is None:
            raise InvalidStoreURLError(f"{url!r} is not a Qdrant store URL. Use {URL_FORMS}.")
        address, _, collection = url[len(scheme):].partition("/")
        host, _, port = address.rpartition(":") if ":" in address else (address, "", "")
        if not host or (port and not (port.isdigit() and 0 < int(port) < 65536)):
            raise InvalidStoreURLError(f"{url!r} has no valid host[:port]. Use {URL_FORMS}.")
        return cls(url, cls._collection(url, collection.rstrip("/")), host=host,
                   port=int(port) if port else DEFAULT_PORT, https=SERVER_SCHEMES[scheme])

    @staticmethod
    def _collection(url: str, name: str) -> str:
        if not _NAME.fullmatch(name) or META_SUFFIX in name:
            raise InvalidStoreURLError(f"{url!r}: the collection name {name!r} must be 1-200 letters, digits, '-' "
                                       f"or '_' (and not contain {META_SUFFIX!r}). Use {URL_FORMS}.")
        return name

    @property
    def local(self) -> bool:
        return self.folder is not None

    def connect(self) -> "Lease":
        if self.folder is None:
            client = QdrantClient(host=self.host, port=self.port, https=self.https,
                                  api_key=os.environ.get(API_KEY_ENV) or None, timeout=30,
                                  check_compatibility=False)  # one request less, no warning for a down server
            return Lease(self, client, threading.Lock())
        return _LOCAL_CLIENTS.lease(self)


@dataclass
class Lease:
    """A client to one location, used as `with lease as client:` (serialised for local mode, whose in-process
    engine is not thread-safe) and given back with `release()`. Client failures become typed errors there."""

    location: QdrantLocation
    client: QdrantClient
    lock: threading.Lock
    released: bool = False

    def __enter__(self) -> QdrantClient:
        self.lock.acquire()
        return self.client

    def __exit__(self, kind, error, trace) -> None:
        self.lock.release()
        translated = translate(error, self.location) if error is not None else None
        if translated is not error:
            raise translated from error

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        if self.location.local:
            _LOCAL_CLIENTS.give_back(self.location.folder)
        else:
            self.client.close()


def translate(error: BaseException, location: QdrantLocation) -> BaseException:
    """A client exception as the typed error a user can act on (the URL named); others unchanged."""
    if isinstance(error, QAError):
        return error
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    if isinstance(error, UnexpectedResponse) and error.status_code == 404:
        return IndexNotFoundError(f"No index at {location.url}. Build it with: qa index --store {location.url}")
    if isinstance(error, (ResponseHandlingException, UnexpectedResponse, ConnectionError, TimeoutError)):
        return StoreUnavailableError(f"Cannot reach the Qdrant server at {location.url} "
                                     f"({location.host}:{location.port}): {error}")
    return error


class _LocalClients:
    """The one local-mode client per folder of this process, shared and reference-counted.

    Why shared: local mode locks its folder against every other client (even in the same process) and keeps the
    data in that client's memory, so the chat's background indexer and its engine must use the same client to
    see each other's builds. It is closed when its last user gives it back, freeing the folder for others."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[Path, tuple[QdrantClient, threading.Lock, int]] = {}
        atexit.register(self.close_all)  # a store a command never closed: before the interpreter tears down

    def close_all(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client, lock, _ in clients:
            with lock:
                client.close()

    def lease(self, location: QdrantLocation) -> Lease:
        with self._lock:
            client, lock, users = self._clients.get(location.folder) or (self._open(location), threading.Lock(), 0)
            self._clients[location.folder] = (client, lock, users + 1)
        return Lease(location, client, lock)

    @staticmethod
    def _open(location: QdrantLocation) -> QdrantClient:
        try:
            return QdrantClient(path=str(location.folder))
        except (RuntimeError, OSError) as error:
            raise StoreUnavailableError(f"Cannot open {location.url}: {error}") from error

    def give_back(self, folder: Path) -> None:
        with self._lock:
            client, lock, users = self._clients[folder]
            if users > 1:
                self._clients[folder] = (client, lock, users - 1)
                return
            del self._clients[folder]
        with lock:
            client.close()


_LOCAL_CLIENTS = _LocalClients()


def resolve(client: QdrantClient, location: QdrantLocation) -> str | None:
    """The collection the alias names now (the version), the name itself when it is a plain collection, or None."""
    for alias in client.get_aliases().aliases:
        if alias.alias_name == location.collection:
            return alias.collection_name
    return location.collection if client.collection_exists(location.collection) else None
