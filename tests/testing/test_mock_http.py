"""The mock HTTP client: routes, queued responses, errors, call recording."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

import pytest

from awaitflow import AwaitflowError
from awaitflow.testing._mock_http import (
    HttpCall,
    HttpStatusError,
    MockHttpClient,
    MockResponse,
    UnmatchedRequestError,
)


@pytest.fixture
def client() -> MockHttpClient:
    return MockHttpClient()


class TestResponses:
    @pytest.mark.asyncio
    async def test_get_returns_the_registered_json(self, client: MockHttpClient) -> None:
        """A GET of a registered route returns its JSON body and status 200."""
        client.add_response("GET", "/api/data", {"results": [1, 2, 3]})
        resp = await client.get("/api/data")
        assert isinstance(resp, MockResponse)
        assert (resp.status, resp.status_code, resp.ok) == (200, 200, True)
        assert await resp.json() == {"results": [1, 2, 3]}

    @pytest.mark.asyncio
    async def test_json_body_is_also_text(self, client: MockHttpClient) -> None:
        """The text of a JSON response is the JSON document."""
        client.add_response("GET", "/x", {"a": 1})
        resp = await client.get("/x")
        assert await resp.text() == '{"a": 1}'
        assert await resp.read() == b'{"a": 1}'

    @pytest.mark.asyncio
    async def test_each_json_call_gets_a_fresh_object(self, client: MockHttpClient) -> None:
        """Mutating a decoded body does not change what the next request gets."""
        client.add_response("GET", "/x", {"items": [1]})
        first = await (await client.get("/x")).json()
        first["items"].append(2)
        assert await (await client.get("/x")).json() == {"items": [1]}

    @pytest.mark.asyncio
    async def test_text_response(self, client: MockHttpClient) -> None:
        """``text=`` gives a raw body with a text content type."""
        client.add_response("GET", "/health", text="OK")
        resp = await client.get("/health")
        assert await resp.text() == "OK"
        assert resp.headers["content-type"] == "text/plain; charset=utf-8"

    @pytest.mark.asyncio
    async def test_text_that_is_not_json(self, client: MockHttpClient) -> None:
        """``json()`` of a non-JSON body names the request."""
        client.add_response("GET", "/health", text="OK")
        resp = await client.get("/health")
        with pytest.raises(ValueError, match=r"response to GET /health is not JSON"):
            await resp.json()

    @pytest.mark.asyncio
    async def test_empty_body(self, client: MockHttpClient) -> None:
        """A response without a body has empty text and a None JSON value."""
        client.add_response("DELETE", "/items/1", status=204)
        resp = await client.delete("/items/1")
        assert resp.status == 204
        assert await resp.text() == ""
        assert await resp.json() is None

    @pytest.mark.asyncio
    async def test_headers_ignore_case(self, client: MockHttpClient) -> None:
        """Header lookups ignore case; given headers override the default content type."""
        client.add_response(
            "GET", "/x", {"a": 1}, headers={"content-type": "application/vnd+json", "X-Id": "7"}
        )
        resp = await client.get("/x")
        assert resp.headers["Content-Type"] == "application/vnd+json"
        assert resp.headers["x-id"] == "7"
        assert dict(resp.headers) == {"content-type": "application/vnd+json", "X-Id": "7"}

    @pytest.mark.asyncio
    async def test_error_status(self, client: MockHttpClient) -> None:
        """A 4xx response is not ok and ``raise_for_status`` names status and path."""
        client.add_response("GET", "/api/missing", {"error": "gone"}, status=404)
        resp = await client.get("/api/missing")
        assert resp.ok is False
        assert resp.reason == "Not Found"
        with pytest.raises(HttpStatusError, match=r"^HTTP 404 Not Found for GET /api/missing$"):
            resp.raise_for_status()

    @pytest.mark.asyncio
    async def test_raise_for_status_passes_below_400(self, client: MockHttpClient) -> None:
        """``raise_for_status`` returns quietly for a 3xx status."""
        client.add_response("GET", "/old", status=304)
        resp = await client.get("/old")
        resp.raise_for_status()
        assert resp.ok is True

    @pytest.mark.asyncio
    async def test_http_status_error_keeps_the_response(self, client: MockHttpClient) -> None:
        """The status error carries the status and the response, and is an AwaitflowError."""
        client.add_response("POST", "/charges", status=503)
        resp = await client.post("/charges")
        with pytest.raises(AwaitflowError) as excinfo:
            resp.raise_for_status()
        assert isinstance(excinfo.value, HttpStatusError)
        assert (excinfo.value.status, excinfo.value.response) == (503, resp)


class TestRequests:
    @pytest.mark.asyncio
    async def test_async_with(self, client: MockHttpClient) -> None:
        """``async with client.get(...) as resp`` gives the response, as with aiohttp."""
        client.add_response("GET", "/api/data", {"ok": True})
        async with client.get("/api/data") as resp:
            assert await resp.json() == {"ok": True}
        assert client.call_count == 1

    @pytest.mark.asyncio
    async def test_response_is_an_async_context_manager(self, client: MockHttpClient) -> None:
        """An awaited response can itself be used with ``async with``."""
        client.add_response("GET", "/x", {"a": 1})
        async with await client.get("/x") as resp:
            assert resp.status == 200

    @pytest.mark.parametrize("verb", ["get", "post", "put", "patch", "delete", "head", "options"])
    @pytest.mark.asyncio
    async def test_every_verb(self, client: MockHttpClient, verb: str) -> None:
        """Each verb method requests its own method's routes."""
        client.add_response(verb.upper(), "/r", {"verb": verb})
        resp = await getattr(client, verb)("/r")
        assert await resp.json() == {"verb": verb}
        assert client.get_calls() == [HttpCall(verb.upper(), "/r", (), {})]

    @pytest.mark.asyncio
    async def test_methods_ignore_case(self, client: MockHttpClient) -> None:
        """Methods are matched whatever their case, at registration and at request."""
        client.add_response("post", "/charges", {"id": "ch_1"})
        resp = await client.request("Post", "/charges")
        assert await resp.json() == {"id": "ch_1"}
        assert client.get_calls()[0].method == "POST"

    @pytest.mark.asyncio
    async def test_full_url_matches_its_path(self, client: MockHttpClient) -> None:
        """Scheme, host, query and fragment of a requested URL are ignored for matching."""
        client.add_response("GET", "/api/x", {"hit": True})
        resp = await client.get("https://example.test:8443/api/x?q=1#top")
        assert await resp.json() == {"hit": True}

    @pytest.mark.asyncio
    async def test_route_given_as_url(self, client: MockHttpClient) -> None:
        """A route registered as a full URL is the URL's path."""
        client.add_response("GET", "http://service.test/api/x", {"hit": True})
        assert client.routes == [("GET", "/api/x")]
        assert (await client.get("/api/x")).status == 200

    @pytest.mark.asyncio
    async def test_missing_leading_slash(self, client: MockHttpClient) -> None:
        """A path without a leading slash matches the route with one."""
        client.add_response("GET", "/api/x", {"hit": True})
        assert (await client.get("api/x")).status == 200

    @pytest.mark.asyncio
    async def test_trailing_slash_is_another_route(self, client: MockHttpClient) -> None:
        """``/api/x/`` does not match the route ``/api/x``."""
        client.add_response("GET", "/api/x", {"hit": True})
        with pytest.raises(UnmatchedRequestError):
            await client.get("/api/x/")

    @pytest.mark.asyncio
    async def test_request_is_made_when_awaited(self, client: MockHttpClient) -> None:
        """Calling ``get`` without awaiting it makes no request yet."""
        client.add_response("GET", "/x", {"a": 1})
        pending = client.get("/x")
        assert client.call_count == 0
        await pending
        assert client.call_count == 1

    @pytest.mark.asyncio
    async def test_request_cannot_be_awaited_twice(self, client: MockHttpClient) -> None:
        """A request object is sent once, like a coroutine."""
        client.add_response("GET", "/x", {"a": 1})
        pending = client.get("/x")
        await pending
        with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
            await pending


