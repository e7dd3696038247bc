"""Self-contained HTML pages: figures embedded as PNG (base64), tables from dicts."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aihep._atomic import write_atomic, write_text_atomic

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: right; }
th { background: #f3f3f3; } .figs { display: flex; flex-wrap: wrap; gap: 1em; }
.figs figure { margin: 0; } .figs img { width: 520px; } figcaption { font-size: 0.9em; }
.note { color: #555; font-size: 0.9em; }
"""


def pyplot() -> Any:
    """matplotlib.pyplot with the Agg backend and the mplhep CMS style."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    warnings.filterwarnings("ignore", message="Integer weights indicate poissonian data")
    plt.style.use(mplhep.style.CMS)
    return plt


def figure_to_base64(fig: Any) -> str:
    """PNG bytes of a matplotlib figure, base64-encoded; closes the figure."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def table_html(rows: Sequence[dict[str, Any]]) -> str:
    """An HTML table from a list of dicts sharing keys."""
    if not rows:
        return ""
    keys = list(rows[0])
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(k)))}</td>" for k in keys)
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_report(path: str | Path, title: str, sections: Sequence[tuple[str, str]]) -> Path:
    """Write a page with ``sections`` = [(heading, html body), ...] atomically."""
    parts = [f"<h2>{html.escape(h)}</h2>\n{body}" for h, body in sections]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>\n"
            + "\n".join(parts) + "\n</body></html>\n")
    return write_text_atomic(path, page)


def figures_html(figures: Sequence[tuple[str, Any]]) -> str:
    """A row of figures with captions: [(caption, matplotlib figure), ...]."""
    items = "".join(
        f"<figure><img src='data:image/png;base64,{figure_to_base64(fig)}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>" for caption, fig in figures)
    return f"<div class='figs'>{items}</div>"


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write a figure as PNG (atomically) and close it."""
    def write(tmp: Path) -> None:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")

    path = write_atomic(path, write)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
