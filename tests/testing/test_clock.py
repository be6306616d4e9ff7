"""VirtualClock: virtual time on a running asyncio loop, with real I/O still working."""

from __future__ import annotations

import asyncio
import calendar
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any, cast

import asyncpg  # type: ignore[import-untyped]
import pytest
import redis.asyncio as aioredis

from awaitflow.testing._clock import VirtualClock, VirtualTimeModule, current_clock

POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


class ForeignLoop:
    """Stands for the event loop of another library."""


class RealTimer:
    """Measures real (wall) seconds, which the virtual clock never touches."""

    def __enter__(self) -> RealTimer:
        self.start = time.perf_counter()
        self.elapsed = 0.0
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.elapsed = time.perf_counter() - self.start


@pytest.fixture
def silent_listener() -> Iterator[tuple[str, int]]:
    """A TCP address outside the loop that accepts connections and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()


class TestTimers:
    @pytest.mark.asyncio
    async def test_sleep_is_instant_but_the_loop_sees_the_delay(self) -> None:
        """A 10 s asyncio.sleep returns at once and the loop's time moves by 10 s."""
        loop = asyncio.get_running_loop()
        with VirtualClock(), RealTimer() as real:
            start = loop.time()
            await asyncio.sleep(10)
            assert loop.time() - start == 10.0
        assert real.elapsed < 0.5

    @pytest.mark.asyncio
    async def test_wait_for_times_out_in_virtual_time(self) -> None:
        """asyncio.wait_for with a 10 s timeout raises quickly, 10 virtual seconds later."""
        loop = asyncio.get_running_loop()
        with VirtualClock(), RealTimer() as real:
            start = loop.time()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.Event().wait(), timeout=10)
            assert loop.time() - start == 10.0
        assert real.elapsed < 0.5

    @pytest.mark.asyncio
    async def test_asyncio_timeout_raises_quickly(self) -> None:
        """asyncio.timeout(10) around a long sleep raises TimeoutError at virtual 10 s."""
        loop = asyncio.get_running_loop()
        with VirtualClock(), RealTimer() as real:
            start = loop.time()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(10):
                    await asyncio.sleep(3600)
            assert loop.time() - start == 10.0
        assert real.elapsed < 0.5

    @pytest.mark.asyncio
    async def test_call_later_fires_at_its_virtual_time(self) -> None:
        """A loop.call_later callback runs with the loop's time at its due time."""
        loop = asyncio.get_running_loop()
        with VirtualClock():
            fired: asyncio.Future[float] = loop.create_future()
            start = loop.time()
            loop.call_later(42, lambda: fired.set_result(loop.time()))
            assert await fired - start == 42.0

    @pytest.mark.asyncio
    async def test_many_timers_fire_in_order_each_at_its_time(self) -> None:
        """Sleepers of many delays wake in delay order, each seeing exactly its delay."""
        loop = asyncio.get_running_loop()
        woke: list[tuple[float, float]] = []

        async def sleeper(delay: float) -> None:
            await asyncio.sleep(delay)
            woke.append((delay, loop.time() - start))

        delays = [(7 * i) % 97 + 1 for i in range(97)]
        with VirtualClock():
            start = loop.time()
            await asyncio.gather(*(sleeper(delay) for delay in delays))
        assert woke == [(float(d), float(d)) for d in sorted(delays)]

    @pytest.mark.asyncio
    async def test_statistics_count_the_jumps(self) -> None:
        """statistics() reports each jump and the virtual time they covered."""
        with VirtualClock() as clock:
            await asyncio.sleep(7)
            await asyncio.sleep(7)
            stats = clock.statistics()
        assert (stats.installed, stats.jumps, stats.jumped, stats.virtual_elapsed) == (
            True,
            2,
            14.0,
            14.0,
        )

    @pytest.mark.asyncio
    async def test_a_task_spinning_without_sleeping_cannot_hang_a_timeout(self) -> None:
        """Past freeze_limit of busy real time, time runs at real speed so timeouts fire."""
        with VirtualClock(freeze_limit=0.05), RealTimer() as real, pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                while True:
                    await asyncio.sleep(0)
        assert 0.1 <= real.elapsed < 1.0


