"""Serving benchmark: modelrelease-server vs MLServer (XGBoost runtime) vs in-process XGBoost.

Same machine, same model (the trainer's loan-default artifact), same load generator (wrk with
one Lua script), same CPU budget (each server pinned to one core with one worker, wrk on
another). Prints RPS and p50/p99 latency at several concurrencies for 1- and 64-record
V2 requests, and the ratios ours/MLServer and ours/ceiling. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "bench"
BENCH_VENV = REPO / ".cache" / "bench-venv"
MODEL = "loan-default"
VERSION = "v1"
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("{body}", "rb"):read("*a")
function done(summary, latency, requests)
  io.write(string.format(
    '{{"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def artifact() -> Path:
    """The trainer's loan-default artifact, trained once and cached."""
    folder = CACHE / "artifact"
    if (folder / "model.ubj").exists():
        return folder
    CACHE.mkdir(parents=True, exist_ok=True)
    config = {
        "modelName": MODEL,
        "version": VERSION,
        "task": "binary",
        "dataset": {"uri": "builtin:loan-default?rows=8000&seed=7", "labelColumn": "default"},
        "hyperparameters": {},
        "output": {"path": str(folder)},
        "terminationMessagePath": str(CACHE / "termination-log"),
    }
    (CACHE / "train.json").write_text(json.dumps(config))
    subprocess.run(
        [sys.executable, "-m", "modelrelease_trainer", "--config", str(CACHE / "train.json")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return folder


def mlserver_python() -> Path:
    """A venv for MLServer: its pins (starlette, fastapi) clash with the project's.

    It sees the project venv's packages (xgboost, numpy) through a .pth file placed after its
    own site-packages, so only MLServer and the versions it pins are installed there; uvloop
    is held below 0.22, whose get_event_loop() breaks MLServer's inference-pool workers.
    """
    python = BENCH_VENV / "bin" / "python"
    if (
        python.exists()
        and subprocess.run(
            [python, "-c", "import mlserver_xgboost"], capture_output=True
        ).returncode
        == 0
    ):
        return python
    subprocess.run([sys.executable, "-m", "venv", BENCH_VENV], check=True)
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "zz_project_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "mlserver>=1.6",
            "mlserver-xgboost>=1.6",
            "uvloop<0.22",
        ],
        check=True,
    )
    return python


