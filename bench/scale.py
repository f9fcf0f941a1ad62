"""Scale run: many ModelReleases progressing at once on kwok nodes, with one operator.

Starts the local control plane (tests/controlplane: etcd, kube-apiserver,
controller-manager, scheduler, kwok nodes sized for the run), installs the CRDs and RBAC,
runs the operator as a process under its ServiceAccount (tests/integration/
running_operator.py), a real Prometheus, and creates N releases that all roll v2 out
through the same stages (tests/integration/scale.py says how they pass without serving
traffic). Measures, until every release has ended:

- decision latency per stage end: `status.window.startedAt` + the stage's duration →
  the Deployments show the next stage's replica split (after the last stage: phase
  Succeeded visible), as tests/e2e_local/scenario.py defines it; p50/p99 over all
  releases and stages, split into "decided" (the status shows the next stage) and the
  rest (the candidate's new pods ready, then the stable scaled down);
- the operator's CPU (utime + stime from /proc over the run → cores) and peak RSS (VmHWM);
- API requests per second made by the operator: the API server's
  `apiserver_flowcontrol_dispatched_requests_total` of a FlowSchema that matches only
  the operator's ServiceAccount;
- how many releases Succeeded, and how long the run took.

Prints a table and the goal checks (p99 ≤ 2 s, under one core, under 512 MiB); the exit
code is 0 even when a goal is missed (1 only when the run itself failed). See
bench/README.md.

    .venv/bin/python bench/scale.py --releases 500 --stages 4 --stage-seconds 20
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import kubernetes  # noqa: E402

from tests.controlplane import binaries  # noqa: E402
from tests.controlplane.cluster import ControlPlane  # noqa: E402
from tests.controlplane.nodes import SimulatedNode  # noqa: E402
from tests.integration import scale, scale_measure  # noqa: E402
from tests.integration.install import install  # noqa: E402
from tests.integration.running_operator import (  # noqa: E402
    OperatorProcess,
    service_account_kubeconfig,
    wait_owner_kinds_resolvable,
)

GOAL_P99_SECONDS = 2.0
GOAL_CORES = 1.0
GOAL_RSS_BYTES = 512 * 2**20
PODS_PER_NODE = 1000
MiB = 2**20


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", type=int, default=500, help="releases (default 500)")
    parser.add_argument("--stages", type=int, default=4, help="stages per release (default 4)")
    parser.add_argument(
        "--stage-seconds", type=float, default=20.0, help="each stage's duration (default 20)"
    )
    parser.add_argument("--replicas", type=int, default=4, help="serving.replicas (default 4)")
    parser.add_argument(
        "--interval", default="1s", help="analysis.interval of every release (default 1s)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=8,
        help="MODELRELEASE_RELEASE_WORKERS of the operator (default 8, the operator's)",
    )
    parser.add_argument(
        "--namespaces", type=int, default=0, help="spread over this many (default N/50, ≥ 1)"
    )
    parser.add_argument(
        "--operator-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="more environment for the operator (repeatable)",
    )
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="give up after this many seconds"
    )
    parser.add_argument(
        "--controller-qps",
        type=int,
        default=0,
        help="kube-controller-manager --kube-api-qps (default: its own, 20 a second)",
    )
    parser.add_argument("--workdir", type=Path, help="keep the cluster's and operator's files")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--sample-stacks",
        action="store_true",
        help="sample the operator's thread stacks (bench/stacksampler) into "
        "WORKDIR/operator/stacks.json and print where its threads spend their time",
    )
    return parser.parse_args(argv)


def simulated_nodes(releases: int, replicas: int) -> list[SimulatedNode]:
    """Enough kwok nodes for every release's pods at their peak (both versions full)."""
    count = max(2, math.ceil(releases * replicas * 2 / PODS_PER_NODE))
    return [
        SimulatedNode(f"scale-node-{i + 1}", cpu="1000", memory="4Ti", pods=str(PODS_PER_NODE))
        for i in range(count)
    ]


