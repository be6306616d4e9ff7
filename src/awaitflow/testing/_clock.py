"""Virtual time for a running asyncio event loop.

A :class:`VirtualClock` installs itself on a standard selector event loop, even one
that is already running, and replaces the loop's notion of time:

* the loop's time stands still while callbacks run (for up to ``freeze_limit`` real
  seconds of uninterrupted work; past that it runs at real speed until the loop next
  goes idle, so a task that spins without ever sleeping cannot hang a test);
* whenever the loop has nothing to do but wait for its next timer, the clock jumps
  straight to that timer, so ``asyncio.sleep``, ``asyncio.wait_for``,
  ``asyncio.timeout`` and ``loop.call_later`` complete at once yet see the full delay
  pass;
* while real work is in flight (a thread of ``run_in_executor`` / ``asyncio.to_thread``,
  a subprocess, a socket write whose reply has not arrived, a socket still
  connecting or flushing), the loop waits for it for real and virtual time runs at the
  speed of real time meanwhile, so a timeout still fires if that work hangs; a thread
  job or a request/reply never appears shorter than it really took.

How "waiting for I/O" is told from "idle" (the I/O rule):

1. Each select is preceded by a scan of the loop's socket transports; every transport
   gets its ``write``/``writelines``/``sendto`` wrapped so that sending data marks the
   socket as *awaiting a reply*. ``loop.sock_sendall``/``loop.sock_sendto`` mark the
   same way. The mark is cleared when the socket becomes readable (data or EOF) or
   stops being watched for reading. A mark older than ``reply_timeout`` real seconds
   is dropped: the peer is taken to send no reply. A socket whose peer is a socket of
   this same loop (a test server started in the test) holds nothing: its reply is
   produced by this loop, in virtual time.
2. After any I/O, before a jump, the clock waits up to ``idle_grace`` real seconds
   for more to arrive (the rest of a reply, a pushed message), while other file
   descriptors than the loop's own self-pipe are registered. Once a grace period
   passes quietly, later jumps are immediate until I/O happens again.

Uninstalling restores the loop's own methods and shifts the pending timers so each
keeps its remaining delay in real time.
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import selectors
import socket
import time as _time
import types
import weakref
from asyncio.selector_events import BaseSelectorEventLoop
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar, cast

__all__ = ["ClockStatistics", "VirtualClock", "VirtualTimeModule", "current_clock"]

_T = TypeVar("_T")
_TimeTuple = _time.struct_time | tuple[int, int, int, int, int, int, int, int, int]

# Virtual instants sit on a grid of 2**-20 s (about a microsecond): below 2**32 s a
# grid value plus a whole number of seconds is exact, so sleeping 5 s moves every
# reading by exactly 5.0.
_GRID: Final = 2.0**-20
_NS_PER_S: Final = 1_000_000_000
_SETTLE_ITERATIONS: Final = 50
_MISSING: Final = object()
_LOOP_METHODS: Final = (
    "time",
    "run_in_executor",
    "sock_sendall",
    "sock_sendto",
    "subprocess_exec",
    "subprocess_shell",
    "awaitflow_time_module",
)
_TRANSPORT_METHODS: Final = ("write", "writelines", "sendto")

_clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, VirtualClock] = (
    weakref.WeakKeyDictionary()
)


def _on_grid(seconds: float) -> float:
    """Round ``seconds`` up to the virtual time grid."""
    return math.ceil(seconds / _GRID) * _GRID


def _origin(seconds: float) -> tuple[float, int]:
    """``seconds`` rounded up to the grid, in seconds and in whole nanoseconds."""
    ticks = math.ceil(seconds / _GRID)
    return ticks * _GRID, ticks * _NS_PER_S // round(1 / _GRID)


def _address(read: Callable[[], object]) -> object:
    try:
        return read()
    except OSError:
        return None


def _call_on(
    ref: weakref.ReferenceType[Any], function: Callable[..., _T], *args: Any, **kwargs: Any
) -> _T:
    return function(ref(), *args, **kwargs)


def current_clock(loop: asyncio.AbstractEventLoop | None = None) -> VirtualClock | None:
    """Return the clock installed on ``loop`` (default: the running loop), else None."""
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
    return _clocks.get(loop)


@dataclass(frozen=True)
class ClockStatistics:
    """A snapshot of what a :class:`VirtualClock` has done since it was installed.

    ``virtual_elapsed``: virtual seconds since install; ``jumps``: how many times the
    idle loop skipped ahead to its next timer, ``jumped`` by how many seconds in total;
    ``real_waited``: real seconds spent waiting for work in flight (they count as
    virtual time too); ``executor_jobs``, ``subprocesses`` and ``pending_replies``:
    the real work in flight right now.
    """

    installed: bool
    virtual_elapsed: float
    jumps: int
    jumped: float
    real_waited: float
    executor_jobs: int
    subprocesses: int
    pending_replies: int


class VirtualTimeModule(types.ModuleType):
    """A stand-in for the ``time`` module whose clocks follow a :class:`VirtualClock`.

    ``monotonic()`` is the loop's virtual time; ``time()`` and ``perf_counter()`` start
    from their real values at install and advance with virtual time; the ``_ns``
    variants agree with them. ``gmtime``, ``localtime``, ``ctime``, ``asctime`` and
    ``strftime`` without a time argument use the virtual ``time()``. Everything else
    is the real ``time`` module: ``time.sleep`` still blocks for real. Before the
    clock is first installed, every function is the real one.
    """

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__("time", __doc__)
        self._awaitflow_clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(_time, name)

    def __repr__(self) -> str:
        return f"<virtual time module of {self._awaitflow_clock!r}>"

    def monotonic(self) -> float:
        """Virtual monotonic time: the loop's ``time()``."""
        return self._awaitflow_clock.now()

    def monotonic_ns(self) -> int:
        """Virtual monotonic time in integer nanoseconds."""
        clock = self._awaitflow_clock
        if not clock._ever_installed:
            return _time.monotonic_ns()
        return clock._origin_ns + round(clock._elapsed() * _NS_PER_S)

    def time(self) -> float:
        """Virtual wall-clock time in seconds since the epoch."""
        clock = self._awaitflow_clock
        return clock._wall_origin + clock._elapsed() if clock._ever_installed else _time.time()

    def time_ns(self) -> int:
        """Virtual wall-clock time in integer nanoseconds since the epoch."""
        clock = self._awaitflow_clock
        if not clock._ever_installed:
            return _time.time_ns()
        return clock._wall_origin_ns + round(clock._elapsed() * _NS_PER_S)

    def perf_counter(self) -> float:
        """Virtual performance counter."""
        clock = self._awaitflow_clock
        if not clock._ever_installed:
            return _time.perf_counter()
        return clock._perf_origin + clock._elapsed()

    def perf_counter_ns(self) -> int:
        """Virtual performance counter in integer nanoseconds."""
        clock = self._awaitflow_clock
        if not clock._ever_installed:
            return _time.perf_counter_ns()
        return clock._perf_origin_ns + round(clock._elapsed() * _NS_PER_S)

    def gmtime(self, secs: float | None = None) -> _time.struct_time:
        """``time.gmtime``, at the virtual ``time()`` by default."""
        return _time.gmtime(self.time() if secs is None else secs)

    def localtime(self, secs: float | None = None) -> _time.struct_time:
        """``time.localtime``, at the virtual ``time()`` by default."""
        return _time.localtime(self.time() if secs is None else secs)

    def ctime(self, secs: float | None = None) -> str:
        """``time.ctime``, at the virtual ``time()`` by default."""
        return _time.ctime(self.time() if secs is None else secs)

    def asctime(self, t: _TimeTuple | None = None) -> str:
        """``time.asctime``, at the virtual local time by default."""
        return _time.asctime(self.localtime() if t is None else t)

    def strftime(self, format: str, t: _TimeTuple | None = None) -> str:
        """``time.strftime``, at the virtual local time by default."""
        return _time.strftime(format, self.localtime() if t is None else t)


