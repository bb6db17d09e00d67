"""Imports in `shared/src` run one way: the architecture invariant.

No AWS and no local stack: this reads the Rust sources. Every file under
`shared/src` belongs to a top-level module (`shared/src/aws/ec2.rs` -> `aws`,
`shared/src/spec.rs` -> `spec`; `lib.rs` is only the table of modules). Every
reference one module makes to another is an edge: `use crate::x::..` lines
(grouped ones too, `use crate::{a, b::c}`), inline paths (`crate::x::f(..)`),
`crate::Name` through lib.rs's re-exports, and `super::` paths that climb out of
the top-level module. A file's `#[cfg(test)]` items (its `mod tests`) may reach
anywhere, and comments and string literals name nothing, so all three are
blanked before the edges are read.

Two checks:
- no circle between top-level modules (printed with the file:line of each edge);
- no edge runs upward against `LAYERS` (highest first). Modules in one layer
  may use each other, as long as that makes no circle.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "shared" / "src"

# Highest first. A module may name modules of its own layer (without a circle)
# and of any layer below it, never one above.
LAYERS: list[list[str]] = [
    # What each Lambda does: a step reads, decides, and walks its resources.
    ["steps"],
    # One module per AWS resource kind: wanted, observe, plan, apply, remove.
    ["resources"],
    # What every resource module converges and removes with: the step context
    # (`Ctx`), how a change is decided and remembered, the remove drivers.
    ["converge"],
    # Thin SDK wrappers, one per service, taking and returning domain types.
    ["aws"],
    # The domain: types and decisions, no AWS (the registries' and GitHub's
    # HTTP clients behind their features; API Gateway's request shape).
    ["webhook", "apigw", "github", "registry", "preflight", "diagnosis", "deploy", "lease",
     "teardown", "ledger", "plan", "model", "network", "image", "naming", "owner", "spec"],
    # What every floor uses: errors, environment and input parsing, logs, the
    # HTTPS connector.
    ["runtime", "https", "error"],
]

# Upward edges still there, each with why; printed by the test. Empty when the
# layering is whole.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}


def blank(text: str, start: int, end: int) -> str:
    """`text` with [start, end) replaced by spaces, newlines kept (for line numbers)."""
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def strip_comments_and_strings(src: str) -> str:
    """Comments and the insides of string and char literals as spaces; the rest,
    and every newline, where it was."""
    out = []
    i, n = 0, len(src)

    def keep_newlines(s: str) -> str:
        return re.sub(r"[^\n]", " ", s)

    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(keep_newlines(src[i:j]))
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(keep_newlines(src[i:j]))
            i = j
        elif (m := re.compile(r'b?r(#*)"').match(src, i)) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            close = '"' + m.group(1)
            j = src.find(close, m.end())
            j = n if j < 0 else j + len(close)
            out.append('"' + keep_newlines(src[i + 1:j - 1]) + '"')
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append('"' + keep_newlines(src[i + 1:j]) + '"')
            i = j + 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            if i + 1 < n and src[i + 1] == "\\":
                j = src.find("'", i + 2)
                out.append(" " * (j + 1 - i))
                i = j + 1
            elif i + 2 < n and src[i + 2] == "'":
                out.append("   ")
                i += 3
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


CFG_TEST = re.compile(r"#\[cfg\((?:test|all\(test\b[^\]]*)\)\]")


def strip_test_items(src: str) -> str:
    """Every `#[cfg(test)]` item (a `mod tests { .. }`, a `use`, a fn) blanked."""
    while m := CFG_TEST.search(src):
        j = m.end()
        # The item runs to its first `;` at depth 0 or to the brace closing its body.
        depth = 0
        while j < len(src):
            if src[j] == "{":
                depth += 1
            elif src[j] == "}":
                depth -= 1
                if depth == 0:
                    j += 1
                    break
            elif src[j] == ";" and depth == 0:
                j += 1
                break
            j += 1
        src = blank(src, m.start(), j)
    return src


def top_module(path: Path) -> str | None:
    rel = path.relative_to(SRC)
    if rel.parts == ("lib.rs",):
        return None
    return rel.parts[0].removesuffix(".rs")


def module_depth(path: Path) -> int:
    """How many `super::` climb from this file to the crate root."""
    rel = path.relative_to(SRC)
    depth = len(rel.parts)  # aws/ec2.rs -> 2, spec.rs -> 1
    if rel.name == "mod.rs":
        depth -= 1
    return depth


def reexports() -> dict[str, str]:
    """`crate::Name` -> the module lib.rs re-exports it from."""
    names: dict[str, str] = {}
    lib = strip_comments_and_strings((SRC / "lib.rs").read_text())
    for m in re.finditer(r"pub use (\w+)::(?:\{([^}]*)\}|(\w+))\s*;", lib):
        for name in re.split(r"\s*,\s*", (m.group(2) or m.group(3)).strip()):
            if name:
                names[name.split(" as ")[-1].strip()] = m.group(1)
    return names


def group_heads(body: str) -> list[str]:
    """The first segment of each path in a `{..}` use group's body, at depth 0."""
    heads, depth, current = [], 0, ""
    for ch in body + ",":
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            if m := re.match(r"\s*(\w+)", current):
                heads.append(m.group(1))
            current = ""
        else:
            current += ch
    return heads