def make_namespaces(api: kubernetes.client.ApiClient, count: int) -> list[str]:
    core = kubernetes.client.CoreV1Api(api)
    names = [f"scale-{i + 1:03d}" for i in range(count)]
    labels = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "warn", "audit")}
    for name in names:
        core.create_namespace({"metadata": {"name": name, "labels": labels}})
    deadline = time.monotonic() + 120
    for name in names:
        while not core.list_namespaced_service_account(
            name, field_selector="metadata.name=default"
        ).items:
            if time.monotonic() > deadline:
                raise TimeoutError(f"namespace {name} got no default ServiceAccount")
            time.sleep(0.2)
    return names


def fmt(value: float | None, unit: str = "s", digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}{unit}"


def operator_source() -> str:
    """git HEAD and a hash of the operator's sources as they are in the working tree (the
    operator runs from the working tree; the figures belong to this state)."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "operator" / "modelrelease_operator").rglob("*.py")):
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"HEAD {head or '?'}, operator/ sources sha256 {digest.hexdigest()[:12]}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    count = args.releases
    weights = scale.stage_weights(args.stages, args.replicas)
    namespaces_wanted = args.namespaces or max(1, count // 50)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="scale-"))
    if (workdir / "cluster").exists():
        raise SystemExit(f"{workdir} holds an earlier run's cluster: name a new --workdir")
    workdir.mkdir(parents=True, exist_ok=True)
    found = binaries.ensure()
    nodes = simulated_nodes(count, args.replicas)
    log(f"control plane with {len(nodes)} kwok nodes of {PODS_PER_NODE} pods in {workdir}")
    results: dict[str, Any] = {
        "releases": count,
        "stages": weights,
        "stage_seconds": args.stage_seconds,
        "replicas": args.replicas,
        "interval": args.interval,
        "workers": args.workers,
        "controller_qps": args.controller_qps or 20,
        "cpus": os.cpu_count(),
        "source": operator_source(),
    }
    with (
        scale.ScaleControlPlane(
            found.bin_dir, workdir / "cluster", nodes=nodes, controller_qps=args.controller_qps
        ) as cluster,
        cluster.api_client() as api,
        scale.SyntheticTraffic() as traffic,
    ):
        installed = install(api, REPO / "manifests")
        scale_measure.operator_flow_schema(api)
        config = service_account_kubeconfig(api, workdir / "operator.kubeconfig")
        crds = [d for d in installed if d["kind"] == "CustomResourceDefinition"]
        wait_owner_kinds_resolvable(config, crds)
        prometheus = scale.scale_prometheus(workdir / "prometheus", traffic.address)
        namespaces = make_namespaces(api, namespaces_wanted)
        keys = [(namespaces[i % len(namespaces)], f"release-{i + 1:04d}") for i in range(count)]
        traffic.add(keys)
        env = {"MODELRELEASE_RELEASE_WORKERS": str(args.workers)}
        if args.sample_stacks:
            env["PYTHONPATH"] = str(REPO / "bench" / "stacksampler")
            env["MODELRELEASE_STACK_SAMPLES"] = str(workdir / "operator" / "stacks.json")
            env["MODELRELEASE_STACK_OBJECTS"] = "120"
        env.update(dict(item.split("=", 1) for item in args.operator_env))
        operator = OperatorProcess(config, workdir / "operator", env=env)
        (workdir / "operator").mkdir(exist_ok=True)
        operator.start()
        log(f"operator up; log {operator.log}")
        try:
            results.update(
                measure(args, api, cluster, operator, prometheus, keys, weights, traffic)
            )
        finally:
            operator.stop()
            prometheus.stop()
    results["workdir"] = str(workdir)
    return results


def measure(
    args: argparse.Namespace,
    api: kubernetes.client.ApiClient,
    cluster: ControlPlane,
    operator: OperatorProcess,
    prometheus: scale.ScalePrometheus,
    keys: list[tuple[str, str]],
    weights: list[int],
    traffic: scale.SyntheticTraffic,
) -> dict[str, Any]:
    assert operator.process is not None and prometheus.process is not None
    meters = {
        "operator": scale_measure.ProcessMeter(operator.process.pid),
        "bench (watches, exporter)": scale_measure.ProcessMeter(os.getpid()),
        "prometheus": scale_measure.ProcessMeter(prometheus.process.pid),
        **{name: scale_measure.ProcessMeter(p.pid) for name, p in cluster.processes.items()},
    }
    counters = scale_measure.ApiServerCounters(api)
    manifest = scale.release_manifest(
        "template",
        prometheus_url=prometheus.url,
        weights=weights,
        stage_seconds=args.stage_seconds,
        replicas=args.replicas,
        interval=args.interval,
    )
    spec = manifest["spec"]

    def named(name: str) -> dict[str, Any]:
        return {**manifest, "metadata": {"name": name}}

    with scale_measure.ClusterWatch(api) as watch:
        before = counters.read()
        operator_before = scale_measure.operator_metric_sums(operator.metrics_port)
        for meter in meters.values():
            meter.sample()
        started = time.time()
        began = time.monotonic()
        machine_before = scale_measure.machine_busy_seconds()
        load_before = os.getloadavg()[0]
        creating = scale.create_releases(api, keys, lambda key: named(key))
        log(f"created {len(keys)} releases in {creating:.1f}s")
        rates: list[tuple[float, float]] = [(time.monotonic(), flows(before))]
        last_report = time.monotonic()
        finished = False
        while time.monotonic() - began < args.timeout:
            time.sleep(1.0)
            watch.check()
            cluster.check_running()
            if not operator.alive():
                raise RuntimeError(f"the operator exited; its log ends:\n{operator.tail()}")
            for name, meter in meters.items():
                meter.sample(rss=name == "operator")
            done = watch.done(keys)
            if time.monotonic() - last_report >= 10:
                last_report = time.monotonic()
                rates.append((last_report, flows(counters.read())))
                phases = ", ".join(f"{k} {v}" for k, v in sorted(watch.phases(keys).items()))
                recent = max(0, len(meters["operator"].samples) - 11)
                log(
                    f"{time.monotonic() - began:5.0f}s: {done}/{len(keys)} done ({phases}); "
                    f"operator {meters['operator'].cores(recent):.2f} cores; "
                    f"{watch.events} watch events"
                )
            if done == len(keys):
                finished = True
                break
        elapsed = time.monotonic() - began
        machine_cores = (scale_measure.machine_busy_seconds() - machine_before) / elapsed
        after = counters.read()
        operator_after = scale_measure.operator_metric_sums(operator.metrics_port)
        rates.append((time.monotonic(), flows(after)))
        rss = meters["operator"].peak_rss_bytes()

    ends = []
    for key in keys:
        track = watch.tracks.get(key)
        if track is not None:
            ends.extend(scale_measure.stage_ends(track, key, spec))
    latencies = [e.latency for e in ends if e.latency is not None]
    decide = [e.decide_seconds for e in ends if e.decide_seconds is not None]
    apply = [
        e.applied - e.decided
        for e in ends
        if e.applied is not None and e.decided is not None and not e.what.endswith("promoted")
    ]
    scaled = [e.scaled - e.decided for e in ends if e.scaled is not None and e.decided]
    pods_ready = [e.ready - e.scaled for e in ends if e.ready is not None and e.scaled]
    weight_moved = [e.applied - e.ready for e in ends if e.ready is not None and e.applied]
    gaps = []
    for key in keys:
        track = watch.tracks.get(key)
        if track is not None:
            gaps += [b - a for a, b in zip(track.checks, track.checks[1:], strict=False)]
    completion = [
        watch.tracks[k].phases["Succeeded"] - started
        for k in keys
        if k in watch.tracks and watch.tracks[k].done and "Succeeded" in watch.tracks[k].phases
    ]
    operator_requests = after["flows"][(scale.FLOW_SCHEMA,)] - before["flows"][(scale.FLOW_SCHEMA,)]
    all_requests = sum(after["requests"].values()) - sum(before["requests"].values())
    by_verb: Counter[str] = Counter()
    for (verb, resource), value in after["requests"].items():
        delta = value - before["requests"].get((verb, resource), 0.0)
        if delta > 0:
            by_verb[f"{verb} {resource}"] += delta
    peak_rate = max(
        ((b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(rates)),
        default=math.nan,
    )
    reconciles = operator_after.get(
        "modelrelease_operator_reconcile_seconds_count", 0.0
    ) - operator_before.get("modelrelease_operator_reconcile_seconds_count", 0.0)
    reconcile_seconds = operator_after.get(
        "modelrelease_operator_reconcile_seconds_sum", 0.0
    ) - operator_before.get("modelrelease_operator_reconcile_seconds_sum", 0.0)
    log_text = operator.text()

    def timing(name: str) -> float:
        key = (name, scale.FLOW_SCHEMA)
        return after["timing"].get(key, 0.0) - before["timing"].get(key, 0.0)

    executed = timing("apiserver_flowcontrol_request_execution_seconds_count")
    waited = timing("apiserver_flowcontrol_request_wait_duration_seconds_count")
    return {
        "finished": finished,
        "seconds": elapsed,
        "create_seconds": creating,
        "phases": dict(watch.phases(keys)),
        "succeeded": watch.done(keys),
        "completion_p50": scale_measure.percentile(completion, 50),
        "completion_max": max(completion, default=math.nan),
        "stage_ends": len(ends),
        "stage_ends_unapplied": sum(1 for e in ends if e.applied is None),
        "latency_p50": scale_measure.percentile(latencies, 50),
        "latency_p99": scale_measure.percentile(latencies, 99),
        "latency_max": max(latencies, default=math.nan),
        "decide_p50": scale_measure.percentile(decide, 50),
        "decide_p99": scale_measure.percentile(decide, 99),
        "apply_p50": scale_measure.percentile(apply, 50),
        "apply_p99": scale_measure.percentile(apply, 99),
        "scaled_p50": scale_measure.percentile(scaled, 50),
        "scaled_p99": scale_measure.percentile(scaled, 99),
        "pods_ready_p50": scale_measure.percentile(pods_ready, 50),
        "pods_ready_p99": scale_measure.percentile(pods_ready, 99),
        "weight_moved_p50": scale_measure.percentile(weight_moved, 50),
        "weight_moved_p99": scale_measure.percentile(weight_moved, 99),
        "check_gap_p50": scale_measure.percentile(gaps, 50),
        "check_gap_p99": scale_measure.percentile(gaps, 99),
        "operator_cores": meters["operator"].cores(),
        "operator_peak_cores_10s": meters["operator"].peak_cores(),
        "operator_cpu_seconds": meters["operator"].samples[-1][1]
        - meters["operator"].samples[0][1],
        "operator_peak_rss_bytes": rss,
        "operator_rss_mib_by_minute": [
            round(b / MiB)
            for i, (t, b) in enumerate(meters["operator"].rss)
            if i % 60 == 0 or i == len(meters["operator"].rss) - 1
        ],
        "operator_requests_per_second": operator_requests / elapsed,
        "operator_requests_peak_10s": peak_rate,
        "all_requests_per_second": all_requests / elapsed,
        "operator_request_server_ms": 1000
        * timing("apiserver_flowcontrol_request_execution_seconds_sum")
        / executed
        if executed
        else math.nan,
        "operator_request_queue_ms": 1000
        * timing("apiserver_flowcontrol_request_wait_duration_seconds_sum")
        / waited
        if waited
        else math.nan,
        "requests_by_verb_per_second": {
            k: round(v / elapsed, 2) for k, v in by_verb.most_common(25)
        },
        "requests_by_flow_schema_per_second": {
            k[0]: round((v - before["flows"].get(k, 0.0)) / elapsed, 2)
            for k, v in after["flows"].most_common()
            if v - before["flows"].get(k, 0.0) > 0
        },
        "reconciles_per_second": reconciles / elapsed,
        "reconcile_mean_seconds": reconcile_seconds / reconciles if reconciles else math.nan,
        "process_cores": {name: round(m.cores(), 3) for name, m in meters.items()},
        "machine_cores": machine_cores,
        "other_cores": machine_cores - sum(m.cores() for m in meters.values()),
        "load_average": [load_before, os.getloadavg()[0]],
        "watch_events": watch.events,
        "operator_log_reconcile_failed": log_text.count("reconcile failed"),
        "operator_log_warnings": sum(
            1 for line in log_text.splitlines() if "WARNING" in line or "ERROR" in line
        ),
        "operator_log": str(operator.log),
    }


def flows(read: dict[str, Counter[tuple[str, ...]]]) -> float:
    return read["flows"][(scale.FLOW_SCHEMA,)]


def report(results: dict[str, Any]) -> list[str]:
    r = results
    phases = ", ".join(f"{k} {v}" for k, v in sorted(r["phases"].items()))
    stages = "/".join(str(w) for w in r["stages"])
    cores = ", ".join(f"{k} {v:.2f}" for k, v in r["process_cores"].items())
    verbs = ", ".join(
        f"{k} {v:.1f}" for k, v in list(r["requests_by_verb_per_second"].items())[:16]
    )
    flows = ", ".join(f"{k} {v:.1f}" for k, v in r["requests_by_flow_schema_per_second"].items())
    rows = [
        ("releases", f"{r['releases']}, stages {stages} % of {r['stage_seconds']:g}s, "
         f"replicas {r['replicas']}, interval {r['interval']}, "
         f"MODELRELEASE_RELEASE_WORKERS {r['workers']}, controller-manager QPS "
         f"{r['controller_qps']}, {r['cpus']} CPUs"),
        ("operator", r["source"]),
        ("succeeded", f"{r['succeeded']}/{r['releases']} ({phases})"
         + ("" if r["finished"] else " — TIMED OUT")),
        ("run", f"{r['seconds']:.0f}s from the first create to the last promotion "
         f"(creating took {r['create_seconds']:.1f}s; a release took p50 "
         f"{fmt(r['completion_p50'], 's', 0)}, the last {fmt(r['completion_max'], 's', 0)})"),
        ("decision latency", f"p50 {fmt(r['latency_p50'])}, p99 {fmt(r['latency_p99'])}, "
         f"max {fmt(r['latency_max'])} over {r['stage_ends']} stage ends "
         f"({r['stage_ends_unapplied']} never applied)"),
        ("  of which decided", f"p50 {fmt(r['decide_p50'])}, p99 {fmt(r['decide_p99'])} "
         "(stage end → status shows the next stage)"),
        ("  then applied", f"p50 {fmt(r['apply_p50'])}, p99 {fmt(r['apply_p99'])} "
         "(→ new candidate pods ready and the stable scaled down)"),
        ("    scaled", f"p50 {fmt(r['scaled_p50'])}, p99 {fmt(r['scaled_p99'])} "
         "(→ the candidate's Deployment asks for the new stage's pods)"),
        ("    pods ready", f"p50 {fmt(r['pods_ready_p50'])}, p99 {fmt(r['pods_ready_p99'])} "
         "(→ the Deployment reports them ready: controllers, scheduler, kwok)"),
        ("    weight moved", f"p50 {fmt(r['weight_moved_p50'])}, "
         f"p99 {fmt(r['weight_moved_p99'])} (→ the operator saw it and scaled the stable down)"),
        ("checks", f"every p50 {fmt(r['check_gap_p50'])}, p99 {fmt(r['check_gap_p99'])} "
         f"per release (interval {r['interval']})"),
        ("operator CPU", f"{r['operator_cores']:.2f} cores mean, "
         f"{r['operator_peak_cores_10s']:.2f} peak over 10 s "
         f"({r['operator_cpu_seconds']:.0f} CPU-s)"),
        ("operator peak RSS", f"{r['operator_peak_rss_bytes'] / MiB:.0f} MiB; RSS each minute "
         f"(MiB): {' '.join(str(x) for x in r['operator_rss_mib_by_minute'])}"),
        ("operator API requests", f"{r['operator_requests_per_second']:.1f}/s mean, "
         f"{fmt(r['operator_requests_peak_10s'], '/s', 1)} peak over 10 s "
         "(its FlowSchema's dispatched requests); in the API server "
         f"{fmt(r['operator_request_server_ms'], ' ms', 1)} each on average, after "
         f"{fmt(r['operator_request_queue_ms'], ' ms', 1)} in its queue"),
        ("all API requests", f"{r['all_requests_per_second']:.1f}/s; by verb: {verbs}"),
        ("  by FlowSchema", f"{flows} (kube-system-service-accounts: the controller-manager; "
         "exempt: kwok and this bench, as admins)"),
        ("reconciles", f"{r['reconciles_per_second']:.1f}/s, "
         f"mean {fmt(r['reconcile_mean_seconds'] * 1000, ' ms', 0)} each, "
         f"{r['operator_requests_per_second'] / r['reconciles_per_second']:.1f} API requests "
         "each (the operator's reconcile_seconds)"
         if r["reconciles_per_second"] else "none"),
        ("CPU by process", f"{cores} (cores)"),
        ("machine", f"{r['machine_cores']:.2f} of {r['cpus']} cores busy, "
         f"{r['other_cores']:.2f} of them by processes outside this run; load average "
         f"{r['load_average'][0]:.1f} at the start, {r['load_average'][1]:.1f} at the end"),
        ("operator log", f"{r['operator_log_reconcile_failed']} 'reconcile failed', "
         f"{r['operator_log_warnings']} warning/error lines: {r['operator_log']}"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    goals = [
        ("decision latency p99 ≤ 2 s", r["latency_p99"] <= GOAL_P99_SECONDS,
         fmt(r["latency_p99"])),
        ("operator CPU under one core", r["operator_cores"] < GOAL_CORES,
         f"{r['operator_cores']:.2f} cores"),
        ("operator peak RSS under 512 MiB", r["operator_peak_rss_bytes"] < GOAL_RSS_BYTES,
         f"{r['operator_peak_rss_bytes'] / MiB:.0f} MiB"),
        ("every release Succeeded", r["succeeded"] == r["releases"],
         f"{r['succeeded']}/{r['releases']}"),
    ]  # fmt: skip
    lines.append("")
    for name, met, value in goals:
        lines.append(f"goal {name}: {'met' if met else 'MISSED'} ({value})")
    return lines


def stack_report(path: Path, top: int = 25) -> list[str]:
    """Where the operator's threads were (bench/stacksampler): share of each thread
    group's samples, the busiest places first."""
    data = json.loads(path.read_text())
    totals = data["threads"]
    lines = ["", f"operator threads over {data['seconds']:.0f}s (wall-clock samples):"]
    lines += [f"  {name}: {n} samples" for name, n in sorted(totals.items(), key=lambda x: -x[1])]
    for entry in data.get("objects", []):
        lines.append(
            f"  at {entry['at']}s: {entry['objects']} objects, {entry['queued']} items in "
            f"{entry['queues']} asyncio queues (longest {entry['longest_queue']})"
        )
    lines.append("busiest places (share of the thread group's samples):")
    for entry in data["stacks"][:top]:
        share = entry["samples"] / totals[entry["thread"]]
        lines.append(
            f"  {100 * share:5.1f}%  {entry['thread']:<20} {entry['leaf']:<40} {entry['operator']}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results = run(args)
    except Exception as error:
        log(f"the run failed: {error!r}")
        raise
    for line in report(results):
        print(line)
    stacks = Path(results["workdir"]) / "operator" / "stacks.json"
    if args.sample_stacks and stacks.exists():
        for line in stack_report(stacks):
            print(line)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
