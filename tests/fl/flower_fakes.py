"""An in-process fake of Flower's Grid: calls a ClientApp directly, one Context per node (so
`context.state` persists across rounds as in Flower), errors become error replies as Flower
makes them. Same interface as the real Grid; the Ray simulation is tested separately."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable
from typing import Any

import pytest

pytest.importorskip("flwr", reason="the fl extra is not installed")

from flwr.app import Context, Error, Message, RecordDict
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity


class LocalGrid(Grid):
    def __init__(self, app: Any, clients: int, *, offset: int = 100) -> None:
        TaskIdentity.run_id = TaskIdentity.node_id = TaskIdentity.task_id = 1
        self.app = app
        self.contexts = {
            offset + i: Context(1, offset + i, {"partition-id": i}, RecordDict(), {})
            for i in range(clients)
        }
        self._replies: dict[str, Message] = {}
        self._ids = itertools.count()
        self.sent = 0

    def set_run(self, run: Any) -> None:
        raise NotImplementedError

    @property
    def run(self) -> Run:
        return Run.create_empty(1)

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return Message(content, dst_node_id=dst_node_id, message_type=message_type)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for msg in messages:
            self.sent += 1
            msg.metadata._message_id = key = f"m{next(self._ids)}"
            node = msg.metadata.dst_node_id
            try:
                # a copy, as the wire gives each node its own (apps may consume content)
                reply = self.app(copy.deepcopy(msg), self.contexts[node])
            except Exception as exc:  # what Flower does with a failing ClientApp
                reply = Message(Error(code=1, reason=str(exc)), reply_to=msg)
            self._replies[key] = reply
            ids.append(key)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(i) for i in message_ids if i in self._replies]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))