class VirtualClock:
    """Virtual time for an asyncio selector event loop; see the module docstring.

    ``idle_grace``: real seconds to wait for more I/O before a jump after I/O happened
    (default 0.02). ``reply_timeout``: real seconds a socket that sent data keeps
    the clock from jumping while no reply arrives (default 5.0; ``None``: until the
    reply comes). ``freeze_limit``: real seconds the clock stands still while the loop
    is busy without a break (default 0.5). Use ``install()``/``uninstall()`` or
    ``with``/``async with`` inside a running loop. ``time_module`` is a
    :class:`VirtualTimeModule` to use in place of the ``time`` module in code that
    should see virtual time; while installed it is also the loop attribute
    ``awaitflow_time_module``.
    """

    def __init__(
        self,
        *,
        idle_grace: float = 0.02,
        reply_timeout: float | None = 5.0,
        freeze_limit: float = 0.5,
    ) -> None:
        if not (math.isfinite(idle_grace) and idle_grace >= 0):
            raise ValueError(f"idle_grace must be a finite number >= 0, got {idle_grace!r}")
        if not (math.isfinite(freeze_limit) and freeze_limit >= 0):
            raise ValueError(f"freeze_limit must be a finite number >= 0, got {freeze_limit!r}")
        if reply_timeout is not None and not (math.isfinite(reply_timeout) and reply_timeout > 0):
            raise ValueError(
                f"reply_timeout must be None or a finite number > 0, got {reply_timeout!r}"
            )
        self._idle_grace = idle_grace
        self._reply_timeout = reply_timeout
        self._freeze_limit = freeze_limit
        self._busy_since: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ever_installed = False
        self._virtual = 0.0
        self._origin = 0.0
        self._origin_ns = 0
        self._wall_origin = 0.0
        self._wall_origin_ns = 0
        self._perf_origin = 0.0
        self._perf_origin_ns = 0
        self._real_at_uninstall = 0.0
        self._installation = 0
        self._reset_counters()
        self._saved: dict[str, object] = {}
        self._saved_select: object = _MISSING
        self._real_time: Callable[[], float] = _time.monotonic
        self._real_select: Callable[[float | None], list[tuple[selectors.SelectorKey, int]]] = (
            lambda timeout: []
        )
        self._self_pipe_fd = -1
        self.time_module: VirtualTimeModule = VirtualTimeModule(self)

    def _reset_counters(self) -> None:
        self._jumps = 0
        self._jumped = 0.0
        self._real_waited = 0.0
        self._io_seen = False
        self._awaiting: dict[int, tuple[float, float]] = {}
        self._addresses: dict[int, tuple[selectors.SelectorKey, object, object]] = {}
        self._executor_jobs: set[asyncio.Future[Any]] = set()
        self._subprocesses: weakref.WeakSet[asyncio.SubprocessTransport] = weakref.WeakSet()
        self._patched: weakref.WeakKeyDictionary[Any, dict[str, object]] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        state = f"installed at {self._virtual:.6f}" if self._loop is not None else "not installed"
        return f"<VirtualClock {state}>"

    @property
    def idle_grace(self) -> float:
        """Real seconds to wait for more I/O before jumping after I/O happened."""
        return self._idle_grace

    @property
    def reply_timeout(self) -> float | None:
        """Real seconds a socket that sent data holds the clock while awaiting a reply."""
        return self._reply_timeout

    @property
    def freeze_limit(self) -> float:
        """Real seconds virtual time stands still while the loop is busy without a break."""
        return self._freeze_limit

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop this clock is installed on, or None."""
        return self._loop

    @property
    def installed(self) -> bool:
        """Whether the clock is installed on a loop."""
        return self._loop is not None

    # -- install / uninstall -------------------------------------------------------

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> VirtualClock:
        """Install on ``loop`` (default: the running loop) and return the clock.

        Raises RuntimeError when there is no loop, the loop is closed or already has a
        clock, or this clock is installed elsewhere; TypeError when the loop is not a
        selector event loop.
        """
        if self._loop is not None:
            raise RuntimeError(f"{self!r} is already installed on {self._loop!r}")
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError(
                    "VirtualClock.install() found no running event loop: call it from "
                    "async code or pass the loop as install(loop)"
                ) from None
        if not isinstance(loop, BaseSelectorEventLoop):
            raise TypeError(
                "VirtualClock needs a standard asyncio selector event loop, got "
                f"{type(loop).__module__}.{type(loop).__qualname__}"
            )
        if loop.is_closed():
            raise RuntimeError(f"cannot install a VirtualClock on closed loop {loop!r}")
        existing = _clocks.get(loop)
        if existing is not None:
            raise RuntimeError(f"{loop!r} already has {existing!r}; uninstall it first")

        raw: Any = loop
        selector: Any = raw._selector
        self._saved = {name: raw.__dict__.get(name, _MISSING) for name in _LOOP_METHODS}
        self._saved_select = selector.__dict__.get("select", _MISSING)
        self._real_time = loop.time
        self._real_select = selector.select
        self._self_pipe_fd = raw._ssock.fileno()
        self._reset_counters()
        self._installation += 1
        self._origin, self._origin_ns = _origin(self._real_time())
        self._virtual = self._origin
        self._busy_since = _time.monotonic()
        self._wall_origin, self._wall_origin_ns = _origin(_time.time())
        self._perf_origin, self._perf_origin_ns = _origin(_time.perf_counter())
        self._loop = loop
        self._ever_installed = True
        _clocks[loop] = self

        raw.time = self.now
        raw.run_in_executor = self._wrap_run_in_executor(loop.run_in_executor)
        raw.sock_sendall = self._wrap_sock_send(loop.sock_sendall)
        if hasattr(loop, "sock_sendto"):
            raw.sock_sendto = self._wrap_sock_send(loop.sock_sendto)
        raw.subprocess_exec = self._wrap_subprocess(loop.subprocess_exec)
        raw.subprocess_shell = self._wrap_subprocess(loop.subprocess_shell)
        raw.awaitflow_time_module = self.time_module
        selector.select = self._select
        self._patch_transports()
        return self

    def uninstall(self) -> None:
        """Give the loop its own clock back; do nothing if not installed.

        Timers still pending keep their remaining delay, now counted in real time.
        Call it from the loop's thread.
        """
        loop = self._loop
        if loop is None:
            return
        raw: Any = loop
        for name, saved in self._saved.items():
            if saved is _MISSING:
                raw.__dict__.pop(name, None)
            else:
                raw.__dict__[name] = saved
        selector: Any = raw._selector
        if selector is not None:
            if self._saved_select is _MISSING:
                selector.__dict__.pop("select", None)
            else:
                selector.__dict__["select"] = self._saved_select
        shift = self.now() - loop.time()
        for handle in raw._scheduled:
            handle._when -= shift
        for transport, saved_methods in list(self._patched.items()):
            for name, saved_method in saved_methods.items():
                if saved_method is _MISSING:
                    transport.__dict__.pop(name, None)
                else:
                    transport.__dict__[name] = saved_method
        self._patched = weakref.WeakKeyDictionary()
        self._executor_jobs.clear()
        self._awaiting.clear()
        self._addresses.clear()
        self._virtual = self.now()
        self._real_at_uninstall = _time.monotonic()
        _clocks.pop(loop, None)
        self._loop = None

    def __enter__(self) -> VirtualClock:
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()

    async def __aenter__(self) -> VirtualClock:
        return self.install()

    async def __aexit__(self, *exc_info: object) -> None:
        self.uninstall()

    # -- reading and moving time ----------------------------------------------------

    def now(self) -> float:
        """The loop's virtual time (the value of ``loop.time()`` while installed).

        Before the first install it is the real ``time.monotonic()``; after uninstall,
        the last virtual time plus the real time passed since.
        """
        if self._loop is not None:
            if self._busy_since is None:
                return self._virtual
            return self._virtual + max(
                0.0, _time.monotonic() - self._busy_since - self._freeze_limit
            )
        if not self._ever_installed:
            return _time.monotonic()
        return self._virtual + (_time.monotonic() - self._real_at_uninstall)

    def _elapsed(self) -> float:
        return self.now() - self._origin

    async def advance(self, seconds: float) -> None:
        """Move time forward by exactly ``seconds``, running the timers due on the way.

        Timers fire in order, each with the clock at its own due time, and the loop is
        let run what they set off before time moves on (a bounded number of loop
        iterations, so tasks that never go idle do not stall it). Real I/O and threads
        in flight are not waited for. Must be awaited on the clock's loop.
        """
        if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"advance() needs a finite number of seconds >= 0, got {seconds!r}")
        loop = self._loop
        if loop is None:
            raise RuntimeError(f"cannot advance {self!r}: install it first")
        if asyncio.get_running_loop() is not loop:
            raise RuntimeError("advance() must be awaited on the loop the clock is installed on")
        target = self.now() + seconds
        await self._settle(loop)
        while (when := self._next_timer(loop)) is not None and when <= target:
            self._move_to(when)
            await self._settle(loop)
        self._move_to(target)
        await self._settle(loop)

    def _move_to(self, instant: float) -> None:
        """Set the time to ``instant`` (never backwards) and restart the busy stretch."""
        self._virtual = max(self.now(), instant)
        self._busy_since = _time.monotonic()

    def statistics(self) -> ClockStatistics:
        """Return a snapshot of the clock's counters."""
        return ClockStatistics(
            installed=self._loop is not None,
            virtual_elapsed=self._elapsed() if self._ever_installed else 0.0,
            jumps=self._jumps,
            jumped=self._jumped,
            real_waited=self._real_waited,
            executor_jobs=sum(1 for fut in self._executor_jobs if not fut.done()),
            subprocesses=sum(1 for t in self._subprocesses if t.get_returncode() is None),
            pending_replies=len(self._awaiting),
        )

    async def _settle(self, loop: asyncio.AbstractEventLoop) -> None:
        raw: Any = loop
        for _ in range(_SETTLE_ITERATIONS):
            await asyncio.sleep(0)
            due = self._next_timer(loop)
            if not raw._ready and (due is None or due > self.now()):
                return

    @staticmethod
    def _next_timer(loop: asyncio.AbstractEventLoop) -> float | None:
        raw: Any = loop
        scheduled: list[asyncio.TimerHandle] = raw._scheduled
        if scheduled and not scheduled[0].cancelled():
            return scheduled[0].when()
        return min((h.when() for h in scheduled if not h.cancelled()), default=None)

    # -- the select hook -------------------------------------------------------------

    def _select(self, timeout: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        self._patch_transports()
        if timeout is not None and timeout <= 0:
            return self._note(self._real_select(timeout))
        overrun = self.now() - self._virtual
        if overrun > 0:
            self._virtual += _on_grid(overrun)
        self._busy_since = None
        try:
            return self._idle_select(timeout)
        finally:
            self._busy_since = _time.monotonic()

    def _idle_select(self, timeout: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        """Wait for real work, or jump to the next timer: the loop has nothing to run."""
        if timeout is None:
            return self._wait_real(None)
        target = self._virtual + timeout
        loop: Any = self._loop
        if loop._scheduled:
            head = loop._scheduled[0].when()
            if head - self._virtual <= timeout:
                target = max(head, self._virtual)
        budget = self._real_work_budget()
        if budget > 0:
            events = self._wait_real(min(timeout, budget))
            if not events and budget >= timeout:
                self._virtual = max(self._virtual, target)
            return events
        if self._io_seen and self._foreign_fds():
            started = _time.monotonic()
            events = self._real_select(min(timeout, self._idle_grace))
            if events:
                self._virtual = min(self._virtual + _on_grid(_time.monotonic() - started), target)
                return self._note(events)
        else:
            events = self._note(self._real_select(0))
            if events:
                return events
        if target > self._virtual:
            self._jumps += 1
            self._jumped += target - self._virtual
            self._virtual = target
        self._io_seen = False
        return []

    def _wait_real(self, timeout: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        started = _time.monotonic()
        events = self._real_select(timeout)
        waited = _time.monotonic() - started
        self._real_waited += waited
        self._virtual += _on_grid(waited)
        return self._note(events)

    def _note(
        self, events: list[tuple[selectors.SelectorKey, int]]
    ) -> list[tuple[selectors.SelectorKey, int]]:
        for key, mask in events:
            if key.fd != self._self_pipe_fd:
                self._io_seen = True
                if mask & selectors.EVENT_READ and key.fd in self._awaiting:
                    self._catch_up(*self._awaiting.pop(key.fd))
        return events

    def _catch_up(self, real_start: float, virtual_start: float) -> None:
        """Make a piece of real work that just ended last at least its real duration."""
        floor = virtual_start + _on_grid(_time.monotonic() - real_start)
        if floor > self.now():
            self._virtual = floor
            if self._busy_since is not None:
                self._busy_since = _time.monotonic()

    def _foreign_fds(self) -> bool:
        loop: Any = self._loop
        return any(fd != self._self_pipe_fd for fd in loop._selector.get_map())

    def _real_work_budget(self) -> float:
        """Real seconds the loop may wait for work in flight (0: none in flight)."""
        if any(not fut.done() for fut in self._executor_jobs):
            return math.inf
        if any(t.get_returncode() is None for t in self._subprocesses):
            return math.inf
        loop: Any = self._loop
        registered: Mapping[int, selectors.SelectorKey] = loop._selector.get_map()
        for fd in list(self._addresses):
            if registered.get(fd) is not self._addresses[fd][0]:
                del self._addresses[fd]
        for fd, key in registered.items():
            if (
                fd != self._self_pipe_fd
                and key.events & selectors.EVENT_WRITE
                and not self._peer_in_loop(fd, registered)
            ):
                return math.inf
        budget = 0.0
        now = _time.monotonic()
        for fd, sent_at in list(self._awaiting.items()):
            reader = registered.get(fd)
            if (
                reader is None
                or not reader.events & selectors.EVENT_READ
                or self._peer_in_loop(fd, registered)
            ):
                del self._awaiting[fd]
            elif self._reply_timeout is None:
                return math.inf
            elif (left := sent_at[0] + self._reply_timeout - now) > 0:
                budget = max(budget, left)
            else:
                del self._awaiting[fd]
        return budget

    def _peer_in_loop(self, fd: int, registered: Mapping[int, selectors.SelectorKey]) -> bool:
        """Whether the socket ``fd`` talks to a socket this same loop serves.

        Such a peer answers only when this loop runs it, so waiting for it in real time
        would be waiting for ourselves.
        """
        peer = self._address_of(fd, registered)[1]
        if not peer:
            return False
        return any(
            self._address_of(other, registered)[0] == peer
            for other in registered
            if other not in (fd, self._self_pipe_fd)
        )

    def _address_of(
        self, fd: int, registered: Mapping[int, selectors.SelectorKey]
    ) -> tuple[object, object]:
        """``(sockname, peername)`` of a registered file descriptor, None where unknown."""
        key = registered[fd]
        cached = self._addresses.get(fd)
        if cached is not None and cached[0] is key:
            return cached[1], cached[2]
        sockname = peername = None
        loop: Any = self._loop
        transport = loop._transports.get(fd)
        if transport is not None:
            sockname = transport.get_extra_info("sockname")
            peername = transport.get_extra_info("peername")
        else:
            try:
                duplicate = socket.socket(fileno=os.dup(fd))
            except OSError:
                pass
            else:
                with duplicate:
                    sockname = _address(duplicate.getsockname)
                    peername = _address(duplicate.getpeername)
        self._addresses[fd] = (key, sockname, peername)
        return sockname, peername

    # -- tracking real work --------------------------------------------------------------

    def _mark_sent(self, fd: int) -> None:
        self._io_seen = True
        self._awaiting.setdefault(fd, (_time.monotonic(), self.now()))

    def _patch_transports(self) -> None:
        loop: Any = self._loop
        for transport in list(loop._transports.values()):
            if transport not in self._patched:
                self._patch_transport(transport)

    def _patch_transport(self, transport: Any) -> None:
        fd = getattr(transport, "_sock_fd", None)
        if not isinstance(fd, int) or not hasattr(transport, "__dict__"):
            return
        saved: dict[str, object] = {}
        for name in _TRANSPORT_METHODS:
            existing = transport.__dict__.get(name, _MISSING)
            if existing is not _MISSING:
                method = existing
            elif callable(function := getattr(type(transport), name, None)):
                # Through a weak reference: a bound method here would make a cycle that
                # keeps a closed transport alive until the next garbage collection.
                method = functools.partial(_call_on, weakref.ref(transport), function)
            else:
                continue
            saved[name] = existing
            transport.__dict__[name] = self._wrap_send(fd, cast(Callable[..., Any], method))
        self._patched[transport] = saved

    def _wrap_send(self, fd: int, method: Callable[..., _T]) -> Callable[..., _T]:
        def send(*args: Any, **kwargs: Any) -> _T:
            self._mark_sent(fd)
            return method(*args, **kwargs)

        return send

    def _wrap_sock_send(self, method: Callable[..., Awaitable[_T]]) -> Callable[..., Awaitable[_T]]:
        async def sock_send(sock: Any, *args: Any, **kwargs: Any) -> _T:
            self._mark_sent(sock.fileno())
            return await method(sock, *args, **kwargs)

        return sock_send

    def _wrap_run_in_executor(
        self, method: Callable[..., asyncio.Future[Any]]
    ) -> Callable[..., asyncio.Future[Any]]:
        def run_in_executor(executor: Any, func: Callable[..., Any], *args: Any) -> Any:
            real_start, virtual_start = _time.monotonic(), self.now()
            installation = self._installation
            future = method(executor, func, *args)
            self._executor_jobs.add(future)

            def done(future: asyncio.Future[Any]) -> None:
                self._executor_jobs.discard(future)
                current = self._loop is not None and self._installation == installation
                if current and not future.cancelled():
                    self._catch_up(real_start, virtual_start)

            future.add_done_callback(done)
            return future

        return run_in_executor

    def _wrap_subprocess(
        self, method: Callable[..., Awaitable[tuple[asyncio.SubprocessTransport, Any]]]
    ) -> Callable[..., Awaitable[tuple[asyncio.SubprocessTransport, Any]]]:
        async def subprocess(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
            transport, protocol = await method(*args, **kwargs)
            self._subprocesses.add(transport)
            return transport, protocol

        return subprocess
