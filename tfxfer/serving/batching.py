"""Requests that arrive together run as one call of the model, as TF Serving's batching does
(``max_batch_size``, ``batch_timeout_micros``): one call on 32 examples costs little more than
one on a single example, so per-request calls would waste most of the model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

Outputs = dict[str, np.ndarray]
_CLOSE = object()


class BatcherClosed(RuntimeError):
    """Submitted after :meth:`Batcher.close`: the model it ran is no longer served."""


class Batcher:
    """Runs ``run(values) -> {output: array with one row per value}`` on batches of the
    values of concurrent :meth:`submit` calls, one batch at a time in a thread of its own.

    A batch takes the requests waiting (in arrival order) until they hold ``max_batch_size``
    examples, waiting at most ``timeout_s`` after its first request for more; while a batch
    runs, the next one fills. A request larger than ``max_batch_size`` runs alone, whole. When
    a batch of several requests fails, each runs alone with ``run_alone`` (default ``run``), so
    one bad request fails by itself and the others are answered. ``on_batch(examples)`` is told
the size of each batch run (a metric).

    Example:

    ```python
    import asyncio

    import numpy as np

    from tfxfer.serving.batching import Batcher

    sizes = []

    def double(values):
        sizes.append(len(values))
        return {"doubled": np.array(values) * 2}

    async def main():
        batcher = Batcher(double, max_batch_size=8, timeout_s=0.01)
        results = await asyncio.gather(*(batcher.submit([i]) for i in range(5)))
        await batcher.close()
        return [int(r["doubled"][0]) for r in results]

    assert asyncio.run(main()) == [0, 2, 4, 6, 8] and sizes == [5]
    ```
    """

    def __init__(self, run: Callable[[list], Outputs], max_batch_size: int, timeout_s: float,
                 run_alone: Callable[[list], Outputs] | None = None, name: str = "batch",
                 on_batch: Callable[[int], None] | None = None):
        self._run, self._run_alone, self._on_batch = run, run_alone or run, on_batch
        self.max_batch_size, self.timeout_s = max_batch_size, timeout_s
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._held = None  # a request that did not fit the last batch: the next one starts with it
        self._closing = False

    async def submit(self, values: list) -> Outputs:
        """The outputs for ``values`` (the rows of this request only); BatcherClosed after
        :meth:`close`."""
        if self._closing:
            raise BatcherClosed("this batcher was closed")
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._serve())
        future = loop.create_future()
        self._queue.put_nowait((values, future))
        return await future

    async def close(self) -> None:
        """Answers every request submitted so far, then stops (the model is no longer needed)."""
        self._closing = True
        if self._task is not None:
            self._queue.put_nowait(_CLOSE)
            await self._task
        self._executor.shutdown(wait=False)

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        closing = False
        while not closing:
            first, self._held = self._held or await self._queue.get(), None
            if first is _CLOSE:
                return
            batch, size = [first], len(first[0])
            deadline = loop.time() + self.timeout_s
            while size < self.max_batch_size:
                try:
                    remaining = deadline - loop.time()
                    item = (self._queue.get_nowait() if remaining <= 0
                            else await asyncio.wait_for(self._queue.get(), remaining))
                except (asyncio.QueueEmpty, asyncio.TimeoutError):
                    break
                if item is _CLOSE:
                    closing = True
                    break
                if size + len(item[0]) > self.max_batch_size:
                    self._held = item
                    break
                batch.append(item)
                size += len(item[0])
            await self._answer([(values, future) for values, future in batch if not future.done()])
        if self._held is not None:
            await self._answer([self._held])

    async def _answer(self, batch: list) -> None:
        if not batch:
            return
        loop = asyncio.get_running_loop()
        values = [value for request, _ in batch for value in request]
        run = self._run if len(batch) > 1 else self._run_alone
        if self._on_batch is not None:
            self._on_batch(len(values))
        try:
            outputs = await loop.run_in_executor(self._executor, run, values)
        except Exception as e:  # noqa: BLE001 - handed to the waiting request(s)
            if len(batch) == 1:
                _settle(batch[0][1], error=e)
            else:
                for request in batch:
                    await self._answer([request])
            return
        start = 0
        for request, future in batch:
            _settle(future, {name: array[start:start + len(request)] for name, array in outputs.items()})
            start += len(request)


def _settle(future: asyncio.Future, result=None, error: Exception | None = None) -> None:
    if future.done():  # the client went away meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
