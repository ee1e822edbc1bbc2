"""Live updates inside the console: published from any thread, heard by every dashboard's
stream, a slow one losing its oldest updates rather than holding anyone up, and every stream
ending when the console stops."""

from __future__ import annotations

import asyncio
import threading

from vending_fleet.hub import QUEUE_SIZE, Hub, Update


def test_an_update_from_another_thread_reaches_every_listener() -> None:
    async def run() -> list[list[Update]]:
        hub = Hub()
        heard: list[list[Update]] = [[], []]

        async def listen(into: list[Update]) -> None:
            async for update in hub.listen():
                into.append(update)
                if len(into) == 2:
                    return

        tasks = [asyncio.create_task(listen(into)) for into in heard]
        while hub.listeners() < 2:
            await asyncio.sleep(0.01)
        for n in (1, 2):
            threading.Thread(target=hub.publish, args=("sale", {"n": n})).start()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        assert hub.listeners() == 0          # a listener that stopped is forgotten
        return heard

    heard = asyncio.run(run())
    assert [sorted(u.data["n"] for u in into) for into in heard] == [[1, 2], [1, 2]]


def test_a_slow_listener_keeps_the_newest_updates() -> None:
    async def run() -> list[int]:
        hub = Hub()
        updates = hub.listen()
        first = asyncio.ensure_future(anext(updates))
        await asyncio.sleep(0)
        for n in range(QUEUE_SIZE + 10):
            hub.publish("event", {"n": n})
        await asyncio.sleep(0.05)
        got = [(await first).data["n"]]
        for _ in range(QUEUE_SIZE - 1):
            got.append((await anext(updates)).data["n"])
        await updates.aclose()
        return got

    got = asyncio.run(run())
    assert got[-1] == QUEUE_SIZE + 9 and got == sorted(got)


def test_closing_ends_every_stream() -> None:
    async def run() -> int:
        hub = Hub()
        count = 0

        async def listen() -> None:
            nonlocal count
            async for _ in hub.listen():
                count += 1

        task = asyncio.create_task(listen())
        while hub.listeners() < 1:
            await asyncio.sleep(0.01)
        hub.publish("sale", {})
        hub.close()
        await asyncio.wait_for(task, 5)
        async for _ in hub.listen():       # a stream opened after close ends at once
            count += 100
        return count

    assert asyncio.run(run()) == 1
