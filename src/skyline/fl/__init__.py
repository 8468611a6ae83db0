"""Federated learning across device, edge and cloud on Flower: hierarchical (HierFAVG) and flat
aggregation with Flower's strategies, DP (Opacus DP-SGD, Flower's server-side wrapper and
accountant), attacks for robustness evaluation, update compression, dropout, traffic
accounted on topology links, and Flower's SecAgg+ on the flat tier. Flower, Ray and Opacus
are the `fl` extra."""

from skyline.fl.attacks import ATTACKS, Attack, create_attack
from skyline.fl.client import ClientDropped, ClientSpec, client_app
from skyline.fl.compress import CODECS, UpdateCodec, create_codec, payload_bytes
from skyline.fl.dropout import Dropout
from skyline.fl.hierarchy import HierarchicalFL, RoundRecord
from skyline.fl.privacy import DPSGD, ServerDP
from skyline.fl.run import FLConfig, FLResult, run
from skyline.fl.secure import SecAggFL, run_secagg
from skyline.fl.strategies import STRATEGY_NAMES, create_strategy, required_updates
from skyline.fl.task import Task
from skyline.fl.traffic import Tiers, Traffic, fl_topology, tiers

__all__ = [
    "ATTACKS",
    "CODECS",
    "DPSGD",
    "STRATEGY_NAMES",
    "Attack",
    "ClientDropped",
    "ClientSpec",
    "Dropout",
    "FLConfig",
    "FLResult",
    "HierarchicalFL",
    "RoundRecord",
    "SecAggFL",
    "ServerDP",
    "Task",
    "Tiers",
    "Traffic",
    "UpdateCodec",
    "client_app",
    "create_attack",
    "create_codec",
    "create_strategy",
    "fl_topology",
    "payload_bytes",
    "required_updates",
    "run",
    "run_secagg",
    "tiers",
]
