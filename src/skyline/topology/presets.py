"""Named nodes, links and topologies with the published figure or stated assumption behind each.

Presets are plain dicts in the topology file's own shape, so a file can start from a preset and
override any field (`preset = "rpi4"` plus `memory_mb = 2048`). Every entry carries a `source`
that says where its numbers come from; numbers we could not take from a publication say
"assumption:" and why. `docs/presets.md` is generated from these tables by `presets_markdown()`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from skyline.errors import SkylineError, TopologyError, UnknownNameError
from skyline.topology.spec import Link, Node, Topology

# Radio energy per bit from the power model of Huang et al., "A close examination of performance
# and power characteristics of 4G LTE networks", MobiSys 2012: alpha_u / alpha_d in mW per Mbit/s
# equal 1e-9 J per bit. The model's base power while the radio is on (beta) and tail energy are
# not per bit and are not included.
_HUANG = "Huang et al., MobiSys 2012"
_LTE_TX_J_PER_BIT = 438.39e-9
_LTE_RX_J_PER_BIT = 51.97e-9
_WIFI_TX_J_PER_BIT = 283.17e-9
_WIFI_RX_J_PER_BIT = 137.01e-9

NODE_PRESETS: dict[str, dict[str, Any]] = {
    "host": {
        "tier": "edge",
        "speed": 1.0,
        "source": "assumption: the machine running Skyline. speed 1.0 by definition, so "
        "profiled op times are used as measured; memory unlimited and power not modelled (0) "
        "unless overridden.",
    },
    "rpi4": {
        "tier": "device",
        "gflops": 8.0,
        "op_overhead_us": 50.0,
        "memory_mb": 3072.0,
        "power": {
            "idle_w": 2.7,
            "active_w": 6.4,
            "tx_j_per_bit": _WIFI_TX_J_PER_BIT,
            "rx_j_per_bit": _WIFI_RX_J_PER_BIT,
        },
        "source": "Raspberry Pi 4 Model B 4 GB (4x Cortex-A72, 1.5 GHz). Power: 2.7 W idle "
        "(540 mA) and 6.4 W with all four cores loaded (1280 mA, stress --cpu 4) at 5 V, "
        "measured by J. Geerling (pidramble.com power benchmarks). Radio: Wi-Fi per-bit energy "
        f"of {_HUANG}, measured on a phone - assumption that the Pi's Wi-Fi is similar. "
        "assumption: gflops 8 is an effective FP32 rate, not a peak, chosen so ResNet-18 "
        "(3.6 GFLOP at 224x224) takes about 0.45 s, the order of published PyTorch CPU "
        "latencies on a Pi 4; op_overhead_us 50 is an estimate of eager per-op dispatch on "
        "this CPU; memory 3072 MiB leaves about 1 GB of the 4 GB to the OS. Not measured here.",
    },
    "jetson-nano": {
        "tier": "device",
        "gflops": 60.0,
        "op_overhead_us": 100.0,
        "memory_mb": 3072.0,
        "power": {"idle_w": 1.5, "active_w": 10.0},
        "source": "NVIDIA Jetson Nano 4 GB (128-core Maxwell GPU, 472 GFLOPS FP16 peak, so "
        "about 236 FP32; 5 W and 10 W power modes per NVIDIA's datasheet). active_w is the "
        "10 W mode budget. assumption: gflops 60 is about a quarter of the FP32 peak, typical "
        "of batch-1 PyTorch inference; op_overhead_us 100 covers kernel launch plus dispatch on "
        "the Cortex-A57 host; idle 1.5 W is an estimate; 3072 MiB of the 4 GB memory shared "
        "by CPU and GPU is left to models. Radio energy 0: the developer kit is on wired "
        "Ethernet.",
    },
    "phone": {
        "tier": "device",
        "gflops": 20.0,
        "op_overhead_us": 20.0,
        "memory_mb": 2048.0,
        "power": {
            "idle_w": 1.0,
            "active_w": 4.0,
            "tx_j_per_bit": _LTE_TX_J_PER_BIT,
            "rx_j_per_bit": _LTE_RX_J_PER_BIT,
        },
        "source": f"Radio: LTE per-bit energy of {_HUANG} (alpha_u 438.39 and alpha_d "
        "51.97 mW per Mbit/s). assumption: a flagship phone CPU (e.g. 4 big Arm cores) running "
        "FP32 PyTorch at an effective 20 GFLOP/s (MobileNetV2, 0.6 GFLOP, in about 30 ms); "
        "1 W idle with the screen on and 4 W under sustained compute are round estimates; "
        "2048 MiB is the memory an app can expect to use.",
    },
    "edge-server": {
        "tier": "edge",
        "gflops": 2000.0,
        "op_overhead_us": 20.0,
        "memory_mb": 16384.0,
        "power": {"idle_w": 100.0, "active_w": 250.0},
        "source": "A server with one NVIDIA T4 (8.1 TFLOPS FP32 peak, 16 GB, 70 W; NVIDIA T4 "
        "datasheet). assumption: gflops 2000 is about a quarter of the FP32 peak, typical of "
        "batch-1 inference; op_overhead_us 20 is CUDA launch plus dispatch; 100 W idle and "
        "250 W active are estimates for the whole one-socket server.",
    },
    "cloud-server": {
        "tier": "cloud",
        "gflops": 5000.0,
        "op_overhead_us": 10.0,
        "memory_mb": 40960.0,
        "power": {"idle_w": 100.0, "active_w": 400.0},
        "source": "One NVIDIA A100 40 GB (19.5 TFLOPS FP32 peak, 400 W for the SXM module; "
        "NVIDIA A100 datasheet). assumption: gflops 5000 is about a quarter of the FP32 peak "
        "at batch 1; op_overhead_us 10 for a fast host CPU; idle 100 W is an estimate.",
    },
}

# Bandwidths are goodput (what an application measures), which already reflects
# retransmissions, so presets set loss 0 to avoid counting loss twice.
_NEUROSURGEON = "Kang et al., ASPLOS 2017 (average uplink: 3G 1.1, LTE 5.85, Wi-Fi 18.88 Mbit/s)"

LINK_PRESETS: dict[str, dict[str, Any]] = {
    "3g": {
        "up_mbps": 1.1,
        "down_mbps": 2.0,
        "rtt_ms": 150.0,
        "loss": 0.0,
        "source": f"up_mbps: {_NEUROSURGEON}. assumption: down_mbps 2.0 and rtt_ms 150 are "
        "round values for HSPA-era 3G; offloading is limited by the uplink, so the downlink "
        "value matters little.",
    },
    "4g": {
        "up_mbps": 5.85,
        "down_mbps": 13.0,
        "rtt_ms": 70.0,
        "loss": 0.0,
        "source": f"up_mbps: {_NEUROSURGEON}. down_mbps: median LTE downlink of 13 Mbit/s "
        f"reported by {_HUANG}, whose median uplink of 6 Mbit/s agrees with the uplink used. "
        "assumption: rtt_ms 70, in line with the LTE RTTs reported by the same study.",
    },
    "wifi": {
        "up_mbps": 18.88,
        "down_mbps": 50.0,
        "rtt_ms": 5.0,
        "loss": 0.0,
        "source": f"up_mbps: {_NEUROSURGEON}. assumption: down_mbps 50 and rtt_ms 5 for a "
        "device one Wi-Fi hop from a local edge server.",
    },
    "5g": {
        "up_mbps": 50.0,
        "down_mbps": 300.0,
        "rtt_ms": 25.0,
        "loss": 0.0,
        "source": "assumption: rounded mid-band (sub-6 GHz) commercial 5G. Measurement studies "
        "(Narayanan et al., WWW 2020; Xu et al., SIGCOMM 2020) report downlinks from a few "
        "hundred Mbit/s to over 1 Gbit/s, uplinks of tens of Mbit/s and RTTs of 20-30 ms; "
        "these values sit at the modest end of that range, not a measurement.",
    },
    "6g": {
        "up_mbps": 300.0,
        "down_mbps": 500.0,
        "rtt_ms": 1.0,
        "loss": 0.0,
        "source": "target, not a measurement: ITU-R M.2160 (IMT-2030 framework) gives a "
        "user-experienced data rate of 300-500 Mbit/s and 0.1-1 ms latency as 6G research "
        "targets. assumption: up takes the lower and down the upper rate; RTT 1 ms.",
    },
    "wired": {
        "up_mbps": 941.0,
        "down_mbps": 941.0,
        "rtt_ms": 0.2,
        "loss": 0.0,
        "source": "1 GbE LAN (IEEE 802.3 1000BASE-T, 1000 Mbit/s line rate). 941 Mbit/s is "
        "TCP goodput with a 1500-byte MTU (1448 payload bytes per 1538 bytes on the wire). "
        "assumption: rtt_ms 0.2 for one switched hop.",
    },
    "wan": {
        "up_mbps": 100.0,
        "down_mbps": 100.0,
        "rtt_ms": 40.0,
        "loss": 0.0,
        "source": "assumption: an edge site reaching a regional cloud over the public Internet "
        "with a 100 Mbit/s provisioned uplink and a 40 ms RTT (regional data-centre RTTs are "
        "commonly 20-60 ms).",
    },
}

REFERENCES: list[str] = [
    "Huang, Qian, Gerber, Mao, Sen, Spatscheck. A close examination of performance and power "
    "characteristics of 4G LTE networks. MobiSys 2012.",
    "Kang, Hauswald, Gao, Rovinski, Mudge, Mars, Tang. Neurosurgeon: collaborative "
    "intelligence between the cloud and mobile edge. ASPLOS 2017.",
    "Narayanan et al. A first look at commercial 5G performance on smartphones. WWW 2020.",
    "Xu et al. Understanding operational 5G: a first measurement study on its coverage, "
    "performance and energy consumption. SIGCOMM 2020.",
    "ITU-R Recommendation M.2160: Framework and overall objectives of the future development "
    "of IMT for 2030 and beyond (2023).",
    "J. Geerling. Power consumption benchmarks, pidramble.com.",
    "NVIDIA datasheets: Jetson Nano, Tesla T4, A100.",
]

TOPOLOGY_PRESETS: dict[str, dict[str, Any]] = {
    "device-edge-cloud": {
        "name": "device-edge-cloud",
        "node": [
            {"name": "device", "preset": "rpi4"},
            {"name": "edge", "preset": "edge-server"},
            {"name": "cloud", "preset": "cloud-server"},
        ],
        "link": [
            {"a": "device", "b": "edge", "preset": "wifi"},
            {"a": "edge", "b": "cloud", "preset": "wan"},
        ],
    },
    "device-cloud": {
        "name": "device-cloud",
        "node": [
            {"name": "device", "preset": "phone"},
            {"name": "cloud", "preset": "cloud-server"},
        ],
        "link": [{"a": "device", "b": "cloud", "preset": "4g"}],
    },
    "edge-cloud": {
        "name": "edge-cloud",
        "node": [
            {"name": "edge", "preset": "host"},
            {"name": "cloud", "preset": "cloud-server"},
        ],
        "link": [{"a": "edge", "b": "cloud", "preset": "wan"}],
    },
}

_COMPUTE_KEYS = ("speed", "gflops")
_DOC_KEYS = ("name", "node", "link")


def _lookup(
    kind: str,
    table: Mapping[str, dict[str, Any]],
    preset: object,
    *,
    where: str = "",
    error: type[SkylineError] = UnknownNameError,
) -> dict[str, Any]:
    if isinstance(preset, str) and preset in table:
        return copy.deepcopy(table[preset])
    raise error(f"{where}unknown {kind} preset {preset!r}", fix=f"use one of: {', '.join(table)}")


def _merge(preset: str, base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Preset fields, then `preset`, then overrides; a `power` table merges key by key."""
    base.pop("source")
    if any(key in overrides for key in _COMPUTE_KEYS):  # replacing, not adding, a compute measure
        for key in _COMPUTE_KEYS:
            base.pop(key, None)
    fields = {**base, "preset": preset, **overrides}
    if isinstance(overrides.get("power"), Mapping) and "power" in base:
        fields["power"] = {**base["power"], **overrides["power"]}
    return fields