def matching_brace(text: str, open_at: int) -> int:
    depth = 0
    for j in range(open_at, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(text)


def edges() -> dict[tuple[str, str], list[str]]:
    """(from, to) -> the file:line places where `from` names `to`."""
    modules = {top_module(p) for p in SRC.rglob("*.rs")} - {None}
    reexported = reexports()
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(SRC.rglob("*.rs")):
        me = top_module(path)
        if me is None:
            continue
        text = strip_test_items(strip_comments_and_strings(path.read_text()))
        where = str(path.relative_to(ROOT))

        def add(target: str, pos: int) -> None:
            target = reexported.get(target, target)
            if target in modules and target != me:
                found[(me, target)].append(f"{where}:{text.count(chr(10), 0, pos) + 1}")

        climb = r"(?:crate|" + r"::".join(["super"] * module_depth(path)) + r")"
        for m in re.finditer(r"(?<![\w$])" + climb + r"::\s*(\{|\w+)", text):
            if m.group(1) == "{":
                close = matching_brace(text, m.start(1))
                for head in group_heads(text[m.start(1) + 1:close]):
                    add(head, m.start())
            else:
                add(m.group(1), m.start())
    return found


def layer_of() -> dict[str, int]:
    return {module: i for i, layer in enumerate(LAYERS) for module in layer}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component that has one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)

    cycles: list[list[str]] = []
    for component in components:
        members = set(component)
        for start in component:
            cycle = shortest_cycle(graph, members, start)
            if not any(set(cycle) == set(c) and len(c) == len(cycle) for c in cycles):
                cycles.append(cycle)
    return cycles


def shortest_cycle(graph: dict[str, set[str]], members: set[str], start: str) -> list[str]:
    """The shortest way from `start` back to itself inside one component."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier and start not in previous:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, ())):
                if w in members and w not in previous:
                    previous[w] = v
                    nxt.append(w)
        frontier = nxt
    cycle = [start]
    v = previous[start]
    while v != start:
        cycle.append(v)
        v = previous[v]
    return [start] + cycle[1:][::-1]


def describe_cycle(cycle: list[str], found: dict[tuple[str, str], list[str]]) -> str:
    lines = [" -> ".join(cycle + [cycle[0]])]
    for a, b in zip(cycle, cycle[1:] + cycle[:1]):
        places = found[(a, b)]
        more = f" (+{len(places) - 3} more)" if len(places) > 3 else ""
        lines.append(f"    {a} -> {b}: {', '.join(places[:3])}{more}")
    return "\n".join(lines)


def test_every_module_has_a_layer():
    modules = {top_module(p) for p in SRC.rglob("*.rs")} - {None}
    layers = layer_of()
    assert not modules - set(layers), f"modules without a layer in LAYERS: {sorted(modules - set(layers))}"
    assert not set(layers) - modules, f"LAYERS names modules that do not exist: {sorted(set(layers) - modules)}"


def test_no_import_circle_between_top_level_modules():
    found = edges()
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in found:
        graph[a].add(b)
    cycles = find_cycles(graph)
    assert not cycles, "import circles between top-level modules of shared/src:\n" + "\n".join(
        describe_cycle(c, found) for c in cycles)


def test_no_import_runs_upward():
    found = edges()
    layers = layer_of()
    upward = []
    for (a, b), places in sorted(found.items()):
        if a in layers and b in layers and layers[b] < layers[a]:
            if (a, b) in ALLOWED_UPWARD:
                print(f"allowed upward edge {a} -> {b}: {ALLOWED_UPWARD[(a, b)]} ({places[0]})")
                continue
            more = f" (+{len(places) - 3} more)" if len(places) > 3 else ""
            upward.append(f"    {a} (layer {layers[a]}) -> {b} (layer {layers[b]}): {', '.join(places[:3])}{more}")
    stale = [edge for edge in ALLOWED_UPWARD if edge not in found]
    assert not stale, f"ALLOWED_UPWARD lists edges that are gone (remove them): {stale}"
    assert not upward, "imports that run upward (LAYERS is highest first):\n" + "\n".join(upward)


def test_the_checker_sees_what_it_must():
    """The parser itself: grouped uses, inline paths, super climbs, re-exports,
    and what it must not see (tests, comments, strings)."""
    src = '''
use crate::{spec::AppSpec, plan::{Change, Removal}};
// use crate::steps::Ctx;
let s = "crate::steps::Ctx";
fn f(x: &crate::naming::Names) -> &'static str { 'c'; "" }
#[cfg(test)]
mod tests {
    use crate::steps::Ctx;
}
'''
    text = strip_test_items(strip_comments_and_strings(src))
    heads = re.findall(r"crate::\s*(\{|\w+)", text)
    assert heads == ["{", "naming"]
    start = text.index("{")
    assert group_heads(text[start + 1:matching_brace(text, start)]) == ["spec", "plan"]
    assert "steps" not in text
    assert reexports().get("StepError") == "error"