class TestQueuedResponses:
    @pytest.mark.asyncio
    async def test_served_in_order_and_last_repeats(self, client: MockHttpClient) -> None:
        """Responses registered for one route are served in order; the last one repeats."""
        client.add_response("GET", "/job", {"state": "queued"})
        client.add_response("GET", "/job", {"state": "running"})
        client.add_response("GET", "/job", {"state": "done"})
        states = [(await (await client.get("/job")).json())["state"] for _ in range(5)]
        assert states == ["queued", "running", "done", "done", "done"]

    @pytest.mark.asyncio
    async def test_queues_are_per_route(self, client: MockHttpClient) -> None:
        """Serving one route does not advance another route's queue."""
        client.add_response("GET", "/a", {"n": 1})
        client.add_response("GET", "/a", {"n": 2})
        client.add_response("POST", "/a", {"n": "post"})
        await client.post("/a")
        assert await (await client.get("/a")).json() == {"n": 1}

    @pytest.mark.asyncio
    async def test_concurrent_requests_take_successive_responses(
        self, client: MockHttpClient
    ) -> None:
        """Concurrent requests to a route each get the next queued response."""
        for n in range(3):
            client.add_response("GET", "/n", {"n": n})
        responses = await asyncio.gather(*(client.get("/n") for _ in range(3)))
        assert sorted([(await r.json())["n"] for r in responses]) == [0, 1, 2]

    @pytest.mark.asyncio
    async def test_raises_instance(self, client: MockHttpClient) -> None:
        """``raises=`` an instance raises an exception of its type and message."""
        client.add_response("GET", "/flaky", raises=ConnectionError("connection reset"))
        with pytest.raises(ConnectionError, match=r"^connection reset$"):
            await client.get("/flaky")

    @pytest.mark.asyncio
    async def test_raises_class(self, client: MockHttpClient) -> None:
        """``raises=`` a class raises a new instance of it."""
        client.add_response("GET", "/slow", raises=TimeoutError)
        with pytest.raises(TimeoutError):
            await client.get("/slow")

    @pytest.mark.asyncio
    async def test_raises_then_succeeds(self, client: MockHttpClient) -> None:
        """Two failures then a success: the pattern of a retry test."""
        client.add_response("POST", "/submit", raises=ConnectionError("fail"))
        client.add_response("POST", "/submit", raises=ConnectionError("fail"))
        client.add_response("POST", "/submit", {"success": True})
        outcomes: list[Any] = []
        for _ in range(3):
            try:
                outcomes.append(await (await client.post("/submit")).json())
            except ConnectionError as error:
                outcomes.append(str(error))
        assert outcomes == ["fail", "fail", {"success": True}]

    @pytest.mark.asyncio
    async def test_repeated_raise_uses_fresh_exceptions(self, client: MockHttpClient) -> None:
        """A repeated ``raises=`` gives a new exception each time, so tracebacks do not pile up."""
        registered = ConnectionError("down")
        client.add_response("GET", "/down", raises=registered)
        errors = []
        for _ in range(2):
            with pytest.raises(ConnectionError) as excinfo:
                await client.get("/down")
            errors.append(excinfo.value)
        assert errors[0] is not errors[1]
        assert registered.__traceback__ is None


