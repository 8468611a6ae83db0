import pytest

from skyline.errors import ConfigError, TopologyError
from skyline.fl import Traffic, create_strategy, fl_topology, required_updates, tiers
from skyline.topology import Topology, link_preset, node_preset


def test_fl_topology_groups_devices_in_blocks() -> None:
    t = tiers(fl_topology(6, 2))
    assert t.edges == ("e0", "e1") and t.cloud == "cloud"
    assert t.groups == ((0, 1, 2), (3, 4, 5))
    assert t.edge_of(4) == "e1"


def test_a_device_on_two_edges_is_refused() -> None:
    topo = fl_topology(2, 2)
    links = [*topo.links, link_preset("wifi", "d0", "e1")]
    bad = Topology(name="bad", nodes=topo.nodes, links=links)
    with pytest.raises(TopologyError, match="d0"):
        tiers(bad)


def test_fl_needs_every_tier() -> None:
    topo = Topology(nodes=[node_preset("phone", name="d0"), node_preset("edge-server", name="e0")])
    with pytest.raises(TopologyError, match="one cloud"):
        tiers(topo)


def test_bytes_time_and_energy_by_hand() -> None:
    topo = fl_topology(2, 1)  # wifi 18.88 up / 50 down, 5 ms; wan 100/100, 40 ms; phones
    traffic = Traffic(topo)
    traffic.send(["d0", "e0", "cloud"], 1000)  # up through the edge
    traffic.send(["cloud", "e0", "d1"], 3000)  # down to the other device
    assert traffic.tier_bytes() == {"device-edge": 4000, "edge-cloud": 4000}
    # device-edge: slowest is 3000 B down at 50 Mbit/s vs 1000 B up at 18.88 Mbit/s
    access = max(1000 * 8 / 18.88e6, 3000 * 8 / 50e6) + 0.005 / 2
    backhaul = 3000 * 8 / 100e6 + 0.040 / 2  # the 3000 B hop is the slower one
    assert traffic.close_phase() == pytest.approx(access + backhaul)
    assert traffic.close_phase() == 0.0  # a phase with nothing sent
    phone = topo.node("d0").power
    assert traffic.device_energy_j() == pytest.approx(
        1000 * 8 * phone.tx_j_per_bit + 3000 * 8 * phone.rx_j_per_bit
    )


@pytest.mark.parametrize(
    ("name", "f", "need"), [("bulyan", 1, 7), ("krum", 2, 7), ("fedmedian", 2, 5), ("fedavg", 3, 1)]
)
def test_required_updates(name: str, f: int, need: int) -> None:
    assert required_updates(name, f) == need


def test_bulyan_requirement_is_checked_up_front() -> None:
    with pytest.raises(ConfigError, match="at least 7 clients"):
        create_strategy("bulyan", 5, malicious=1, where="edge 0 strategy")
    assert type(create_strategy("bulyan", 7, malicious=1)).__name__ == "Bulyan"


def test_unknown_strategy() -> None:
    with pytest.raises(KeyError, match="fedavg"):
        create_strategy("fedsgd", 5)
