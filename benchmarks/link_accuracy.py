"""How closely a LinuxLink keeps its promise: request time vs bytes * 8 / rate + RTT.

For rates 5/20/100 Mbit/s x RTT 10/50 ms and payloads 100 KB / 400 KB / 4 MB, a client on side a
sends the payload over one warm TCP connection and a server on side b acks it (the runtime's
request/response); the median of the repeats is set beside the prediction. Needs root; run it
alone (2-core machine: the delay line and both endpoints share it).

    sudo python benchmarks/link_accuracy.py [--out results/link_accuracy.json] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from skyline.bench import machine_info
from skyline.emulation import LinuxLink, link_available
from skyline.emulation.probe import predicted_request_s, request_times

RATES_MBPS = (5, 20, 100)
RTTS_MS = (10, 50)
PAYLOADS = (100_000, 400_000, 4_000_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="results/link_accuracy.json")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ok, why = link_available()
    if not ok:
        sys.exit(f"cannot run: {why}")
    results = []
    tcp_cc = ""
    for mbps in RATES_MBPS:
        for rtt_ms in RTTS_MS:
            with LinuxLink(mbps, mbps, rtt_ms) as link:
                times = request_times(link, PAYLOADS, repeats=args.repeats)
                tcp_cc = link.tcp_cc
            for nbytes, samples in times.items():
                measured = statistics.median(samples)
                predicted = predicted_request_s(nbytes, mbps, rtt_ms)
                row = {
                    "rate_mbps": mbps,
                    "rtt_ms": rtt_ms,
                    "payload_bytes": nbytes,
                    "measured_median_s": measured,
                    "measured_min_s": min(samples),
                    "measured_max_s": max(samples),
                    "predicted_s": predicted,
                    "error": measured / predicted - 1,
                }
                results.append(row)
                print(
                    f"{mbps:4d} Mbit/s {rtt_ms:3d} ms {nbytes / 1e3:6.0f} KB  measured "
                    f"{measured * 1e3:8.1f} ms  predicted {predicted * 1e3:8.1f} ms  "
                    f"error {row['error']:+6.1%}"
                )
    errors = [abs(r["error"]) for r in results]
    summary = {"median_abs_error": statistics.median(errors), "max_abs_error": max(errors)}
    report = {
        "benchmark": "link_accuracy",
        "measured": True,
        "how": (
            "LinuxLink (TUN delay line + tbf) between two network namespaces; request/response "
            "over one warm TCP connection (TCP_NODELAY); median of repeats vs the prediction "
            "bytes * 8 / rate + RTT"
        ),
        "tcp_congestion_control": tcp_cc,
        "machine": machine_info(),
        "repeats": args.repeats,
        "results": results,
        "summary": summary,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(
        f"wrote {out}; |error| median {summary['median_abs_error']:.2%}, "
        f"max {summary['max_abs_error']:.2%}"
    )


if __name__ == "__main__":
    main()
