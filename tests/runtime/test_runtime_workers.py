"""Workers over real transports: exact outputs, fallback when the cloud is lost, garbage-proof."""

import threading
import time
import urllib.request
import uuid

import pytest
import torch
import zmq

from skyline.errors import ConfigError, PlanError, RemoteError
from skyline.runtime import CloudWorker, EdgeWorker
from skyline.runtime.hop import HopClient
from skyline.runtime.transports import InFlightLimit
from skyline.runtime.wire import Frame, FrameKind, decode_frame, encode_frame


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def addr(scheme):
    return f"inproc://{uuid.uuid4().hex}" if scheme == "inproc" else "tcp://127.0.0.1:0"


@pytest.mark.parametrize("scheme", ["inproc", "zmq"])
def test_split_execution_equals_model(scheme, model, inputs, plan2):
    assert {s.node for s in plan2.stages if s.ops} == {"device", "cloud"}
    with CloudWorker(plan2, model, bind_address=addr(scheme)) as cloud:
        with EdgeWorker(plan2, model, cloud=cloud.address) as edge:
            assert edge.handshake()["node"] == "cloud"
            assert plan2.key in cloud.identity()["plans"]
            out = edge.infer(*inputs)
    with torch.no_grad():
        assert same(out, model(*inputs))
    (record,) = edge.records
    assert record.outcome == "remote", record.error
    assert record.bytes_up > 0 and record.bytes_down > 0
    assert set(record.compute_ms) == {"device", "cloud"}


def test_three_tiers_relay_through_the_edge(model, inputs, plan3):
    assert [s.node for s in plan3.stages if s.ops] == ["device", "edge", "cloud"]
    with CloudWorker(plan3, model, node="cloud", bind_address=addr("zmq")) as cloud:
        with CloudWorker(
            plan3, model, node="edge", bind_address=addr("zmq"), upstream=cloud.address
        ) as mid:
            with EdgeWorker(plan3, model, cloud=mid.address) as edge:
                out = edge.infer(*inputs)
    with torch.no_grad():
        assert same(out, model(*inputs))
    assert edge.records[0].outcome == "remote", edge.records[0].error
    assert set(edge.records[0].compute_ms) == {"device", "edge", "cloud"}


def test_lost_cloud_falls_back_locally_and_loses_nothing(model, inputs, plan2):
    cloud = CloudWorker(plan2, model, bind_address=addr("zmq")).start()
    edge = EdgeWorker(plan2, model, cloud=cloud.address, timeout_s=0.3, retries=1)
    outs = [edge.infer(*inputs)]
    cloud.stop()  # the cloud dies mid-run
    outs += [edge.infer(*inputs) for _ in range(3)]
    with torch.no_grad():
        ref = model(*inputs)
    assert all(same(o, ref) for o in outs)
    assert [r.outcome for r in edge.records] == ["remote", "fallback", "fallback", "fallback"]
    assert all(r.error for r in edge.records[1:]) and "unreachable" in edge.records[1].error
    edge.close()


def test_a_circuit_breaker_skips_a_lost_cloud_until_its_cooldown_ends(model, inputs, plan2):
    address = f"inproc://{uuid.uuid4().hex}"
    edge = EdgeWorker(plan2, model, cloud=address, timeout_s=0.2, retries=0, cooldown_s=0.5)
    edge.infer(*inputs)  # nothing listens: waits out the timeout once
    edge.infer(*inputs)  # then falls back at once
    first, second = edge.records
    assert first.outcome == second.outcome == "fallback"
    assert "not retried" in second.error and second.latency_ms < first.latency_ms
    with CloudWorker(plan2, model, bind_address=address):
        time.sleep(0.5)
        edge.infer(*inputs)
    assert edge.records[-1].outcome == "remote"
    with pytest.raises(PlanError, match="cooldown"):
        EdgeWorker(plan2, model, cloud=address, cooldown_s=-1)


def test_middle_node_finishes_when_cloud_is_lost(model, inputs, plan3):
    with CloudWorker(
        plan3,
        model,
        node="edge",
        bind_address=addr("zmq"),
        upstream="tcp://127.0.0.1:1",
        timeout_s=0.2,
        retries=0,
    ) as mid:
        with EdgeWorker(plan3, model, cloud=mid.address) as edge:
            out = edge.infer(*inputs)
    with torch.no_grad():
        assert same(out, model(*inputs))
    assert edge.records[0].outcome == "fallback"