class TestAdvance:
    @pytest.mark.asyncio
    async def test_advance_fires_due_timers_in_order_at_their_exact_times(self) -> None:
        """advance() runs the timers due on the way, in order, each at its own time."""
        loop = asyncio.get_running_loop()
        fired: list[tuple[int, float]] = []
        with VirtualClock() as clock:
            start = clock.now()

            def record(delay: int) -> None:
                fired.append((delay, loop.time() - start))

            for delay in (3, 1, 5, 2):
                loop.call_later(delay, record, delay)
            await clock.advance(2.5)
            assert fired == [(1, 1.0), (2, 2.0)]
            assert clock.now() - start == 2.5
            await clock.advance(2.5)
            assert fired == [(1, 1.0), (2, 2.0), (3, 3.0), (5, 5.0)]
            assert clock.now() - start == 5.0

    @pytest.mark.asyncio
    async def test_tasks_woken_during_advance_see_their_own_wake_time(self) -> None:
        """A task woken by a timer during advance() runs before time moves on."""
        loop = asyncio.get_running_loop()
        seen: list[float] = []

        async def ticker() -> None:
            for _ in range(3):
                await asyncio.sleep(1)
                seen.append(loop.time() - start)

        with VirtualClock() as clock:
            start = clock.now()
            task = asyncio.create_task(ticker())
            await clock.advance(3)
            assert seen == [1.0, 2.0, 3.0]
            await task

    @pytest.mark.asyncio
    async def test_advance_returns_while_another_task_is_busy(self) -> None:
        """advance() moves time even when a task never lets the loop go idle."""
        loop = asyncio.get_running_loop()
        stop = False

        async def busy() -> None:
            while not stop:
                await asyncio.sleep(0)

        with VirtualClock() as clock:
            spinner = asyncio.create_task(busy())
            fired = loop.create_future()
            start = clock.now()
            loop.call_later(10, fired.set_result, None)
            await clock.advance(10)
            assert fired.done()
            assert clock.now() - start == 10.0
            stop = True
            await spinner

    @pytest.mark.asyncio
    @pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf")])
    async def test_advance_refuses_a_bad_duration(self, seconds: float) -> None:
        """advance() refuses negative or non-finite durations, naming the value."""
        with VirtualClock() as clock, pytest.raises(ValueError, match=r"advance\(\) needs"):
            await clock.advance(seconds)

    @pytest.mark.asyncio
    async def test_advance_needs_an_installed_clock(self) -> None:
        """advance() on a clock that is not installed says so."""
        with pytest.raises(RuntimeError, match="install it first"):
            await VirtualClock().advance(1)


