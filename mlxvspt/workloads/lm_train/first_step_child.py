"""The child process of first_step: `python -m mlxvspt.workloads.lm_train.first_step_child REQUEST_JSON`
builds the request's runner through spec, times its first step, prints {"seconds", "ran"}.

Apart from first_step (which only launches it) so that spec -> first_step and this -> spec make no cycle.
"""
import json
import sys
import time

from ...measure.devices import Target
from . import spec


def main(request):
    runner = spec.build(Target(request["framework"], request["device"], request["precision"]).activate(),
                        request["sizes"])
    start = time.perf_counter()
    runner.step()
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "ran": runner.ran()}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