class TestUnmatched:
    @pytest.mark.asyncio
    async def test_message_lists_request_and_routes(self, client: MockHttpClient) -> None:
        """An unmatched request names itself and every registered route."""
        client.add_response("GET", "/api/data", {})
        client.add_response("POST", "/charges", {})
        with pytest.raises(
            UnmatchedRequestError,
            match=r"^no response registered for GET /charges; registered routes:\n"
            r"  GET /api/data\n  POST /charges$",
        ):
            await client.get("/charges")

    @pytest.mark.asyncio
    async def test_message_shows_the_url_requested(self, client: MockHttpClient) -> None:
        """When a URL was requested, the message shows both its route and the URL."""
        with pytest.raises(
            UnmatchedRequestError,
            match=r"^no response registered for GET /x \(requested as 'http://h/x\?q=1'\); "
            r"registered routes: \(none\)$",
        ):
            await client.get("http://h/x?q=1")

    @pytest.mark.asyncio
    async def test_is_an_assertion_error(self, client: MockHttpClient) -> None:
        """The error is an AssertionError (a test set up wrong), not a network error."""
        with pytest.raises(UnmatchedRequestError) as excinfo:
            await client.get("/nothing")
        error = excinfo.value
        assert isinstance(error, AssertionError)
        assert isinstance(error, AwaitflowError)
        assert not isinstance(error, OSError)
        assert (error.method, error.path) == ("GET", "/nothing")


