"""``report.md`` and ``report.html`` (with plots) from ``results.json`` — no engine or judge needed."""
from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any, Sequence

from casenotes.eval.run import SUMMARY_METRICS

#: What each metric means, for the report's legend.
METRIC_HELP = {
    "rouge1": "ROUGE-1 F1 x100, mean over references (rouge-score, stemming)",
    "rouge2": "ROUGE-2 F1 x100, mean over references",
    "rougeL": "ROUGE-L F1 x100, mean over references",
    "rougeL_max": "ROUGE-L F1 x100, best reference",
    "bertscore_f1": "BERTScore F1 x100 (local encoder, see below)",
    "judge_overall": "LLM judge: mean of completeness and truthfulness (0-1)",
    "judge_completeness": "LLM judge: issue / commitment / solution present, of those applicable (0-1)",
    "judge_truthfulness": "LLM judge: 1 - share of the 5 error types found (0-1)",
    "words": "words of notes per case",
    "bullets": "bullets per case",
    "compression": "token-reduction ratio: note words / conversation words",
    "no_notes": "share of cases with no notes at all",
    "ungrounded": "numbers/amounts/dates/codes in the notes not found in the conversation, per case",
    "handles": "@handles leaked into the notes, per case",
    "urls": "URLs leaked into the notes, per case",
    "signatures": "agent signatures (^LD, /JI) leaked into the notes, per case",
    "engine_calls": "engine calls per case (cost)",
    "prompt_tokens": "LLM prompt tokens per case (cost; estimated at ~3 chars/token without a tokenizer)",
    "dropped": "proposals dropped by the relevance classifier, per case",
}
PLOTTED = ("rougeL", "bertscore_f1", "judge_overall", "words", "ungrounded")


def _fmt(v: float | None, digits: int = 3) -> str:
    if v is None or v != v:
        return "–"
    return f"{v:.1f}" if abs(v) >= 10 else f"{v:.{digits}f}"


def _cell(stat: dict[str, float]) -> str:
    return f"{_fmt(stat['mean'])} [{_fmt(stat['low'])}, {_fmt(stat['high'])}]"


def _present(summary: dict, metrics: Sequence[str]) -> list[str]:
    return [k for k in metrics if any(k in row for row in summary.values())]


def summary_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    summary = results["summary"]
    keys = _present(summary, SUMMARY_METRICS)
    rows = [[name] + [_cell(row[k]) if k in row else "–" for k in keys] for name, row in summary.items()]
    return ["system"] + keys, rows


def comparison_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["system", "metric", f"mean diff vs {results['meta']['reference_system']}", "95% CI (bootstrap)",
            "paired t", "p"]
    rows = [[c["system"], c["metric"], _fmt(c["mean_diff"]), f"[{_fmt(c['ci_low'])}, {_fmt(c['ci_high'])}]",
             _fmt(c["t"], 2), "–" if c["p"] != c["p"] else f"{c['p']:.2g}"] for c in results["comparisons"]]
    return head, rows


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _notes_block(meta: dict[str, Any]) -> list[str]:
    judge = meta.get("judge") or "skipped"
    return [
        f"- Dataset `{meta['dataset']}`: {meta['dialogues']} dialogues ({meta.get('with_references', 0)} with "
        f"human references); engine `{meta['engine']}`, classifier `{meta['classifier']}`; "
        f"{meta.get('seconds', '?')} s; {meta.get('created', '')}.",
        f"- Reference system for the paired comparisons: `{meta['reference_system']}`. Cells are means with "
        f"bootstrap 95% CIs (10,000 resamples, fixed seed); comparisons are paired over the same dialogues.",
        f"- BERTScore: {meta.get('bertscore') or 'not computed'}"
        + ("" if "roberta" in (meta.get("bertscore") or "") else
           ". Not the paper's roberta-large: absolute values are not comparable with published BERTScores."),
        f"- LLM judge: {judge}.",
        "- What this does not measure: whether an agent could act on the notes without the chat (only the "
        "judge approximates it); ROUGE rewards word overlap with ~3 human summaries and penalises valid "
        "paraphrases; numeric grounding checks numbers, not other facts.",
    ]


