"""Entry point that ``torchrun`` starts in each process for ``mlaas train --nproc N``.

Rank 0 tracks (one MLflow run) and writes checkpoints; every rank trains on its shard.
"""

from __future__ import annotations

import json
import os
import signal
import sys


class Terminated(RuntimeError):
    """This process was sent SIGTERM (torchrun stops the others so when one fails)."""


def _terminated(signum, frame):
    # raised where the process is, so the fit loop's handlers run and rank 0's MLflow run ends FAILED instead of
    # staying RUNNING, as it would if the default handler ended the process on the spot
    raise Terminated(f"stopped by signal {signal.Signals(signum).name}: torchrun ends every process when one of them fails")


def main(argv=None) -> int:
    import argparse

    import torch
    import torch.distributed as dist

    p = argparse.ArgumentParser(prog="python -m mlaas_kernel.train._ddp")
    p.add_argument("dataset")
    p.add_argument("--options", required=True, help="JSON keyword arguments of train_dataset (or, with \"model\": \"embedding\", of train_embedding)")
    args = p.parse_args(argv)
    options = json.loads(args.options)
    cuda = torch.cuda.is_available() and options.get("device", "auto") != "cpu"
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if cuda:
        torch.cuda.set_device(local_rank)
        options["device"] = f"cuda:{local_rank}"
    else:
        options["device"] = "cpu"
        # each process gets its share of the cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", 1))))
    signal.signal(signal.SIGTERM, _terminated)
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        from ._embedding_run import train_embedding
        from ._run import train_dataset

        train = train_embedding if options.pop("model", "cnn") == "embedding" else train_dataset
        result = train(args.dataset, **options)
        if dist.get_rank() == 0:
            print("MLAAS_RESULT " + json.dumps({"run_id": result.run_id, "metrics": result.metrics,
                                                "model_path": str(result.model_path), "stopped": result.stopped,
                                                "notes": result.notes}), flush=True)
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
