"""Hierarchical FL as real processes on Flower's deployment runtime.

    cloud SuperLink <- edge SuperNode j (node-config role=edge)      one per edge
    edge SuperLink j <- device SuperNodes (node-config role=device)  one per device

`flwr run` starts the cloud run: its ServerApp runs the cloud's rounds over the edges (the
edges are the cloud's Flower nodes). When an edge's ClientApp gets the global model it becomes
a server itself: it starts a run on its own SuperLink (`flwr run`, role=edge) whose ServerApp
runs `edge_rounds` rounds over its devices and hands back the edge model, which the edge then
sends up like any client update (codecs and error feedback included). Every hop is a real
Flower connection between separate processes; the same orchestrator code as the simulation
drives each tier (`FLConfig.orchestrator(only_edge=j | edges_as_clients=True)`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from skyline.errors import ConfigError, SkylineError
from skyline.fl._flower import flower
from skyline.fl.client import CID_KEY, ROUND_KEY, compress_update
from skyline.fl.client import client_app as device_app
from skyline.fl.compress import create_codec
from skyline.fl.hierarchy import RoundRecord
from skyline.fl.run import FLConfig, FLResult
from skyline.fl.task import build_model, get_weights, samples
from skyline.fl.traffic import tiers

APP_DIR = Path(__file__).with_name("app")
EDGE_RUN_TIMEOUT_S = 1800.0


@functools.cache
def _config(path: str) -> FLConfig:
    return FLConfig.from_dict(json.loads(Path(path).read_text()))


def _bin(name: str) -> str:
    """A console script of this environment (Flower's, next to this Python)."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        raise ConfigError(
            f"Flower's `{name}` command is not installed", fix='pip install "skyline[fl]"'
        )
    return found


def _save(path: Path, arrays: list[np.ndarray]) -> None:
    np.savez(path, *arrays)


def _load(path: Path) -> list[np.ndarray]:
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


# -- the apps Flower loads (skyline_fl_app.py re-exports them) ----------------------------------


def _server_main(grid: Any, context: Any) -> None:
    rc = context.run_config
    config = _config(str(rc["config"]))
    if rc["role"] == "cloud":
        history = Path(str(rc["history"]))
        orch = config.orchestrator(edges_as_clients=True)

        def record(r: RoundRecord) -> None:
            with history.open("a") as f:
                f.write(json.dumps(r.as_dict()) + "\n")

        orch.run(grid, config.rounds, record)
        return
    edge, round_ = int(rc["edge"]), int(rc["round"])
    k = config.edge_rounds
    out = Path(str(rc["weights-out"]))
    try:
        orch = config.orchestrator(only_edge=edge)
        first = (round_ - 1) * k + 1
        final = orch.run(grid, k, initial=_load(Path(str(rc["weights-in"]))), first_round=first)
    except Exception as exc:  # tell the waiting edge client now, not at its timeout
        out.with_suffix(".err").write_text(f"{type(exc).__name__}: {exc}")
        raise
    failures = sum(r.failures for r in orch.history)
    stats = {"device_edge_bytes": orch.traffic.tier_bytes()["device-edge"], "failures": failures}
    out.with_suffix(".json").write_text(json.dumps(stats))
    tmp = out.with_suffix(".tmp.npz")
    _save(tmp, final)
    tmp.rename(out)  # appears whole: the edge client polls for it


def _edge_train(msg: Any, context: Any) -> Any:
    """The edge's answer to the cloud: run `edge_rounds` on its own federation, send the change."""
    fw = flower().app
    node = context.node_config
    edge, config_path = int(node[CID_KEY]), str(node["config"])
    config = _config(config_path)
    work = Path(str(node["workdir"]))
    round_ = int(msg.content["config"][ROUND_KEY])
    like = get_weights(build_model(config.task))
    received = create_codec(config.down_codec).decode(
        msg.content["arrays"].to_numpy_ndarrays(), like
    )
    w_in, w_out = work / f"edge{edge}-r{round_}-in.npz", work / f"edge{edge}-r{round_}-out.npz"
    _save(w_in, received)
    run_config = (
        f"role='edge' config='{config_path}' edge={edge} round={round_} "
        f"weights-in='{w_in}' weights-out='{w_out}'"
    )
    with (work / f"edge{edge}-runs.log").open("a") as log:
        subprocess.run(  # submits the run; its ServerApp writes w_out (or w_out.err) when done
            [_bin("flwr"), "run", str(APP_DIR), "edge", "--run-config", run_config],
            env={**os.environ, "FLWR_HOME": str(node["flwr-home"])},
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=True,
        )
    _wait_file(w_out, EDGE_RUN_TIMEOUT_S, f"edge {edge}'s run for round {round_}")
    update = [t - r for t, r in zip(_load(w_out), received)]
    encoded = compress_update(config.up_codec, update, context.state)
    stats = json.loads(w_out.with_suffix(".json").read_text())
    group = tiers(config.topology()).groups[edge]
    metrics = {"num-examples": samples(config.task, group), CID_KEY: edge, **stats}
    return fw.Message(
        fw.RecordDict({"arrays": fw.ArrayRecord(encoded), "metrics": fw.MetricRecord(metrics)}),
        reply_to=msg,
    )


@functools.cache
def _device(config_path: str) -> Any:
    return device_app(_config(config_path).client_spec())


def _client_main(kind: str) -> Callable[[Any, Any], Any]:
    def handle(msg: Any, context: Any) -> Any:
        node = context.node_config
        if node.get("role") == "edge":
            if kind == "query":
                content = flower().app.RecordDict(
                    {"metrics": flower().app.MetricRecord({CID_KEY: int(node[CID_KEY])})}
                )
                return flower().app.Message(content, reply_to=msg)
            return _edge_train(msg, context)
        return _device(str(node["config"]))(msg, context)

    return handle


