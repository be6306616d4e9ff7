"""A mock HTTP client: canned responses per route, every request recorded.

Routes are matched on the method (any case) and the *path*: a full URL such as
``http://host/api/x?q=1`` is requested as the route ``/api/x`` — scheme, host,
query string and fragment are ignored, a missing leading ``/`` is added, and a
trailing ``/`` counts (``/api/x/`` is another route). Keyword arguments
(``json=``, ``params=``, ``headers=`` ...) are recorded but never matched.

A request is made when it is awaited (``await client.get(...)``) or entered
(``async with client.get(...) as resp``), as with aiohttp.
"""

from __future__ import annotations

import copy
import json as jsonlib
from collections.abc import Coroutine, Generator, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, NamedTuple, Self
from urllib.parse import urlsplit

from .._exceptions import AwaitflowError

__all__ = [
    "HttpCall",
    "HttpStatusError",
    "MockHttpClient",
    "MockResponse",
    "UnmatchedRequestError",
]


class HttpCall(NamedTuple):
    """One recorded request: ``method`` upper-cased, ``path`` exactly as requested."""

    method: str
    path: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class UnmatchedRequestError(AwaitflowError, AssertionError):
    """A request matched no registered route.

    It is an ``AssertionError`` because it reports a test that is set up wrong
    (the code made a request the test did not expect), not a network failure:
    pytest shows it as a failed expectation, and code under test that retries on
    ``ConnectionError`` or ``OSError`` does not swallow it.
    """

    def __init__(self, method: str, path: str, routes: list[tuple[str, str]]) -> None:
        self.method = method
        self.path = path
        self.routes = routes
        listed = "".join(f"\n  {m} {p}" for m, p in routes) or " (none)"
        route = _route_path(path)
        requested = f"{method} {route}" + (f" (requested as {path!r})" if route != path else "")
        super().__init__(f"no response registered for {requested}; registered routes:{listed}")


class HttpStatusError(AwaitflowError):
    """``raise_for_status()`` on a response whose status is 400 or more."""

    def __init__(self, response: MockResponse) -> None:
        self.response = response
        self.status = response.status
        super().__init__(
            f"HTTP {response.status} {response.reason} for {response.method} {response.url}"
        )


class _Headers(Mapping[str, str]):
    """Response headers; lookups ignore case, iteration keeps the names as given."""

    def __init__(self, items: Mapping[str, str]) -> None:
        self._items = {name.lower(): (name, value) for name, value in items.items()}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return repr(dict(self.items()))