class TestTimeModule:
    @pytest.mark.asyncio
    async def test_clocks_advance_by_exactly_the_sleep(self) -> None:
        """Every clock of time_module moves by exactly 5 s across asyncio.sleep(5)."""
        with VirtualClock() as clock:
            tm = clock.time_module
            readers = [tm.time, tm.monotonic, tm.perf_counter]
            readers_ns = [tm.time_ns, tm.monotonic_ns, tm.perf_counter_ns]
            before = [read() for read in readers]
            before_ns = [read() for read in readers_ns]
            await asyncio.sleep(5)
            assert [read() - b for read, b in zip(readers, before, strict=True)] == [5.0] * 3
            after_ns = [read() - b for read, b in zip(readers_ns, before_ns, strict=True)]
            assert after_ns == [5_000_000_000] * 3

    @pytest.mark.asyncio
    async def test_monotonic_is_the_loop_time(self) -> None:
        """time_module.monotonic() is the loop's virtual time."""
        loop = asyncio.get_running_loop()
        with VirtualClock() as clock:
            await asyncio.sleep(123)
            assert clock.time_module.monotonic() == loop.time() == clock.now()

    @pytest.mark.asyncio
    async def test_wall_time_starts_at_the_real_time(self) -> None:
        """time_module.time() starts from the real wall time when installed."""
        with VirtualClock() as clock:
            assert abs(clock.time_module.time() - time.time()) < 0.5

    @pytest.mark.asyncio
    async def test_date_functions_default_to_virtual_time(self) -> None:
        """gmtime() with no argument is the virtual time, three days ahead here."""
        with VirtualClock() as clock:
            await asyncio.sleep(3 * 86400)
            ahead = calendar.timegm(clock.time_module.gmtime()) - calendar.timegm(time.gmtime())
            assert abs(ahead - 3 * 86400) <= 2
            assert clock.time_module.ctime() == time.ctime(clock.time_module.time())

    def test_other_attributes_are_the_real_time_module(self) -> None:
        """Names time_module does not override come from the real time module."""
        tm = VirtualClock().time_module
        assert isinstance(tm, VirtualTimeModule)
        assert (tm.sleep, tm.get_clock_info, tm.struct_time) == (
            time.sleep,
            time.get_clock_info,
            time.struct_time,
        )

    def test_before_install_it_reads_real_time(self) -> None:
        """A clock never installed gives real time through time_module."""
        tm = VirtualClock().time_module
        assert abs(tm.time() - time.time()) < 0.5
        assert abs(tm.monotonic() - time.monotonic()) < 0.5

    @pytest.mark.asyncio
    async def test_the_loop_carries_the_time_module_while_installed(self) -> None:
        """loop.awaitflow_time_module is the clock's time_module, removed at uninstall."""
        loop: Any = asyncio.get_running_loop()
        with VirtualClock() as clock:
            assert loop.awaitflow_time_module is clock.time_module
        assert not hasattr(loop, "awaitflow_time_module")