# --- plots ---------------------------------------------------------------------------------
def make_plots(results: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary, cases = results["summary"], results["cases"]
    systems = list(summary)
    paths = []
    keys = _present(summary, PLOTTED)
    if keys:
        fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.6), squeeze=False)
        for ax, key in zip(axes[0], keys):
            names = [s for s in systems if key in summary[s]]
            means = [summary[s][key]["mean"] for s in names]
            err = [[m - summary[s][key]["low"] for s, m in zip(names, means)],
                   [summary[s][key]["high"] - m for s, m in zip(names, means)]]
            ax.bar(range(len(names)), means, yerr=err, capsize=3, color="#4c72b0")
            ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
            ax.set_title(key, fontsize=9)
        fig.suptitle("Means per system with bootstrap 95% CIs", fontsize=10)
        fig.tight_layout()
        paths.append(_save(fig, out / "metrics.png"))

    fig, ax = plt.subplots(figsize=(7, 3.6))
    words = {s: [c["metrics"]["words"] for c in cases[s]] for s in systems}
    top = max((max(v) for v in words.values() if v), default=1)
    bins = [i * max(1, math.ceil(top / 30)) for i in range(32)]
    for s in systems:
        ax.hist(words[s], bins=bins, histtype="step", linewidth=1.4, label=s)
    ax.set_xlabel("words of notes per case")
    ax.set_ylabel("cases")
    ax.set_title("Note length distribution (progressive vs progressive-nofilter: the filter's effect)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(_save(fig, out / "note_length.png"))

    engine_systems = [s for s in systems if summary[s].get("engine_calls", {}).get("mean", 0) > 0]
    if engine_systems:
        fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
        for ax, key in zip(axes, ("engine_calls", "prompt_tokens")):
            ax.bar(range(len(engine_systems)), [summary[s][key]["mean"] for s in engine_systems], color="#dd8452")
            ax.set_xticks(range(len(engine_systems)), engine_systems, rotation=45, ha="right", fontsize=7)
            ax.set_title(f"{key} per case", fontsize=9)
        fig.tight_layout()
        paths.append(_save(fig, out / "cost.png"))
    return paths


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- documents -----------------------------------------------------------------------------
def render_markdown(results: dict[str, Any], plots: Sequence[Path]) -> str:
    meta = results["meta"]
    head, rows = summary_rows(results)
    chead, crows = comparison_rows(results)
    legend = [f"- `{k}`: {METRIC_HELP[k]}" for k in head[1:] if k in METRIC_HELP]
    parts = [f"# Note evaluation: {meta['dataset']}", "", *_notes_block(meta), "",
             "## Systems", "", markdown_table(head, rows), "", *legend, "",
             "## Paired comparisons", "", markdown_table(chead, crows) if crows else "(one system only)", ""]
    parts += [f"![{p.stem}]({p.name})" for p in plots]
    return "\n".join(parts) + "\n"


def _html_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def render_html(results: dict[str, Any], plots: Sequence[Path]) -> str:
    meta = results["meta"]
    head, rows = summary_rows(results)
    chead, crows = comparison_rows(results)
    notes = "".join(f"<li>{html.escape(n[2:])}</li>" for n in _notes_block(meta))
    legend = "".join(f"<li><code>{k}</code>: {html.escape(METRIC_HELP[k])}</li>" for k in head[1:] if k in METRIC_HELP)
    images = "".join(
        f'<figure><img alt="{p.stem}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}"></figure>'
        for p in plots)
    style = ("body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px}table{border-collapse:collapse;"
             "font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td:first-child,"
             "th:first-child{text-align:left}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Note evaluation</title><style>{style}</style>"
            f"</head><body><h1>Note evaluation: {html.escape(meta['dataset'])}</h1><ul>{notes}</ul>"
            f"<h2>Systems</h2>{_html_table(head, rows)}<ul>{legend}</ul>"
            f"<h2>Paired comparisons</h2>{_html_table(chead, crows)}<h2>Plots</h2>{images}</body></html>")


def write_report(results: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    plots = make_plots(results, out)
    (out / "report.md").write_text(render_markdown(results, plots), encoding="utf-8")
    (out / "report.html").write_text(render_html(results, plots), encoding="utf-8")
    return [out / "report.md", out / "report.html", *plots]


def load_results(out: Path) -> dict[str, Any]:
    path = out / "results.json" if out.is_dir() else out
    return json.loads(path.read_text(encoding="utf-8"))