class MockResponse:
    """The response to one request of a :class:`MockHttpClient`."""

    def __init__(
        self,
        status: int,
        *,
        body: str = "",
        headers: Mapping[str, str] | None = None,
        method: str = "GET",
        url: str = "/",
    ) -> None:
        self.status = status
        self.headers: Mapping[str, str] = _Headers(headers or {})
        self.method = method
        self.url = url
        self._body = body

    @property
    def status_code(self) -> int:
        """The status, under the name httpx and requests use."""
        return self.status

    @property
    def ok(self) -> bool:
        """True when the status is under 400."""
        return self.status < 400

    @property
    def reason(self) -> str:
        """The status phrase (``"Not Found"``), empty for an unknown status."""
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return ""

    async def json(self) -> Any:
        """The body decoded from JSON (a fresh object each time); None for an empty body."""
        if not self._body:
            return None
        try:
            return jsonlib.loads(self._body)
        except ValueError as error:
            raise ValueError(
                f"the body of the response to {self.method} {self.url} is not JSON: {error}"
            ) from error

    async def text(self) -> str:
        """The body as text."""
        return self._body

    async def read(self) -> bytes:
        """The body as UTF-8 bytes."""
        return self._body.encode("utf-8")

    def raise_for_status(self) -> None:
        """Raise :class:`HttpStatusError` when the status is 400 or more."""
        if self.status >= 400:
            raise HttpStatusError(self)

    def release(self) -> None:
        """Nothing to release; present for code written for aiohttp."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<MockResponse {self.status} {self.method} {self.url}>"


class _RequestContext:
    """What the request methods return: awaitable, and an async context manager."""

    def __init__(self, coro: Coroutine[Any, Any, MockResponse]) -> None:
        self._coro = coro
        self._response: MockResponse | None = None

    def __await__(self) -> Generator[Any, None, MockResponse]:
        return self._coro.__await__()

    async def __aenter__(self) -> MockResponse:
        self._response = await self._coro
        return self._response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._response is not None:
            self._response.release()


@dataclass(frozen=True)
class _Canned:
    status: int
    body: str
    headers: dict[str, str]
    raises: BaseException | type[BaseException] | None


def _route_path(path: str) -> str:
    route = urlsplit(path).path or "/"
    return route if route.startswith("/") else "/" + route


def _fresh(exc: BaseException | type[BaseException]) -> BaseException | type[BaseException]:
    """A copy of a registered exception: raising one object repeatedly piles up its traceback."""
    if isinstance(exc, type):
        return exc
    try:
        fresh = copy.copy(exc)
    except Exception:
        return exc.with_traceback(None)
    if hasattr(fresh, "__notes__"):
        fresh.__notes__ = list(fresh.__notes__)
    return fresh


class MockHttpClient:
    """A fake HTTP client serving canned responses and recording every request.

    ``get``, ``post``, ``put``, ``patch``, ``delete``, ``head``, ``options`` and
    ``request`` return an object you can ``await`` for the :class:`MockResponse`
    or use as ``async with client.get(path) as resp``.
    """

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], list[_Canned]] = {}
        self._served: dict[tuple[str, str], int] = {}
        self._calls: list[HttpCall] = []
        self._closed = False

    def add_response(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        text: str | None = None,
        raises: BaseException | type[BaseException] | None = None,
    ) -> None:
        """Register a response for ``method path``.

        Registering the same route again queues another response: they are
        served in order, one per request, and the last one repeats for every
        request after. ``json`` is serialised now (so each ``await resp.json()``
        gets a fresh copy); ``text`` is a raw body. With ``raises``, that
        request raises the exception (an instance, copied for each request, or
        a class) instead of returning a response.
        """
        key = (self._check_method(method), self._check_route(path))
        if json is not None and text is not None:
            raise ValueError(f"add_response({key[0]} {key[1]}): give json= or text=, not both")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(
                f"add_response({key[0]} {key[1]}): status must be an int from 100 to 599, "
                f"got {status!r}"
            )
        if raises is not None:
            if not (
                isinstance(raises, BaseException)
                or (isinstance(raises, type) and issubclass(raises, BaseException))
            ):
                raise TypeError(
                    f"add_response({key[0]} {key[1]}): raises= must be an exception "
                    f"instance or class, got {raises!r}"
                )
            if json is not None or text is not None or headers:
                raise ValueError(
                    f"add_response({key[0]} {key[1]}): raises= cannot be combined with a body "
                    "or headers"
                )
        if text is not None and not isinstance(text, str):
            raise TypeError(
                f"add_response({key[0]} {key[1]}): text= must be a str, got {type(text).__name__}"
            )
        body = "" if text is None else text
        default_headers: dict[str, str] = {}
        if json is not None:
            try:
                body = jsonlib.dumps(json)
            except (TypeError, ValueError) as error:
                raise TypeError(
                    f"add_response({key[0]} {key[1]}): json= is not JSON-serialisable: {error}"
                ) from error
            default_headers["Content-Type"] = "application/json"
        elif text is not None:
            default_headers["Content-Type"] = "text/plain; charset=utf-8"
        merged = dict(default_headers)
        for name, value in (headers or {}).items():
            # a header given in another case replaces the default one
            for existing in [k for k in merged if k.lower() == name.lower()]:
                del merged[existing]
            merged[name] = value
        self._routes.setdefault(key, []).append(_Canned(status, body, merged, raises))

    @property
    def routes(self) -> list[tuple[str, str]]:
        """The registered routes as ``(METHOD, path)``, in registration order."""
        return list(self._routes)

    @property
    def call_count(self) -> int:
        """How many requests were made (matched or not)."""
        return len(self._calls)

    def get_calls(self, method: str | None = None, path: str | None = None) -> list[HttpCall]:
        """The recorded requests, oldest first, optionally only one method and/or route.

        ``path`` is compared as a route: ``"/api/x"`` also finds requests made to
        ``"http://host/api/x?q=1"``.
        """
        wanted_method = None if method is None else method.upper()
        wanted_path = None if path is None else _route_path(path)
        return [
            call
            for call in self._calls
            if (wanted_method is None or call.method == wanted_method)
            and (wanted_path is None or _route_path(call.path) == wanted_path)
        ]

    def reset(self) -> None:
        """Forget the recorded requests and serve every route's queue from its start again."""
        self._calls.clear()
        self._served.clear()

    def clear(self) -> None:
        """Forget the recorded requests and every registered route."""
        self.reset()
        self._routes.clear()

    async def aclose(self) -> None:
        """Close the client; any request after this raises ``RuntimeError``."""
        self._closed = True

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def request(self, method: str, path: str, *args: Any, **kwargs: Any) -> _RequestContext:
        """Make a ``method`` request to ``path``; await it or use it with ``async with``."""
        return self._open(self._check_method(method), path, args, kwargs)

    def get(self, path: str, *args: Any, **kwargs: Any) -> _RequestContext:
        """Make a GET request."""
        return self._open("GET", path, args, kwargs)

    def post(self, path: str, *args: Any, **kwargs: Any) -> _RequestContext:
        """Make a POST request."""
        return self._open("POST", path, args, kwargs)

    def put(self, path: str, *args: Any, **kwargs: Any) -> _RequestContext:
        """Make a PUT request."""
        return self._open("PUT", path, args, kwargs)

    def patch(self, path: str, *args: Any, **kwargs: Any) -> _RequestContext:
        """Make a PATCH request."""
        return self._open("PATCH", path, args, kwargs)

    def delete(self, path: str, *args: Any, **kwargs: Any) -> _RequestContext:
        """Make a DELETE request."""
        return self._open("DELETE", path, args, kwargs)

    def head(self, path: str, *args: Any, **kwargs: Any) -> _RequestContext:
        """Make a HEAD request."""
        return self._open("HEAD", path, args, kwargs)

    def options(self, path: str, *args: Any, **kwargs: Any) -> _RequestContext:
        """Make an OPTIONS request."""
        return self._open("OPTIONS", path, args, kwargs)

    def __repr__(self) -> str:
        return f"<MockHttpClient routes={len(self._routes)} calls={len(self._calls)}>"

    # The public methods never call each other, so that a recording wrapper put
    # around each of them records one call per request.
    def _open(
        self, method: str, path: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> _RequestContext:
        return _RequestContext(self._send(method, str(path), args, kwargs))

    async def _send(
        self, method: str, path: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> MockResponse:
        if self._closed:
            raise RuntimeError(f"{method} {path}: the mock HTTP client is closed")
        self._calls.append(HttpCall(method, path, args, kwargs))
        key = (method, _route_path(path))
        queue = self._routes.get(key)
        if queue is None:
            raise UnmatchedRequestError(method, path, self.routes)
        served = self._served.get(key, 0)
        self._served[key] = served + 1
        canned = queue[min(served, len(queue) - 1)]
        if canned.raises is not None:
            raise _fresh(canned.raises)
        return MockResponse(
            canned.status, body=canned.body, headers=canned.headers, method=method, url=path
        )

    @staticmethod
    def _check_method(method: str) -> str:
        if not isinstance(method, str) or not method.strip():
            raise TypeError(f"an HTTP method must be a non-empty str, got {method!r}")
        return method.strip().upper()

    @staticmethod
    def _check_route(path: str) -> str:
        if not isinstance(path, str) or not path:
            raise TypeError(f"a route path must be a non-empty str, got {path!r}")
        parts = urlsplit(path)
        if parts.query or parts.fragment:
            raise ValueError(
                f"route {path!r} has a query string or fragment; routes match on the path only"
            )
        return _route_path(path)