class TestCalls:
    @pytest.mark.asyncio
    async def test_calls_record_args_and_kwargs(self, client: MockHttpClient) -> None:
        """Each request is recorded with its method, path, extra arguments and keywords."""
        client.add_response("POST", "/charges", {"id": "ch_123"})
        await client.post("/charges", json={"amount": 2000}, headers={"Idempotency-Key": "k"})
        calls = client.get_calls("POST", "/charges")
        assert calls == [
            HttpCall(
                "POST",
                "/charges",
                (),
                {"json": {"amount": 2000}, "headers": {"Idempotency-Key": "k"}},
            )
        ]
        assert calls[0].kwargs["json"]["amount"] == 2000

    @pytest.mark.asyncio
    async def test_positional_arguments_are_recorded(self, client: MockHttpClient) -> None:
        """Positional arguments after the path are kept in ``args``."""
        client.add_response("PUT", "/blob", status=201)
        await client.put("/blob", b"data")
        assert client.get_calls()[0].args == (b"data",)

    @pytest.mark.asyncio
    async def test_unmatched_and_raising_calls_are_recorded(self, client: MockHttpClient) -> None:
        """Requests that match nothing or raise are recorded too."""
        client.add_response("GET", "/boom", raises=OSError("boom"))
        with pytest.raises(OSError, match="boom"):
            await client.get("/boom")
        with pytest.raises(UnmatchedRequestError):
            await client.delete("/nowhere")
        assert [(c.method, c.path) for c in client.get_calls()] == [
            ("GET", "/boom"),
            ("DELETE", "/nowhere"),
        ]

    @pytest.mark.asyncio
    async def test_get_calls_filters(self, client: MockHttpClient) -> None:
        """``get_calls`` filters by method, by path, or by both."""
        client.add_response("GET", "/a", {})
        client.add_response("POST", "/a", {})
        client.add_response("GET", "/b", {})
        await client.get("/a")
        await client.post("/a")
        await client.get("/b?page=2")
        assert [(c.method, c.path) for c in client.get_calls("get")] == [
            ("GET", "/a"),
            ("GET", "/b?page=2"),
        ]
        assert [c.method for c in client.get_calls(path="/a")] == ["GET", "POST"]
        assert [c.path for c in client.get_calls("GET", "/b")] == ["/b?page=2"]
        assert client.get_calls("PUT") == []

    @pytest.mark.asyncio
    async def test_path_filter_is_a_route(self, client: MockHttpClient) -> None:
        """Filtering on a path finds the calls made to full URLs of that route."""
        client.add_response("GET", "/api/x", {})
        await client.get("http://h/api/x?q=1")
        assert client.get_calls(path="/api/x") == [HttpCall("GET", "http://h/api/x?q=1", (), {})]

    @pytest.mark.asyncio
    async def test_call_count(self, client: MockHttpClient) -> None:
        """``call_count`` counts every request."""
        client.add_response("GET", "/a", {})
        await client.get("/a")
        await client.get("/a")
        assert client.call_count == 2

    @pytest.mark.asyncio
    async def test_reset_forgets_calls_and_rewinds(self, client: MockHttpClient) -> None:
        """``reset`` forgets the calls and serves each queue from its start; routes stay."""
        client.add_response("GET", "/a", {"n": 1})
        client.add_response("GET", "/a", {"n": 2})
        await client.get("/a")
        client.reset()
        assert client.call_count == 0
        assert await (await client.get("/a")).json() == {"n": 1}

    @pytest.mark.asyncio
    async def test_clear_forgets_routes(self, client: MockHttpClient) -> None:
        """``clear`` forgets the calls and every route."""
        client.add_response("GET", "/a", {})
        await client.get("/a")
        client.clear()
        assert (client.call_count, client.routes) == (0, [])
        with pytest.raises(UnmatchedRequestError):
            await client.get("/a")


