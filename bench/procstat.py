"""Process and machine figures read from /proc (Linux), for the benchmarks."""

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(stat_path):
    """(own, reaped children's) CPU seconds of a process or thread, from its
    stat file (/proc/PID/stat, /proc/PID/task/TID/stat)."""
    fields = Path(stat_path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK, (int(fields[13]) + int(fields[14])) / TICK


def cpu_seconds(pid):
    """user + system CPU of a process (all its threads), in seconds."""
    return proc_cpu(f"/proc/{pid}/stat")[0]


def machine_cpu():
    """(busy, interrupts, total) CPU seconds of the machine since boot, all
    cores (/proc/stat). Interrupts: the kernel's network work, which no
    process is charged for."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICK, (values[5] + values[6]) / TICK, sum(values) / TICK


def status_bytes(pid, field):
    """A /proc/PID/status memory figure (VmRSS, VmHWM...) of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def load():
    return "load " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