_ENTRY_PRESETS = {"node": NODE_PRESETS, "link": LINK_PRESETS}


def node_preset(preset: str, /, **overrides: Any) -> Node:
    """A Node from a preset; named after the preset unless `name=` is given."""
    fields = _merge(preset, _lookup("node", NODE_PRESETS, preset), {"name": preset, **overrides})
    return Node.model_validate(fields)


def link_preset(preset: str, a: str, b: str, **overrides: Any) -> Link:
    """A Link from a preset between a (lower tier, sends `up`) and b."""
    fields = _merge(preset, _lookup("link", LINK_PRESETS, preset), {"a": a, "b": b, **overrides})
    return Link.model_validate(fields)


def expand_presets(doc: Mapping[str, Any], *, where: str = "") -> dict[str, Any]:
    """Turn a topology document (file shape: name, [[node]], [[link]]) into Topology fields.

    Entries with a `preset` key get the preset's fields under their own. Shape problems and
    unknown presets raise TopologyError prefixed with `where` (the file, when loading one);
    field values are left for pydantic to check.
    """
    unknown = [key for key in doc if key not in _DOC_KEYS]
    if unknown:
        raise TopologyError(
            f"{where}unknown top-level key(s) {', '.join(map(repr, unknown))}",
            fix=f"use only {', '.join(_DOC_KEYS)} (each node as a [[node]] table, "
            "each link as a [[link]] table)",
        )
    fields: dict[str, Any] = {"name": doc["name"]} if "name" in doc else {}
    for key, table in _ENTRY_PRESETS.items():
        entries = doc.get(key, [])
        if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
            raise TopologyError(
                f"{where}{key} must be a list of tables",
                fix=f"write each {key} as a [[{key}]] table in TOML, or as a list item of "
                "key: value lines in YAML",
            )
        expanded = []
        for i, entry in enumerate(entries):
            if "preset" in entry:
                base = _lookup(
                    key,
                    table,
                    entry["preset"],
                    where=f"{where}{key}[{i}].preset: ",
                    error=TopologyError,
                )
                overrides = {k: v for k, v in entry.items() if k != "preset"}
                entry = _merge(entry["preset"], base, overrides)
            expanded.append(dict(entry))
        fields[f"{key}s"] = expanded
    return fields