def _apps() -> tuple[Any, Any]:
    fw = flower()
    server = fw.serverapp.ServerApp()
    server.main()(_server_main)
    client = fw.clientapp.ClientApp()
    client.query()(_client_main("query"))
    client.train()(_client_main("train"))
    return server, client


server_app, client_app = _apps()


# -- the launcher ---------------------------------------------------------------------------------


def _wait_file(path: Path, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        err = path.with_suffix(".err")
        if err.exists():
            raise SkylineError(f"{what} failed: {err.read_text()}")
        if time.monotonic() > deadline:
            raise SkylineError(f"{what} gave no model in {timeout_s:.0f} s (see its log)")
        time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SkylineError(f"a Flower process exited with code {proc.returncode} on start")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    raise SkylineError(f"Flower SuperLink on port {port} did not start in {timeout_s:.0f} s")


class _Processes:
    """Every process of a deployment, stopped together (each in its own session)."""

    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.work, self.env = work, env
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[IO[bytes]] = []

    def start(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.work / f"{name}.log").open("wb")
        self.logs.append(log)
        proc = subprocess.Popen(
            argv,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def superlink(self, name: str) -> int:
        port = _free_port()
        argv = [_bin("flower-superlink"), "--insecure", "--port", str(port)]
        argv += ["--database", str(self.work / f"{name}.db")]
        _wait_port(port, 60, self.start(name, [*argv, "--disable-runtime-dependency-installation"]))
        return port

    def supernode(self, name: str, superlink: int, node_config: str) -> None:
        argv = [_bin("flower-supernode"), "--insecure", "--superlink", f"127.0.0.1:{superlink}"]
        self.start(name, [*argv, "--node-config", node_config, "--port", str(_free_port())])

    def home(self, folder: str, name: str, port: int) -> Path:
        """A FLWR_HOME whose Flower config names the SuperLink at `port` as `name`."""
        home = self.work / folder
        home.mkdir()
        (home / "config.toml").write_text(
            f'[superlink]\ndefault = "{name}"\n\n'
            f'[superlink.{name}]\naddress = "127.0.0.1:{port}"\ninsecure = true\n'
        )
        return home

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 9)
        for log in self.logs:
            log.close()


@contextlib.contextmanager
def _workdir(path: str | Path | None) -> Iterator[Path]:
    if path is not None:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="skyfl") as tmp:
        yield Path(tmp)


def deploy(
    config: FLConfig,
    *,
    workdir: str | Path | None = None,
    on_round: Callable[[RoundRecord], None] | None = None,
    timeout_s: float = 1800.0,
) -> FLResult:
    """Run hierarchical `config` as separate processes (cloud and edge SuperLinks, edge and
    device SuperNodes, ServerApp and ClientApp processes) on this machine's loopback.
    `workdir` keeps every process's log (default: a temporary folder)."""
    if config.mode != "hier":
        raise ConfigError("deploy runs the hierarchy", fix="set mode='hier' (flat runs use run())")
    groups = config.orchestrator().groups()  # every check before a process starts
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "FLWR_TELEMETRY_ENABLED": "0",
        "FLWR_DISABLE_UPDATE_CHECK": "1",
        "OMP_NUM_THREADS": "1",
    }
    with _workdir(workdir) as work:
        cfg = work / "config.json"
        cfg.write_text(json.dumps(config.as_dict()))
        history = work / "history.jsonl"
        procs = _Processes(work, env)
        try:
            cloud = procs.superlink("cloud")
            for j, group in enumerate(groups):
                port = procs.superlink(f"edge{j}")
                home = procs.home(f"home-edge{j}", "edge", port)
                for cid in group:
                    procs.supernode(
                        f"device{cid}", port, f"partition-id={cid} role='device' config='{cfg}'"
                    )
                procs.supernode(
                    f"edge{j}-node",
                    cloud,
                    f"cid={j} role='edge' config='{cfg}' workdir='{work}' flwr-home='{home}'",
                )
            run = procs.start(
                "cloud-run",
                [
                    _bin("flwr"),
                    "run",
                    str(APP_DIR),
                    "cloud",
                    "--stream",
                    "--run-config",
                    f"role='cloud' config='{cfg}' history='{history}'",
                ],
                env={"FLWR_HOME": str(procs.home("home-cloud", "cloud", cloud))},
            )
            records = _follow(run, history, config.rounds, on_round, timeout_s, work)
        finally:
            procs.stop()
    return FLResult(config.as_dict(), sorted(config.byzantine_clients()), records)


def _follow(
    run: subprocess.Popen[bytes],
    history: Path,
    rounds: int,
    on_round: Callable[[RoundRecord], None] | None,
    timeout_s: float,
    work: Path,
) -> list[RoundRecord]:
    records: list[RoundRecord] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < rounds:
        lines = history.read_text().splitlines() if history.exists() else []
        for line in lines[len(records) :]:
            record = RoundRecord(**json.loads(line))
            record.device_edge_bytes = sum(  # reported by each edge's own run
                json.loads(f.read_text())["device_edge_bytes"]
                for r in range(1, record.round + 1)
                for f in work.glob(f"edge*-r{r}-out.json")
            )
            records.append(record)
            if on_round is not None:
                on_round(records[-1])
        if len(records) >= rounds:
            break
        if run.poll() is not None or time.monotonic() > deadline:
            raise SkylineError(
                f"the deployed FL run stopped after {len(records)} of {rounds} rounds",
                fix=f"see the process logs in {work} (cloud-run.log, edge*-runs.log)",
            )
        time.sleep(0.5)
    return records
