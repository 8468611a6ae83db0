"""Real links and slower devices for the edge-cloud runtime.

* `Shaper` / `ShaperPair`: a link emulated in-process (rate, delay, loss, trace), any transport,
  no root.
* `LinuxLink`: two network namespaces joined by a real emulated link (TUN delay line + tbf);
  root. `link_available()` says whether it can run here, `cleanup_stale()` removes what crashed
  runs left.
* `TraceReplayer`: replays a `BandwidthTrace` onto either of the above.
* `DeviceThrottle`: a cgroup CPU quota that makes an "edge" process really slower, with a
  measured speed factor; root. `throttle_available()` says whether it can run here.
* `SharedCore`: `speed` of one dedicated CPU shared with a busy filler by cgroup weights: a
  steadier slower device than a quota on a virtual machine (the CPU never idles); root.
"""

from skyline.emulation.linux import LinuxLink, cleanup_stale
from skyline.emulation.linux import available as link_available
from skyline.emulation.shaper import Shaper, ShaperPair
from skyline.emulation.shared_core import SharedCore
from skyline.emulation.throttle import CgroupCpu, DeviceThrottle, throttle_available
from skyline.emulation.trace import AppliedRate, TraceReplayer

__all__ = [
    "AppliedRate",
    "CgroupCpu",
    "DeviceThrottle",
    "LinuxLink",
    "Shaper",
    "ShaperPair",
    "SharedCore",
    "TraceReplayer",
    "cleanup_stale",
    "link_available",
    "throttle_available",
]