def test_garbage_gets_an_error_reply_and_the_worker_keeps_serving(model, inputs, plan2):
    with CloudWorker(plan2, model, bind_address=addr("zmq")) as cloud:
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.connect(cloud.address)
        for garbage in ([b"hello"], [b"SKYL" + b"\xff" * 40], [b"", b"x" * 1000]):
            sock.send_multipart(garbage)
            assert sock.poll(5000)
            reply = decode_frame(sock.recv_multipart())
            assert reply.kind is FrameKind.ERROR and reply.meta["error"]
        sock.close(linger=0)
        with EdgeWorker(plan2, model, cloud=cloud.address) as edge:
            out = edge.infer(*inputs)
    with torch.no_grad():
        assert same(out, model(*inputs))


def test_requests_that_do_not_match_the_plan_are_refused(model, inputs, plan2):
    (cut,) = [c for c in plan2.cuts if c.direction == "up"]
    declared = {t.name: t for t in cut.tensors}
    assert all(t.shape is not None and t.dtype for t in declared.values())
    good = {n: torch.zeros(t.shape, dtype=getattr(torch, t.dtype)) for n, t in declared.items()}
    first = next(iter(declared))
    bad = {
        "wrong shape": {**good, first: torch.zeros(2, *good[first].shape[1:])},
        "wrong dtype": {**good, first: good[first].to(torch.float64)},
        "missing": {n: v for n, v in good.items() if n != first},
        "extra": {**good, "intruder": torch.zeros(3)},
    }
    with CloudWorker(plan2, model, bind_address=addr("zmq")) as cloud:
        hop = HopClient(cloud.address, timeout_s=5, retries=0)
        for case, tensors in bad.items():
            with pytest.raises(RemoteError, match="plan") as info:
                hop.call(Frame(FrameKind.REQUEST, 7, tensors, {"plan": plan2.key}))
            assert ("declares" in str(info.value)) == case.startswith("wrong"), case
        reply = hop.call(Frame(FrameKind.REQUEST, 8, good, {"plan": plan2.key}))
        assert reply.frame.kind is FrameKind.RESPONSE
        hop.close()


def test_a_client_over_its_in_flight_limit_is_refused_and_others_are_served(model, inputs, plan2):
    (cut,) = [c for c in plan2.cuts if c.direction == "up"]
    tensors = {t.name: torch.zeros(t.shape, dtype=getattr(torch, t.dtype)) for t in cut.tensors}
    parts = [bytes(p) for p in encode_frame(Frame(FrameKind.REQUEST, 1, tensors))]
    with CloudWorker(
        plan2, model, bind_address=addr("zmq"), max_in_flight=2, slowdown=300, threads=4
    ) as cloud:
        greedy = zmq.Context.instance().socket(zmq.DEALER)
        greedy.connect(cloud.address)
        for _ in range(10):  # pipelined: no waiting for replies
            greedy.send_multipart(parts)
        with EdgeWorker(plan2, model, cloud=cloud.address) as edge:
            out = edge.infer(*inputs)
        assert edge.records[-1].outcome == "remote"
        replies = []
        while len(replies) < 10 and greedy.poll(20000):
            replies.append(decode_frame(greedy.recv_multipart()))
        greedy.close(linger=0)
    with torch.no_grad():
        assert same(out, model(*inputs))
    kinds = [r.kind for r in replies]
    assert len(kinds) == 10 and kinds.count(FrameKind.RESPONSE) >= 2
    refused = [r for r in replies if r.kind is FrameKind.ERROR]
    assert len(refused) >= 5
    assert all("in flight" in r.meta["error"] and r.request_id == 1 for r in refused)


