"""The real runtime: workers that run a plan's stages in separate processes over real sockets."""

from skyline.runtime.cloud import CloudWorker
from skyline.runtime.edge import EdgeWorker
from skyline.runtime.hop import HopClient
from skyline.runtime.raypool import RayOptions
from skyline.runtime.records import RequestRecord
from skyline.runtime.stages import PlanRunner, weights_digest
from skyline.runtime.transports import Listener, Transport, bind, connect
from skyline.runtime.transports.shaped import ShapedTransport

__all__ = [
    "CloudWorker",
    "EdgeWorker",
    "HopClient",
    "Listener",
    "PlanRunner",
    "RayOptions",
    "RequestRecord",
    "ShapedTransport",
    "Transport",
    "bind",
    "connect",
    "weights_digest",
]
