"""Edge side of the Linux end-to-end tests, run inside the edge namespace.

Runs requests through a plan against the cloud worker and compares each output with the unsplit
model computed right here (same weights). With --pause-after K it prints "pause" after K
requests and waits for a line on stdin (the test kills the cloud meanwhile)."""

import argparse
import json
import sys

import torch

from skyline import models
from skyline.plan import load_plans
from skyline.runtime import EdgeWorker


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--plan", required=True)
    p.add_argument("--cloud", required=True)
    p.add_argument("--codec", default=None)
    p.add_argument("--requests", type=int, default=3)
    p.add_argument("--pause-after", type=int, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    (plan,) = load_plans(args.plan)
    model = models.load(plan.model.name)
    x = torch.randn(plan.model.inputs[0].shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = model(x)
    errors = []
    with EdgeWorker(
        plan, model, cloud=args.cloud, codec=args.codec, timeout_s=2.0, retries=1
    ) as edge:
        edge.handshake()
        for i in range(args.requests):
            if args.pause_after is not None and i == args.pause_after:
                print("pause", flush=True)
                sys.stdin.readline()
            out = edge.infer(x)
            errors.append(float((out - ref).abs().max()))
    print(
        json.dumps({"max_abs_error": errors, "records": [r.to_dict() for r in edge.records]}),
        flush=True,
    )


if __name__ == "__main__":
    main()