class TestInstall:
    @pytest.mark.asyncio
    async def test_current_clock_finds_the_installed_clock(self) -> None:
        """current_clock() returns the running loop's clock while it is installed."""
        assert current_clock() is None
        with VirtualClock() as clock:
            assert current_clock() is clock
            assert current_clock(asyncio.get_running_loop()) is clock
        assert current_clock() is None

    def test_current_clock_outside_a_loop_is_none(self) -> None:
        """current_clock() without a running loop returns None."""
        assert current_clock() is None

    @pytest.mark.asyncio
    async def test_uninstall_restores_the_loop(self) -> None:
        """After uninstall the loop and its selector use their own methods again."""
        loop: Any = asyncio.get_running_loop()
        methods = dict(loop.__dict__)
        selector_methods = dict(loop._selector.__dict__)
        clock = VirtualClock().install()
        assert loop.time == clock.now
        await asyncio.sleep(1000)
        clock.uninstall()
        assert (dict(loop.__dict__), dict(loop._selector.__dict__)) == (
            methods,
            selector_methods,
        )
        assert abs(loop.time() - time.monotonic()) < 0.5
        assert not clock.installed

    @pytest.mark.asyncio
    async def test_uninstall_unwraps_the_transports(self, silent_listener: tuple[str, int]) -> None:
        """Transports get their own write methods back at uninstall."""
        _, writer = await asyncio.open_connection(*silent_listener)
        try:
            transport: Any = writer.transport
            with VirtualClock():
                await asyncio.sleep(0)
                assert "write" in transport.__dict__
            assert "write" not in transport.__dict__
        finally:
            writer.close()
            await writer.wait_closed()

    @pytest.mark.asyncio
    async def test_pending_timers_keep_their_remaining_delay_after_uninstall(self) -> None:
        """A timer set in virtual time fires after its remaining delay in real time."""
        loop = asyncio.get_running_loop()
        with VirtualClock():
            await asyncio.sleep(1000)
            fired = loop.create_future()
            loop.call_later(0.05, fired.set_result, None)
        with RealTimer() as real:
            await asyncio.wait_for(fired, timeout=2)
        assert 0.04 <= real.elapsed < 1.0

    @pytest.mark.asyncio
    async def test_clock_time_keeps_running_after_uninstall(self) -> None:
        """After uninstall now() continues from the last virtual time, in real time."""
        clock = VirtualClock().install()
        await asyncio.sleep(500)
        last = clock.now()
        clock.uninstall()
        assert last <= clock.now() < last + 0.5

    @pytest.mark.asyncio
    async def test_a_second_clock_on_the_same_loop_is_refused(self) -> None:
        """Installing a clock on a loop that already has one raises RuntimeError."""
        with VirtualClock(), pytest.raises(RuntimeError, match="already has"):
            VirtualClock().install()

    @pytest.mark.asyncio
    async def test_installing_a_clock_twice_is_refused(self) -> None:
        """Installing an installed clock again raises RuntimeError."""
        with VirtualClock() as clock, pytest.raises(RuntimeError, match="already installed"):
            clock.install()

    def test_install_without_a_loop_is_refused(self) -> None:
        """install() outside a running loop and without a loop says what to do."""
        with pytest.raises(RuntimeError, match="no running event loop"):
            VirtualClock().install()

    def test_install_on_a_loop_that_is_not_a_selector_loop_is_refused(self) -> None:
        """A loop that is not an asyncio selector loop is refused with its type."""
        with pytest.raises(TypeError, match=r"selector event loop, got .*\.ForeignLoop"):
            VirtualClock().install(cast(Any, ForeignLoop()))

    def test_install_on_a_closed_loop_is_refused(self) -> None:
        """A closed loop is refused."""
        loop = asyncio.new_event_loop()
        loop.close()
        with pytest.raises(RuntimeError, match="closed loop"):
            VirtualClock().install(loop)

    def test_install_on_a_loop_before_it_runs(self) -> None:
        """A clock installed on a loop that is not running yet works once it runs."""
        loop = asyncio.new_event_loop()
        try:
            clock = VirtualClock().install(loop)
            start = loop.time()
            with RealTimer() as real:
                loop.run_until_complete(asyncio.sleep(60))
            assert (loop.time() - start, real.elapsed < 0.5) == (60.0, True)
            clock.uninstall()
        finally:
            loop.close()

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"idle_grace": -1}, "idle_grace must be"),
            ({"reply_timeout": 0}, "reply_timeout must be"),
            ({"freeze_limit": float("nan")}, "freeze_limit must be"),
        ],
    )
    def test_bad_options_are_refused(self, options: dict[str, float], message: str) -> None:
        """Constructor options out of range raise ValueError naming the option."""
        with pytest.raises(ValueError, match=message):
            VirtualClock(**options)


