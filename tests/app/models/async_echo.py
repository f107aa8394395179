"""An ``async def predict``: it runs on the event loop; ``?msg=sleep`` awaits 30 s."""

import asyncio


async def predict(msg: str) -> str:
    if msg == "sleep":
        await asyncio.sleep(30)
    return msg