def topology_preset(name: str) -> Topology:
    spec = _lookup("topology", TOPOLOGY_PRESETS, name)
    return Topology.model_validate(expand_presets(spec))


def preset_names() -> dict[str, list[str]]:
    return {
        "node": list(NODE_PRESETS),
        "link": list(LINK_PRESETS),
        "topology": list(TOPOLOGY_PRESETS),
    }


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]


def presets_markdown() -> str:
    """The text of docs/presets.md, generated so the documented numbers are the ones used."""
    node_cols = ["tier", "speed", "gflops", "op_overhead_us", "memory_mb"]
    power_cols = ["idle_w", "active_w", "tx_j_per_bit", "rx_j_per_bit"]
    link_cols = ["up_mbps", "down_mbps", "rtt_ms", "loss"]
    nodes = {name: node_preset(name) for name in NODE_PRESETS}
    links = {name: link_preset(name, "a", "b") for name in LINK_PRESETS}
    lines = [
        "# Topology presets",
        "",
        "Generated by `skyline.topology.presets.presets_markdown()`; a test keeps this page equal",
        'to the tables in code. Use a preset by name (`preset = "rpi4"` in a `[[node]]`) and',
        "override any field next to it.",
        "",
        "Units: compute in GFLOP/s (a multiply-add counts 2 FLOPs) and effective, not peak;",
        "memory in MiB (`-` = unlimited); power in W; radio energy in J per bit; bandwidth in",
        "Mbit/s (1e6 bit/s) of goodput, so presets set `loss` to 0 to avoid counting loss twice.",
        "Values marked *assumption* are estimates, not measurements; replace them with your own",
        "measurements when they matter.",
        "",
        "## Nodes",
        "",
        *_table(
            ["preset", *node_cols, *power_cols],
            [
                [
                    name,
                    *(getattr(n, c) for c in node_cols),
                    *(getattr(n.power, c) for c in power_cols),
                ]
                for name, n in nodes.items()
            ],
        ),
        "",
        *(f"- **{name}**: {p['source']}" for name, p in NODE_PRESETS.items()),
        "",
        "## Links",
        "",
        "`up` is the direction from `a` (the lower tier) to `b`.",
        "",
        *_table(
            ["preset", *link_cols],
            [[name, *(getattr(ln, c) for c in link_cols)] for name, ln in links.items()],
        ),
        "",
        *(f"- **{name}**: {p['source']}" for name, p in LINK_PRESETS.items()),
        "",
        "## Topologies",
        "",
        *_table(
            ["preset", "nodes (preset)", "links (preset)"],
            [
                [
                    name,
                    ", ".join(f"{n['name']} ({n['preset']})" for n in t["node"]),
                    ", ".join(f"{ln['a']}-{ln['b']} ({ln['preset']})" for ln in t["link"]),
                ]
                for name, t in TOPOLOGY_PRESETS.items()
            ],
        ),
        "",
        "## References",
        "",
        *(f"- {ref}" for ref in REFERENCES),
    ]
    return "\n".join(lines) + "\n"
