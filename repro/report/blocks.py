"""A page as a list of blocks, rendered twice from the same list: HTML to open in a browser and
Markdown to read on a code host. Whatever one shows, the other shows.

Text is plain; `Link(text, href)` may stand among the parts of a paragraph, a list item or a
table cell. Hrefs are relative to the page (they travel with the folder).
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Link:
    text: str
    href: str
    md: str | None = None            # the Markdown page's href when it differs (index.md for index.html)


@dataclass(frozen=True)
class Mono:
    text: str                        # a command or a name, set in code type


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    parts: list                      # str | Link


@dataclass
class Figure:
    src: str                         # PNG beside the page
    alt: str
    caption: str
    svg: str | None = None           # the same figure as SVG, linked below it
    width: int | None = None         # CSS pixels; None: the image's own width (max 100%)
    pixelated: bool = False          # sample grids: upscale without smoothing


@dataclass
class Table:
    header: list
    rows: list                       # each cell: str | Link | list of parts


@dataclass
class Bullets:
    items: list                      # each: str | Link | list of parts


@dataclass
class Code:
    text: str


@dataclass
class Page:
    title: str
    blocks: list = field(default_factory=list)

    def add(self, *blocks) -> "Page":
        self.blocks.extend(blocks)
        return self


# ------------------------------------------------------------------ HTML

CSS = """
body { font-family: system-ui, sans-serif; max-width: 1040px; margin: 1.5em auto; padding: 0 1em;
       color: #111; line-height: 1.45; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #999; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #888; padding: 0.2em 0.55em; text-align: left; vertical-align: top; }
th { background: #eee; }
figure { margin: 0.8em 0; display: inline-block; vertical-align: top; margin-right: 1.2em; }
figure img { max-width: 100%; border: 1px solid #bbb; }
figure img.pixelated { image-rendering: pixelated; }
figcaption { font-size: 0.9em; color: #222; max-width: 960px; }
pre { background: #f4f4f4; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
code { font-size: 0.92em; }
"""


def _h_parts(parts) -> str:
    if isinstance(parts, (str, Link, Mono)):
        parts = [parts]
    out = []
    for p in parts:
        if isinstance(p, Link):
            out.append(f'<a href="{html.escape(p.href, quote=True)}">{html.escape(p.text)}</a>')
        elif isinstance(p, Mono):
            out.append(f"<code>{html.escape(p.text)}</code>")
        else:
            out.append(html.escape(str(p)))
    return "".join(out)


def to_html(page: Page) -> str:
    body = []
    for b in page.blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            body.append(f"<p>{_h_parts(b.parts)}</p>")
        elif isinstance(b, Figure):
            attrs = f' width="{b.width}"' if b.width else ""
            cls = ' class="pixelated"' if b.pixelated else ""
            svg = (f' (<a href="{html.escape(b.svg, quote=True)}">SVG</a>)' if b.svg else "")
            box = f' style="width: {b.width}px"' if b.width else ""
            body.append(f'<figure{box}><img src="{html.escape(b.src, quote=True)}" '
                        f'alt="{html.escape(b.alt, quote=True)}"{attrs}{cls}>'
                        f"<figcaption>{html.escape(b.caption)}{svg}</figcaption></figure>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{_h_parts(h)}</th>" for h in b.header)
            rows = "".join("<tr>" + "".join(f"<td>{_h_parts(c)}</td>" for c in r) + "</tr>"
                           for r in b.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(b, Bullets):
            body.append("<ul>" + "".join(f"<li>{_h_parts(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Code):
            body.append(f"<pre><code>{html.escape(b.text)}</code></pre>")
        else:
            raise TypeError(f"unknown block {type(b).__name__}")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(page.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"<h1>{html.escape(page.title)}</h1>\n" + "\n".join(body) + "\n</body>\n</html>\n")


# ------------------------------------------------------------------ Markdown

def _m_text(s: str) -> str:
    # Characters Markdown would read as markup; table pipes are escaped by the table writer. An
    # underscore inside a word (w2_pixels) is never emphasis, so only word-edge ones are escaped.
    for ch in "\\`*[]<>":
        s = s.replace(ch, "\\" + ch)
    s = re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", s)
    return s.replace("\n#", "\n\\#") if not s.startswith("#") else "\\" + s.replace("\n#", "\n\\#")


def _m_part(p) -> str:
    if isinstance(p, Link):
        return f"[{_m_text(p.text)}]({p.md or p.href})"
    if isinstance(p, Mono):
        return f"`{p.text}`" if "`" not in p.text else f"`` {p.text} ``"
    return _m_text(str(p))


def _m_parts(parts) -> str:
    if isinstance(parts, (str, Link, Mono)):
        parts = [parts]
    return "".join(_m_part(p) for p in parts)


def _m_cell(parts) -> str:
    return _m_parts(parts).replace("|", "\\|").replace("\n", " ")


def to_markdown(page: Page) -> str:
    out = [f"# {_m_text(page.title)}", ""]
    for b in page.blocks:
        if isinstance(b, Heading):
            out += [f"{'#' * b.level} {_m_text(b.text)}", ""]
        elif isinstance(b, Para):
            out += [_m_parts(b.parts), ""]
        elif isinstance(b, Figure):
            svg = f" ([SVG]({b.svg}))" if b.svg else ""
            out += [f"![{_m_text(b.alt)}]({b.src})", "", f"*{_m_text(b.caption)}*{svg}", ""]
        elif isinstance(b, Table):
            out.append("| " + " | ".join(_m_cell(h) for h in b.header) + " |")
            out.append("|" + "|".join("---" for _ in b.header) + "|")
            out += ["| " + " | ".join(_m_cell(c) for c in r) + " |" for r in b.rows]
            out.append("")
        elif isinstance(b, Bullets):
            out += [f"- {_m_parts(i)}" for i in b.items] + [""]
        elif isinstance(b, Code):
            fence = "````" if "```" in b.text else "```"
            out += [fence, b.text.rstrip("\n"), fence, ""]
        else:
            raise TypeError(f"unknown block {type(b).__name__}")
    return "\n".join(out).rstrip("\n") + "\n"
