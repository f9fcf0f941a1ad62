"""Adaptive batching: requests that arrive together share one booster call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

Run = Callable[[npt.NDArray[np.float32]], npt.NDArray[Any]]


class Batcher:
    """Gathers matrices for up to `window` seconds (0: the current loop turn), runs once."""

    def __init__(self, run: Run, window: float, max_rows: int) -> None:
        self._run = run
        self._window = window
        self._max_rows = max_rows
        self._pending: list[tuple[npt.NDArray[np.float32], asyncio.Future[npt.NDArray[Any]]]] = []
        self._rows = 0
        self._handle: asyncio.Handle | None = None

    async def __call__(self, matrix: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[npt.NDArray[Any]] = loop.create_future()
        self._pending.append((matrix, future))
        self._rows += matrix.shape[0]
        if self._rows >= self._max_rows:
            self._flush()
        elif self._handle is None:
            if self._window > 0:
                self._handle = loop.call_later(self._window, self._flush)
            else:
                self._handle = loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        batch, self._pending, self._rows = self._pending, [], 0
        if not batch:
            return
        try:
            if len(batch) == 1:
                batch[0][1].set_result(self._run(batch[0][0]))
                return
            out = self._run(np.concatenate([m for m, _ in batch]))
        except Exception as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        start = 0
        for matrix, future in batch:
            end = start + matrix.shape[0]
            future.set_result(out[start:end])
            start = end