def bodies(folder: Path, rows: int) -> bytes:
    """A V2 request of `rows` plausible records drawn from the reference distributions."""
    import numpy as np

    card = json.loads((folder / "model-card.json").read_text())
    reference = json.loads((folder / "reference.json").read_text())["features"]
    rng = np.random.default_rng(7)
    columns = []
    for feature in card["features"]:
        if feature["type"] == "categorical":
            columns.append(rng.integers(0, len(feature["categories"]), rows).astype(float))
        else:
            edges = reference[feature["name"]]["edges"]
            columns.append(rng.uniform(edges[0], edges[-1], rows))
    data = np.round(np.column_stack(columns), 4).tolist()
    width = len(card["features"])
    payload = {
        "inputs": [{"name": "input-0", "shape": [rows, width], "datatype": "FP32", "data": data}]
    }
    return json.dumps(payload).encode()


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def start_ours(folder: Path, port: int, core: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MODELRELEASE_SERVER_ARTIFACT": str(folder)}
    command = [
        "taskset", "-c", core, str(Path(sys.executable).parent / "modelrelease-server"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "warning",
    ]  # fmt: skip
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def start_mlserver(folder: Path, port: int, core: str, workers: int) -> subprocess.Popen[bytes]:
    """MLServer as its docs set it up: a model folder with model-settings.json, `mlserver start`."""
    python = mlserver_python()
    root = Path(tempfile.mkdtemp(prefix="mlserver-", dir=CACHE))
    model_dir = root / MODEL
    model_dir.mkdir()
    shutil.copy(folder / "model.ubj", model_dir / "model.ubj")
    (model_dir / "model-settings.json").write_text(
        json.dumps(
            {
                "name": MODEL,
                "implementation": "mlserver_xgboost.XGBoostModel",
                "parameters": {"uri": "./model.ubj", "version": VERSION},
            }
        )
    )
    (root / "settings.json").write_text(
        json.dumps(
            {
                "http_port": port,
                "grpc_port": free_port(),
                "metrics_port": free_port(),
                "parallel_workers": workers,
                "host": "127.0.0.1",
            }
        )
    )
    mlserver = python.parent / "mlserver"
    return subprocess.Popen(
        ["taskset", "-c", core, str(mlserver), "start", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=root,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's whole process group (MLServer has worker children); then KILL."""
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=grace)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def wrk(url: str, body_file: Path, connections: int, seconds: float, core: str) -> dict[str, Any]:
    script = body_file.with_suffix(".lua")
    script.write_text(LUA.format(body=body_file))
    command = [
        "taskset", "-c", core, "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "5s", "-s", str(script), url,
    ]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return {
        "rps": result["requests"] / (result["duration_us"] / 1e6),
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "errors": result["errors"],
    }


def ceiling(folder: Path, rows: int, seconds: float, core: str) -> dict[str, Any]:
    """In-process inplace_predict on one pinned core, no HTTP: the upper bound."""
    code = f"""
import json, time, numpy as np, xgboost as xgb
b = xgb.Booster(); b.load_model({str(folder / "model.ubj")!r}); b.set_param({{"nthread": 1}})
body = json.loads(open({str(CACHE / f"body-{rows}.json")!r}).read())
x = np.asarray(body["inputs"][0]["data"], dtype=np.float32)
times = []
end = time.perf_counter() + {seconds}
while time.perf_counter() < end:
    t = time.perf_counter(); b.inplace_predict(x); times.append(time.perf_counter() - t)
times.sort()
print(json.dumps({{"rps": len(times) / sum(times), "p50_ms": times[len(times) // 2] * 1e3,
                  "p99_ms": times[int(len(times) * 0.99)] * 1e3, "errors": 0}}))
"""
    out = subprocess.run(
        ["taskset", "-c", core, sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def measure(name: str, url: str, args: argparse.Namespace, results: dict[str, Any]) -> None:
    for rows in args.rows:
        body = CACHE / f"body-{rows}.json"
        wrk(url, body, 4, 1.0, args.load_core)  # warm-up
        for connections in args.concurrency:
            runs = [
                wrk(url, body, connections, args.seconds, args.load_core)
                for _ in range(args.repeats)
            ]
            results[f"{name}/{rows}/{connections}"] = cell = median(runs)
            print(f"  {name:9} rows={rows:<3} c={connections:<3} {fmt(cell)}", flush=True)


def fmt(cell: dict[str, Any]) -> str:
    errors = f" errors={cell['errors']:.0f}" if cell["errors"] else ""
    latency = f"p50 {cell['p50_ms']:7.2f} ms  p99 {cell['p99_ms']:7.2f} ms"
    return f"{cell['rps']:9.0f} rps  {latency}{errors}"


def table(results: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        "| rows | conc | ours rps | ours p50/p99 ms | MLServer rps | MLServer p50/p99 ms "
        "| ceiling rps | ours/MLServer rps | ours/MLServer p99 | ours/ceiling rps |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows in args.rows:
        top = results.get(f"ceiling/{rows}")
        for c in args.concurrency:
            ours = results.get(f"ours/{rows}/{c}")
            peer = results.get(f"mlserver/{rows}/{c}")
            if ours is None:
                continue
            row = [
                str(rows),
                str(c),
                f"{ours['rps']:.0f}",
                f"{ours['p50_ms']:.2f}/{ours['p99_ms']:.2f}",
            ]
            if peer:
                row += [
                    f"{peer['rps']:.0f}",
                    f"{peer['p50_ms']:.2f}/{peer['p99_ms']:.2f}",
                ]
            else:
                row += ["-", "-"]
            row.append(f"{top['rps']:.0f}" if top else "-")
            row.append(f"{ours['rps'] / peer['rps']:.2f}x" if peer else "-")
            row.append(f"{ours['p99_ms'] / peer['p99_ms']:.2f}x" if peer else "-")
            row.append(f"{ours['rps'] / top['rps']:.2f}x" if top else "-")
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="median of this many runs")
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--server-core", default="1", help="taskset CPU list for servers")
    parser.add_argument("--load-core", default="0", help="taskset CPU list for wrk")
    parser.add_argument("--mlserver-workers", type=int, default=1,
                        help="MLServer parallel_workers (its default is 1)")  # fmt: skip
    parser.add_argument("--skip-mlserver", action="store_true")
    args = parser.parse_args()
    # Exit through the finally blocks, so that no server outlives the benchmark.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install -y wrk", file=sys.stderr)
        return 2
    folder = artifact()
    for stale in CACHE.glob("mlserver-*"):  # model folders of earlier runs
        shutil.rmtree(stale, ignore_errors=True)
    for rows in args.rows:
        (CACHE / f"body-{rows}.json").write_bytes(bodies(folder, rows))
    results: dict[str, Any] = {}
    servers: list[tuple[str, Any]] = [("ours", start_ours)]
    if not args.skip_mlserver:
        servers.append(("mlserver", lambda f, p, c: start_mlserver(f, p, c, args.mlserver_workers)))
    for name, start in servers:
        port = free_port()
        process = start(folder, port, args.server_core)
        try:
            wait_ready(f"http://127.0.0.1:{port}/v2/models/{MODEL}/ready", process)
            print(f"{name}: ready on port {port}", flush=True)
            measure(name, f"http://127.0.0.1:{port}/v2/models/{MODEL}/infer", args, results)
        finally:
            stop(process)
    for rows in args.rows:
        results[f"ceiling/{rows}"] = cell = ceiling(folder, rows, args.seconds, args.server_core)
        print(f"  ceiling   rows={rows:<3}       {fmt(cell)}", flush=True)
    (CACHE / "results.json").write_text(json.dumps(results, indent=2))
    print()
    print(table(results, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