def test_a_request_its_client_gave_up_on_is_not_computed(model, inputs, plan2):
    (cut,) = [c for c in plan2.cuts if c.direction == "up"]
    tensors = {t.name: torch.zeros(t.shape, dtype=getattr(torch, t.dtype)) for t in cut.tensors}
    with CloudWorker(plan2, model, bind_address=addr("zmq"), expiry_grace_s=0.5) as cloud:
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.connect(cloud.address)
        for expires, kind in ((time.time() - 5, FrameKind.ERROR), (None, FrameKind.RESPONSE)):
            meta = {"plan": plan2.key} | ({"expires_unix": expires} if expires else {})
            sock.send_multipart(encode_frame(Frame(FrameKind.REQUEST, 3, tensors, meta)))
            assert sock.poll(5000)
            reply = decode_frame(sock.recv_multipart())
            assert reply.kind is kind, reply.meta
            assert ("expired" in (reply.meta.get("error") or "")) == (kind is FrameKind.ERROR)
        sock.close(linger=0)
        hop = HopClient(cloud.address, timeout_s=5, retries=0)  # stamps a fresh expiry
        assert hop.call(Frame(FrameKind.REQUEST, 4, tensors, {"plan": plan2.key})).frame.meta


def test_in_flight_limit_counts_per_client():
    limit = InFlightLimit(2, lambda parts: [b"no"])
    assert limit.admit("a") and limit.admit("a") and not limit.admit("a")
    assert limit.admit("b")
    limit.release("a")
    assert limit.admit("a") and not limit.admit("a")
    with pytest.raises(ConfigError, match="at least one"):
        InFlightLimit(0, limit.refuse)


def test_many_clients_concurrently(model, inputs, plan2):
    with CloudWorker(plan2, model, bind_address=addr("zmq"), threads=2) as cloud:
        results, errors = [], []

        def client():
            try:
                with EdgeWorker(plan2, model, cloud=cloud.address) as edge:
                    results.extend(edge.infer(*inputs) for _ in range(5))
                    assert all(r.outcome == "remote" for r in edge.records)
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors and len(results) == 20
    with torch.no_grad():
        ref = model(*inputs)
    assert all(same(r, ref) for r in results)


def test_lossy_codec_error_is_bounded(model, inputs, plan2):
    with CloudWorker(plan2, model, bind_address=addr("inproc"), codec="fp16") as cloud:
        with EdgeWorker(plan2, model, cloud=cloud.address, codec="fp16") as edge:
            out = edge.infer(*inputs)
    with torch.no_grad():
        ref = model(*inputs)
    for o, r in zip(out, ref, strict=True):
        # fp16 keeps 11 significant bits; a few layers after the cut amplify it modestly
        assert torch.allclose(o, r, rtol=1e-2, atol=1e-2)


def test_handshake_refuses_other_weights(model, inputs, plan2):
    other = type(model)(7, 12, num_inputs=2, num_outputs=2).eval()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    with CloudWorker(plan2, other, bind_address=addr("inproc")) as cloud:
        with (
            EdgeWorker(plan2, model, cloud=cloud.address) as edge,
            pytest.raises(PlanError, match="weights"),
        ):
            edge.handshake()


def test_metrics_endpoint(model, inputs, plan2):
    with CloudWorker(plan2, model, bind_address=addr("zmq"), metrics_port=0) as cloud:
        with EdgeWorker(plan2, model, cloud=cloud.address) as edge:
            edge.infer(*inputs)
        text = (
            urllib.request.urlopen(f"http://127.0.0.1:{cloud.metrics_port}/metrics").read().decode()
        )
    assert 'skyline_requests_total{node="cloud",outcome="remote"} 1.0' in text
    assert (
        "skyline_bytes_received_total" in text and "skyline_request_latency_seconds_bucket" in text
    )


def test_missing_upstream_and_origin_errors(model, plan3):
    with pytest.raises(PlanError, match="upstream"):
        CloudWorker(plan3, model, node="edge")
    with pytest.raises(PlanError, match="origin"):
        CloudWorker(plan3, model, node="device")
    with pytest.raises(PlanError, match="cloud address"):
        EdgeWorker(plan3, model)


def test_handshake_refuses_a_worker_for_another_node(model, plan3):
    # the origin of plan3 sends to "edge"; a worker serving "cloud" must be refused up front
    with CloudWorker(plan3, model, node="cloud", bind_address=addr("inproc")) as cloud:
        with EdgeWorker(plan3, model, cloud=cloud.address) as edge:
            with pytest.raises(PlanError, match="--node edge"):
                edge.handshake()
