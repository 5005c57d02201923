"""Searchers on ``nb201-hw``, one device (or one Panacea set of devices) at a time.

    .venv/bin/python benchmarks/nb201_devices.py --out benchmarks/results/nb201 \
        [--devices report|valid|panacea|NAME,...] [--seeds 20] [--budget 100]
        [--searchers random,nsga2,tpe,monas,monas-pareto] [-s NAME.KEY=VALUE ...] [--tag T]
        [--beside TAG,...]   # also show earlier runs (OUT/<setting>[-TAG].json) in the table

For each setting it runs ``dppnas bench compare --engine direct`` (objectives ``accuracy`` and
``latency/<device>``; Panacea: ``accuracy, latency/raspi4, latency/pixel3,
latency/titan_rtx_1``), writes ``OUT/<setting>[-<tag>].json`` (and the PNG) and skips settings
already written (resumable), then prints per setting the median [IQR] log10 hypervolume
regret at ``budget`` evaluations, and for MONAS and DPP-Net the evaluations its median regret needs to
reach TPE's at ``budget``. ``monas-pareto`` is MONAS with ``reward: pareto``; ``monas`` is
MONAS's own mixed reward; ``dpp`` is DPP-Net costing candidates with the few-shot latency
model (10 architectures measured per seed), ``dpp-oracle`` with the table's latency. HELP's device split: tune on ``valid``, report on ``report``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from dppnas.bench.compare import compare
from dppnas.bench.scoring import write_json_atomic

REPORT = ["titan_rtx_256", "gold_6226", "fpga", "pixel2", "raspi4", "eyeriss"]
VALID = ["titanx_1", "titanx_32", "titanx_256", "gold_6240"]
PANACEA = ["raspi4", "pixel3", "titan_rtx_1"]
#: searcher label -> (searcher name, options)
LABELS: dict[str, tuple[str, dict[str, Any]]] = {
    "random": ("random", {}),
    "nsga2": ("nsga2", {}),
    "tpe": ("tpe", {}),
    "monas": ("monas", {"reward": "mixed"}),
    "monas-pareto": ("monas", {"reward": "pareto"}),
    "dpp": ("dpp", {}),  # costs: the few-shot latency model (dppnas/bench/costs.py)
    "dpp-oracle": ("dpp", {"costs": "table"}),  # the table's exact latency: an oracle
}


def settings(which: str) -> dict[str, list[str]]:
    """Setting name -> objectives."""
    names = {"report": REPORT, "valid": VALID}.get(which)
    if which == "panacea":
        return {"panacea": ["accuracy", *(f"latency/{d}" for d in PANACEA)]}
    names = names or which.split(",")
    return {d: ["accuracy", f"latency/{d}"] for d in names}


def run_setting(
    name: str,
    objectives: list[str],
    labels: list[str],
    seeds: int,
    budget: int,
    extra: dict[str, dict[str, Any]],
    out: Path,
) -> dict[str, Any]:
    """One compare per label (MONAS twice: two rewards), merged into one results JSON."""
    if out.exists():
        return json.loads(out.read_text())
    merged: dict[str, Any] = {}
    for label in labels:
        searcher, options = LABELS[label]
        options = options | extra.get(label, {})
        summary = compare(
            "nb201-hw",
            [searcher],
            budget,
            seeds,
            out=None,
            log=lambda m: None,
            options={searcher: options},
            objectives=objectives,
            engine="direct",
        )
        result = summary.pop("results")[searcher]
        result["options"] = options
        merged = {**summary, "results": {**merged.get("results", {}), label: result}}
        print(f"  {name} {label}: done", flush=True)
    write_json_atomic(out, merged)
    from dppnas.bench.scoring import plot_curves

    plot_curves(merged, out.with_suffix(".png"))
    return merged


def beside(summary: dict[str, Any], out: Path, name: str, tags: str) -> dict[str, Any]:
    """``summary`` after earlier runs' searchers (``tags``: comma-separated, '' for the
    untagged run, oldest first); a label that a later run also has is suffixed with its
    run's tag ('before' for ''). Written to ``OUT/<setting>-merged.json`` and its PNG."""
    from dppnas.bench.scoring import plot_curves

    runs = []
    for tag in tags.split(","):
        path = out / f"{name}{'-' if tag else ''}{tag}.json"
        runs.append((tag, json.loads(path.read_text())["results"]))
    runs.append((None, summary["results"]))
    merged: dict[str, Any] = {}
    for i, (tag, results) in enumerate(runs):
        later = {label for _, r in runs[i + 1 :] for label in r}
        for label, r in results.items():
            merged[f"{label} ({tag or 'before'})" if label in later else label] = r
    summary = {**summary, "results": merged}
    write_json_atomic(out / f"{name}-merged.json", summary)
    plot_curves(summary, out / f"{name}-merged.png")
    return summary


def evals_to_reach(curve: list[list[float]], target: float) -> int | None:
    """First evaluation at which the median log regret is at or below ``target``."""
    return next((int(row[0]) for row in curve if row[2] <= target + 1e-12), None)


def report(results: dict[str, dict[str, Any]], budget: int) -> str:
    """A markdown table: median [IQR] log10 HV regret at ``budget`` per setting x searcher."""
    labels = list(next(iter(results.values()))["results"])
    head = "| setting | " + " | ".join(labels) + " | evals to TPE's regret |"
    lines = [head, "|" + "---|" * (len(labels) + 2)]
    for name, summary in results.items():
        cells = []
        for label in labels:
            q1, med, q3 = np.percentile(summary["results"][label]["log_hv_regret"], [25, 50, 75])
            cells.append(f"{med:.3f} [{q1:.3f}, {q3:.3f}]")
        tpe = summary["results"].get("tpe")
        reach = []
        if tpe is not None:
            target = float(np.median(tpe["log_hv_regret"]))
            for label in labels:
                if label.startswith(("monas", "dpp")):
                    n = evals_to_reach(summary["results"][label]["log_hv_regret_curve"], target)
                    reach.append(f"{label}: {'-' if n is None else n}")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {', '.join(reach)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--devices", default="report")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--searchers", default=",".join(LABELS))
    parser.add_argument("-s", "--searcher-option", action="append", default=[])
    parser.add_argument("--tag", default="")
    parser.add_argument(
        "--beside",
        metavar="TAG",
        help="also show earlier runs (OUT/<setting>[-TAG].json; comma-separated, '' for "
        "untagged, oldest first); a searcher a later run also has is labelled 'NAME (TAG)'",
    )
    args = parser.parse_args()
    extra: dict[str, dict[str, Any]] = {}
    for pair in args.searcher_option:
        label, _, rest = pair.partition(".")
        key, _, value = rest.partition("=")
        extra.setdefault(label, {})[key] = yaml.safe_load(value)
    labels = args.searchers.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, objectives in settings(args.devices).items():
        suffix = f"-{args.tag}" if args.tag else ""
        path = args.out / f"{name}{suffix}.json"
        print(f"{name}: {objectives}", flush=True)
        results[name] = run_setting(name, objectives, labels, args.seeds, args.budget, extra, path)
        if args.beside is not None:
            results[name] = beside(results[name], args.out, name, args.beside)
    print(report(results, args.budget))


if __name__ == "__main__":
    main()