class TestRealWork:
    @pytest.mark.asyncio
    async def test_a_thread_job_is_waited_for_in_real_time(self) -> None:
        """to_thread(time.sleep, 0.2) inside asyncio.timeout(1) completes."""
        loop = asyncio.get_running_loop()
        with VirtualClock():
            start = loop.time()
            async with asyncio.timeout(1):
                await asyncio.to_thread(time.sleep, 0.2)
            assert 0.2 <= loop.time() - start < 1

    @pytest.mark.asyncio
    async def test_an_abandoned_thread_job_does_not_hold_the_clock(self) -> None:
        """A thread job whose awaiter timed out no longer keeps the clock from jumping."""
        with VirtualClock(), RealTimer() as real:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.to_thread(time.sleep, 0.3), timeout=0.05)
            await asyncio.sleep(100)
        assert real.elapsed < 0.25

    @pytest.mark.asyncio
    async def test_idle_open_connections_do_not_slow_jumps(
        self, silent_listener: tuple[str, int]
    ) -> None:
        """With a quiet connection open, only the first jump after I/O waits the grace."""
        with VirtualClock(idle_grace=0.05) as clock, RealTimer() as real:
            _, writer = await asyncio.open_connection(*silent_listener)
            try:
                for _ in range(40):
                    await asyncio.sleep(1)
                jumps = clock.statistics().jumps
            finally:
                writer.close()
                await writer.wait_closed()
        assert (jumps, real.elapsed < 0.5) == (40, True)

    @pytest.mark.asyncio
    async def test_a_subprocess_is_waited_for_in_real_time(self) -> None:
        """A subprocess running 0.2 s inside asyncio.timeout(1) completes."""
        with VirtualClock():
            async with asyncio.timeout(1):
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", "import time; time.sleep(0.2)"
                )
                assert await process.wait() == 0

    @pytest.mark.asyncio
    async def test_postgres_query_survives_a_timeout_while_a_sibling_sleep_jumps(self) -> None:
        """A 0.2 s query under asyncio.timeout(1) succeeds; a sibling's sleep(100) jumps."""
        loop = asyncio.get_running_loop()
        with VirtualClock(), RealTimer() as real:
            try:
                connection = await asyncpg.connect(POSTGRES_DSN)
            except (OSError, asyncpg.PostgresError) as exc:
                pytest.skip(f"the PostgreSQL server at {POSTGRES_DSN} is unreachable: {exc}")
            try:
                start = loop.time()

                async def query() -> Any:
                    async with asyncio.timeout(1):
                        return await connection.fetchval("SELECT pg_sleep(0.2)::text || 'done'")

                async def sleeper() -> float:
                    await asyncio.sleep(100)
                    return loop.time() - start

                answer, slept = await asyncio.gather(query(), sleeper())
            finally:
                await connection.close()
        assert (answer, slept >= 100.0, real.elapsed < 2.0) == ("done", True, True)

    @pytest.mark.asyncio
    async def test_redis_round_trip_on_a_connection_opened_before_the_clock(self) -> None:
        """A Redis client connected before install still gets its replies, and sleeps jump."""
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            try:
                await client.ping()
            except (OSError, aioredis.ConnectionError) as exc:
                pytest.skip(f"the Redis server at {REDIS_URL} is unreachable: {exc}")
            loop = asyncio.get_running_loop()
            with VirtualClock(), RealTimer() as real:
                async with asyncio.timeout(1):
                    assert await client.ping() is True
                start = loop.time()
                await asyncio.sleep(60)
                assert loop.time() - start == 60.0
                assert await client.echo("still here") == b"still here"
            assert real.elapsed < 1.0
        finally:
            await client.aclose()

    @pytest.mark.asyncio
    async def test_a_server_in_the_same_loop_delays_in_virtual_time(self) -> None:
        """A reply delayed by the loop's own server with asyncio.sleep does not hold the clock."""
        loop = asyncio.get_running_loop()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            delay = float(await reader.readline())
            await asyncio.sleep(delay)
            writer.write(b"late\n")
            writer.close()

        with VirtualClock(), RealTimer() as real:
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            async with server:
                port = server.sockets[0].getsockname()[1]
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"30\n")
                start = loop.time()
                assert await asyncio.wait_for(reader.readline(), timeout=60) == b"late\n"
                assert loop.time() - start == pytest.approx(30, abs=0.01)
                writer.close()
                await writer.wait_closed()
        assert real.elapsed < 1.0

    @pytest.mark.asyncio
    async def test_a_peer_that_never_replies_holds_the_clock_only_for_reply_timeout(
        self, silent_listener: tuple[str, int]
    ) -> None:
        """A request nobody answers holds the clock reply_timeout real seconds, then it jumps."""
        loop = asyncio.get_running_loop()
        with VirtualClock(reply_timeout=0.1), RealTimer() as real:
            reader, writer = await asyncio.open_connection(*silent_listener)
            try:
                writer.write(b"hello?\n")
                start = loop.time()
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(reader.readline(), timeout=30)
                assert loop.time() - start >= 30.0
            finally:
                writer.close()
                await writer.wait_closed()
        assert 0.1 <= real.elapsed < 1.0
