"""CPU time of one `Model.classify` inside the armhf root (docs/device.md, "32-bit armhf under qemu, by hand").

Wall-clock latency under qemu on a shared VM moves with the host's load; the CPU time
the emulated process spends per classification does not, so it is the number to compare.
Run inside a root kept by `scripts/armhf-test --keep`, with the venv first boot made:

    cp scripts/armhf-cputime.py build/device-test/root-armhf/root/
    systemd-nspawn -q --register=no --keep-unit -D build/device-test/root-armhf \\
        /opt/edge/venv/bin/python /root/armhf-cputime.py 1      # interpreter threads (the profile's: 2)
"""

import json
import resource
import sys
import time

from edge.model import Model

TEXTS = ["set an alarm for 7 am tomorrow", "what's the weather like", "what is my bank balance",
         "play some jazz", "how do you say thank you in french", "book a table for two at 8"]
N = 300

model = Model.load("/opt/edge/models/clinc150", threads=int(sys.argv[1]) if len(sys.argv) > 1 else 1)
for text in TEXTS:  # warm-up: the first calls allocate and translate
    model.classify([text])
c0, w0 = time.process_time(), time.perf_counter()
for i in range(N):
    model.classify([TEXTS[i % len(TEXTS)]])
c1, w1 = time.process_time(), time.perf_counter()
print(json.dumps({"threads": int(sys.argv[1]) if len(sys.argv) > 1 else 1,
                  "cpu_ms_per_classify": round((c1 - c0) * 1000 / N, 2),
                  "wall_ms_per_classify": round((w1 - w0) * 1000 / N, 2),
                  "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
