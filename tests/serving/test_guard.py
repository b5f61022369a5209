"""The guard counts tokens off the event loop and sheds load before counting."""

from __future__ import annotations

import asyncio
import time

import httpx

from serving.checks import ServiceSettings
from serving.guard import RequestGuard


async def inner(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def test_token_counting_does_not_hold_up_probes_and_load_is_shed_first() -> None:
    counted: list[int] = []

    def slow_count(texts: list[str]) -> int:
        counted.append(len(texts))
        time.sleep(0.6)  # as 200,000 characters of punctuation take
        return 1

    wait = {"s": 0.0}
    guard = RequestGuard(
        inner, ServiceSettings(), count_tokens=slow_count, expected_wait=lambda: wait["s"]
    )

    async def scenario() -> tuple[float, int, int, str | None]:
        transport = httpx.ASGITransport(app=guard)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as c:
            tag = asyncio.create_task(c.post("/tag", json={"text": "Rebels fired."}))
            await asyncio.sleep(0.1)
            start = time.perf_counter()
            live = await c.get("/livez")
            probe = time.perf_counter() - start
            assert live.status_code == 200
            tagged = (await tag).status_code
            wait["s"] = 25.0
            shed = await c.post("/tag", json={"text": "Rebels fired."})
            return probe, tagged, shed.status_code, shed.headers.get("retry-after")

    probe, tagged, shed, retry = asyncio.run(scenario())
    assert probe < 0.3 and tagged == 200
    assert (shed, retry) == (503, "15")  # 25 s waiting, 10 s allowed
    assert counted == [1]  # the shed request was never counted
