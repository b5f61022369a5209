"""The guard counts tokens off the event loop, and sheds load by the tokens it has taken
and not yet answered, before counting the next request's."""

from __future__ import annotations

import asyncio
import time

import httpx

from serving.checks import ServiceSettings
from serving.guard import RequestGuard

# Long enough that the tokens counted below stay under 0.5 a character (check_tokens).
PROSE = "Rebels fired on a convoy near the border. " * 250


def test_token_counting_does_not_hold_up_probes_and_load_is_shed_first() -> None:
    release = asyncio.Event()
    counted: list[str] = []

    async def inner(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["path"] == "/tag":
            await release.wait()  # the model is busy with this request
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    def slow_count(texts: list[str]) -> int:
        counted.extend(t[:5] for t in texts)
        time.sleep(0.6)  # as 200,000 characters of punctuation take
        return 2_000

    # 2,000 tokens at 100 a second: 20 s of work once the first request is taken.
    guard = RequestGuard(inner, ServiceSettings(), count_tokens=slow_count, speed=lambda: 100.0)

    async def scenario() -> list[object]:
        transport = httpx.ASGITransport(app=guard)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as c:
            first = asyncio.create_task(c.post("/tag", json={"text": "first" + PROSE}))
            await asyncio.sleep(0.1)
            start = time.perf_counter()
            live = await c.get("/livez")
            probe = time.perf_counter() - start
            for _ in range(100):  # counted and taken
                if guard.in_flight or first.done():
                    break
                await asyncio.sleep(0.05)
            assert guard.in_flight == 2_000, await first
            shed = await c.post("/tag", json={"text": "secon" + PROSE})
            release.set()
            done = await first
            third = await c.post("/tag", json={"text": "third" + PROSE})
            return [probe, live.status_code, shed.status_code, shed.headers.get("retry-after"),
                    done.status_code, third.status_code, guard.in_flight]  # fmt: skip

    probe, live, shed, retry, first, third, left = asyncio.run(scenario())
    assert isinstance(probe, float) and probe < 0.3 and live == 200
    assert (shed, retry) == (503, "10")  # 20 s waiting, 10 s allowed
    assert (first, third, left) == (200, 200, 0)
    assert counted == ["first", "third"]  # the shed request was never counted


def test_requests_counted_together_cannot_all_see_an_idle_model() -> None:
    async def inner(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.5)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    guard = RequestGuard(
        inner, ServiceSettings(), count_tokens=lambda _: 5_000, speed=lambda: 100.0
    )

    async def scenario() -> list[int]:
        transport = httpx.ASGITransport(app=guard)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as c:
            sent = [c.post("/tag", json={"text": f"t{i}" + PROSE}) for i in range(8)]
            return [r.status_code for r in await asyncio.gather(*sent)]

    statuses = asyncio.run(scenario())
    assert sorted(statuses) == [200] + [503] * 7  # one is taken, the rest see its 50 s