class TestClosing:
    @pytest.mark.asyncio
    async def test_request_after_aclose(self, client: MockHttpClient) -> None:
        """A request after ``aclose()`` raises RuntimeError naming it."""
        client.add_response("GET", "/a", {})
        await client.aclose()
        await client.aclose()
        with pytest.raises(RuntimeError, match=r"^GET /a: the mock HTTP client is closed$"):
            await client.get("/a")

    @pytest.mark.asyncio
    async def test_async_with_closes(self) -> None:
        """Used as ``async with``, the client is closed on exit."""
        async with MockHttpClient() as client:
            client.add_response("GET", "/a", {})
            await client.get("/a")
        with pytest.raises(RuntimeError, match="closed"):
            await client.get("/a")


class TestRegistrationErrors:
    def test_status_out_of_range(self, client: MockHttpClient) -> None:
        """A status outside 100-599 is refused, naming the route."""
        with pytest.raises(ValueError, match=r"add_response\(GET /a\): status must be .* got 42"):
            client.add_response("GET", "/a", status=42)

    def test_json_and_text(self, client: MockHttpClient) -> None:
        """A body cannot be both JSON and text."""
        with pytest.raises(ValueError, match=r"give json= or text=, not both"):
            client.add_response("GET", "/a", {"a": 1}, text="a")

    def test_json_not_serialisable(self, client: MockHttpClient) -> None:
        """A JSON body that cannot be serialised is refused when registered."""
        with pytest.raises(TypeError, match=r"add_response\(GET /a\): json= is not JSON-serial"):
            client.add_response("GET", "/a", {"when": object()})

    def test_raises_not_an_exception(self, client: MockHttpClient) -> None:
        """``raises=`` must be an exception instance or class."""
        with pytest.raises(TypeError, match=r"raises= must be an exception instance or class"):
            client.add_response("GET", "/a", raises="boom")  # type: ignore[arg-type]

    def test_raises_with_body(self, client: MockHttpClient) -> None:
        """``raises=`` with a body is contradictory and refused."""
        with pytest.raises(ValueError, match=r"raises= cannot be combined with a body"):
            client.add_response("GET", "/a", {"a": 1}, raises=OSError)

    def test_route_with_query(self, client: MockHttpClient) -> None:
        """A route with a query string is refused: routes match on the path only."""
        with pytest.raises(ValueError, match=r"route '/a\?x=1' has a query string"):
            client.add_response("GET", "/a?x=1", {})

    def test_bad_method(self, client: MockHttpClient) -> None:
        """An empty method is refused."""
        with pytest.raises(TypeError, match=r"an HTTP method must be a non-empty str, got ''"):
            client.add_response("", "/a", {})

    def test_bad_method_at_request(self, client: MockHttpClient) -> None:
        """``request`` with a method that is not a string fails at once."""
        with pytest.raises(TypeError, match=r"an HTTP method must be a non-empty str, got None"):
            client.request(None, "/a")  # type: ignore[arg-type]


class TestRecordingWrappers:
    @pytest.mark.asyncio
    async def test_works_under_magicmock_wraps(self, client: MockHttpClient) -> None:
        """Wrapped by ``MagicMock(wraps=...)``, await and ``async with`` still work."""
        client.add_response("POST", "/alerts", {"alert_id": "a1"})
        proxy = mock.MagicMock(wraps=client)
        resp = await proxy.post("/alerts", json={"severity": "critical"})
        async with proxy.post("/alerts") as again:
            assert again.status == 200
        assert await resp.json() == {"alert_id": "a1"}
        assert proxy.post.call_count == 2
        assert client.call_count == 2

    @pytest.mark.asyncio
    async def test_works_when_instrumented(self, client: MockHttpClient) -> None:
        """With its methods recorded by the test-resource recorder, each request counts once."""
        from awaitflow.testing._recording import calls_of, instrument

        client.add_response("POST", "/charges", {"id": "ch_1"})
        assert instrument(client)
        resp = await client.post("/charges", json={"amount": 1})
        async with client.request("POST", "/charges") as again:
            assert await again.json() == {"id": "ch_1"}
        assert await resp.json() == {"id": "ch_1"}
        assert len(calls_of(client, "post") or []) == 1
        assert len(calls_of(client, "request") or []) == 1
