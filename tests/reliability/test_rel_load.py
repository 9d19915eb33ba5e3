"""Load: many renders submitted at once through the SDK, all correct.

Reports the wall time of N concurrent renders against one render × N, and the
service's peak memory (the gunicorn master, its workers and every browser they
started), sampled from /proc. Every address involved is loopback, every wait is
bounded, and the number of Actions sent is checked against the plan.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

from tests.reliability.conftest import CHUNKS, CONFIG
from tests.reliability.rel_stack import RelStack, assert_render_correct, soak

RENDERS = 24 if soak() else 8
RENDER_TIMEOUT_S = 600 if soak() else 240
ACTIONS_PER_RENDER = 1 + CHUNKS + 1 + 1  # plan, chunks, assemble, notify


class TreeMemory:
    """Samples RSS and PSS summed over a process tree, every ``interval_s``.

    RSS counts pages shared between Chrome's processes once per process; PSS
    splits them, so it is the honest total (what the instance would need).
    """

    def __init__(self, stack: RelStack, interval_s: float = 0.2) -> None:
        self.peak_rss = self.peak_pss = 0
        self.peak_processes = 0
        self._cpu: dict[int, float] = {}  # pid → user+system seconds when last seen
        self._cpu_at_start: dict[int, float] = {}
        self._stack = stack
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval_s,), daemon=True)

    def __enter__(self) -> TreeMemory:
        self.sample()
        self._cpu_at_start = dict(self._cpu)
        self._thread.start()
        return self

    @property
    def cpu_s(self) -> float:
        """CPU seconds the tree used while sampled (a process's last 0.2 s may be missed)."""
        return sum(self._cpu.values()) - sum(self._cpu_at_start.values())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def sample(self) -> tuple[int, int, int]:
        rss = pss = count = 0
        for proc in self._stack.tree():
            with contextlib.suppress(psutil.Error, OSError, ValueError):
                rss += proc.memory_info().rss
                pss += _pss(proc.pid)
                times = proc.cpu_times()
                self._cpu[proc.pid] = times.user + times.system
                count += 1
        return rss, pss, count

    def _run(self, interval_s: float) -> None:
        while not self._stop.is_set():
            rss, pss, count = self.sample()
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_processes = max(self.peak_processes, count)
            self._stop.wait(interval_s)


def _cpu(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    with contextlib.suppress(psutil.Error):
        times = proc.cpu_times()
        return times.user + times.system
    return 0.0


def _fake_gcs_process(stack: RelStack) -> psutil.Process | None:
    """fake-gcs-server, found by the port on its command line."""
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if (
            any("fake-gcs" in part or "fake_gcs" in part for part in cmdline[:1])
            and str(stack.fake_gcs.port) in cmdline
        ):
            return proc
    return None


def _pss(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def _is_loopback(address: str) -> bool:
    host = urllib.parse.urlsplit(address if "//" in address else f"//{address}").hostname
    return host is not None and ipaddress.ip_address(host).is_loopback


def test_renders_submitted_at_once_all_complete_correctly(
    stack: RelStack, project: Path, reference: list[Any], tmp_path: Path, figures: dict
) -> None:
    target = stack.target
    for address in (
        target.service_url,
        target.executions_endpoint,
        target.storage_emulator_host,
        stack.service.url,
        stack.storage_proxy.upstream,
        stack.issuer.url,
    ):
        assert address and _is_loopback(address), address

    # Warm both workers (browser launched, site extracted) so "one render" is steady state.
    with ThreadPoolExecutor(2) as pool:
        warm = list(pool.map(lambda _: stack.start(project, CONFIG), range(2)))
        list(pool.map(lambda h: stack.wait(h, timeout_s=RENDER_TIMEOUT_S), warm))
    with TreeMemory(stack) as idle:
        time.sleep(0.5)
    stack.reset()
    started = time.monotonic()
    alone = stack.start(project, CONFIG)
    stack.wait(alone, timeout_s=RENDER_TIMEOUT_S)
    single_s = time.monotonic() - started
    assert_render_correct(stack, alone, reference, tmp_path, chunks=CHUNKS)

    stack.reset()
    here, storage = psutil.Process(), _fake_gcs_process(stack)
    cpu_before = _cpu(here), _cpu(storage)
    with TreeMemory(stack) as memory:
        started = time.monotonic()
        with ThreadPoolExecutor(RENDERS) as pool:
            handles = list(pool.map(lambda _: stack.start(project, CONFIG), range(RENDERS)))
            list(pool.map(lambda h: stack.wait(h, timeout_s=RENDER_TIMEOUT_S), handles))
        total_s = time.monotonic() - started
    harness_cpu_s = _cpu(here) - cpu_before[0]  # SDK pollers, emulator, proxies
    storage_cpu_s = _cpu(storage) - cpu_before[1]
    assert len({h.render_id for h in handles}) == RENDERS
    psnrs = [assert_render_correct(stack, h, reference, tmp_path, chunks=CHUNKS) for h in handles]
    sent = stack.service_proxy.exchanges()
    assert all(e.status == 200 for e in sent), [(e.kind, e.status) for e in sent if e.status != 200]
    assert len(sent) == RENDERS * ACTIONS_PER_RENDER  # no retries, nothing extra
    assert {e.name for e in sent} == {h.render_id for h in handles}
    figures["load"] = {
        "renders": RENDERS,
        "chunks_each": CHUNKS,
        "service_workers": len(stack.workers()),
        "one_render_s": round(single_s, 1),
        "one_render_times_n_s": round(single_s * RENDERS, 1),
        "all_at_once_s": round(total_s, 1),
        "speedup_vs_serial": round(single_s * RENDERS / total_s, 2),
        "actions_sent": len(sent),
        "min_psnr_db": min(psnrs),
        "idle_rss_mib": round(idle.peak_rss / 2**20),
        "idle_pss_mib": round(idle.peak_pss / 2**20),
        "machine_load_average_1m": round(os.getloadavg()[0], 1),
        "machine_cpus": os.cpu_count(),
        "peak_rss_mib": round(memory.peak_rss / 2**20),
        "peak_pss_mib": round(memory.peak_pss / 2**20),
        "peak_processes": memory.peak_processes,
        "service_cpu_s": round(memory.cpu_s, 1),
        "service_cpu_s_per_render": round(memory.cpu_s / RENDERS, 1),
        "service_cores_used_on_average": round(memory.cpu_s / total_s, 2),
        "harness_cpu_s": round(harness_cpu_s, 1),
        "storage_emulator_cpu_s": round(storage_cpu_s, 1),
        "stack_cores_used_on_average": round(
            (memory.cpu_s + harness_cpu_s + storage_cpu_s) / total_s, 2
        ),
        "all_correct": True,
    }
