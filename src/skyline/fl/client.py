"""The device side: one Flower `ClientApp` that trains on its shard and, as configured, fails
(dropout), answers late (straggler), attacks (Byzantine), trains with DP-SGD and compresses
its update. Per-client memory across rounds (error-feedback residual, privacy accountant) lives
in Flower's `context.state`, so it survives the simulation recreating the app."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from skyline.errors import SkylineError
from skyline.fl._flower import flower
from skyline.fl.attacks import create_attack
from skyline.fl.compress import create_codec
from skyline.fl.dropout import Dropout
from skyline.fl.privacy import DPSGD, private_training
from skyline.fl.task import (
    CLASSES,
    Task,
    build_model,
    client_data,
    get_weights,
    set_weights,
    train_local,
)

ROUND_KEY = "skyline-round"
CID_KEY = "cid"


class ClientDropped(SkylineError):
    """Raised inside a client that the dropout model takes offline for this round; Flower turns
    it into an error reply, as it does for a lost node."""


@dataclass(frozen=True)
class ClientSpec:
    """Everything a client needs besides the message: plain data, so it pickles into actors."""

    task: Task = field(default_factory=Task)
    byzantine: frozenset[int] = frozenset()
    attack: str = "sign_flip"
    up_codec: str = "none"
    down_codec: str = "none"
    dropout: Dropout = field(default_factory=Dropout)
    dp: DPSGD | None = None
    uniform_weight: bool = False


def client_id(context: Any) -> int:
    """The partition this Flower node trains on (`partition-id` in simulation, `cid` when a
    deployment passes --node-config cid=N)."""
    cfg = context.node_config
    return int(cfg["partition-id"] if "partition-id" in cfg else cfg[CID_KEY])


def compress_update(codec: str, update: list[np.ndarray], state: Any) -> list[np.ndarray]:
    """`update` encoded with `codec`; the error-feedback residual is carried in the node's
    persistent `state` (Flower's context.state) from one round to the next."""
    residual = state["residual"].to_numpy_ndarrays() if "residual" in state else None
    encoded, residual = create_codec(codec).compress(update, residual)
    if residual is not None:
        state["residual"] = flower().app.ArrayRecord(residual)
    return encoded


def local_update(
    spec: ClientSpec, cid: int, received: list[np.ndarray], config: Any, state: Any
) -> tuple[list[np.ndarray], dict[str, float]]:
    """Train from `received` weights; returns (encoded update, metrics). `state` is the
    client's persistent RecordDict."""
    fw = flower().app
    round_ = int(config.get(ROUND_KEY, config.get("server-round", 0)))
    if spec.dropout.dropped(round_, cid):
        raise ClientDropped(f"client {cid} dropped out of round {round_}")
    time.sleep(spec.dropout.delay_s(round_, cid))
    torch.set_num_threads(1)  # one simulated device per CPU
    task = spec.task
    model = build_model(task)
    set_weights(model, received)
    data = client_data(task, cid)
    attack = create_attack(spec.attack) if cid in spec.byzantine else None
    if attack is not None:
        data = TensorDataset(data.tensors[0], attack.labels(data.tensors[1], CLASSES[task.dataset]))
    seed = task.seed * 100_003 + round_ * 1_009 + cid
    metrics: dict[str, float] = {}
    if spec.dp is None:
        loss = train_local(
            model, data, task, seed=seed, prox_mu=float(config.get("proximal-mu", 0.0))
        )
    else:
        saved = state.get("dp", {"noise": [], "rate": [], "steps": []})
        history = list(zip(saved["noise"], saved["rate"], saved["steps"]))
        private, optimizer, loader, engine = private_training(
            model,
            data,
            task.lr,
            task.batch_size,
            spec.dp,
            history,
        )
        loss = train_local(private, data, task, seed=seed, optimizer=optimizer, loader=loader)
        noise, rate, steps = zip(*engine.accountant.history)
        state["dp"] = fw.ConfigRecord(
            {"noise": list(noise), "rate": list(rate), "steps": [int(n) for n in steps]}
        )
        metrics["epsilon"] = float(engine.get_epsilon(spec.dp.delta))
    trained = get_weights(model)
    if attack is not None:
        trained = attack.weights(trained, received, np.random.default_rng(seed))
    encoded = compress_update(spec.up_codec, [t - r for t, r in zip(trained, received)], state)
    metrics.update(
        {"num-examples": 1 if spec.uniform_weight else len(data), "train-loss": loss, CID_KEY: cid}
    )
    return encoded, metrics


def client_app(spec: ClientSpec) -> Any:
    """A Flower ClientApp for `spec`: `query` answers the node's client id, `train` runs
    `local_update` on the (decoded) weights in the message."""
    fw = flower()
    app = fw.clientapp.ClientApp()

    @app.query()
    def query(msg: Any, context: Any) -> Any:
        record = fw.app.RecordDict({"metrics": fw.app.MetricRecord({CID_KEY: client_id(context)})})
        return fw.app.Message(record, reply_to=msg)

    @app.train()
    def train(msg: Any, context: Any) -> Any:
        cid = client_id(context)
        like = get_weights(build_model(spec.task))
        received = create_codec(spec.down_codec).decode(
            msg.content["arrays"].to_numpy_ndarrays(), like
        )
        try:
            encoded, metrics = local_update(
                spec, cid, received, msg.content["config"], context.state
            )
        except ClientDropped as exc:  # the error reply Flower sends for a lost node, untraced
            return fw.app.Message(fw.app.Error(code=0, reason=str(exc)), reply_to=msg)
        record = fw.app.RecordDict(
            {"arrays": fw.app.ArrayRecord(encoded), "metrics": fw.app.MetricRecord(metrics)}
        )
        return fw.app.Message(record, reply_to=msg)

    return app
