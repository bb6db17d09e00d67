"""Reading the Rust sources by name, without compiling them: which functions of
`shared/src` each Lambda's `main.rs` reaches (a name-level call graph, tests
left out), and what those functions say. `test_iam.py` derives each Lambda's
AWS calls from it, `e2e/test_definitions.py` the settings each one reads.
See test_iam.py's docstring for how names are resolved."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "shared" / "src"
FUNCTIONS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/Cargo.toml"))
# A setting's name is the one string literal scrub() keeps.
SETTING = re.compile(r'"(STEPDEPLOY_[A-Z0-9_]+)"')


def scrub(text: str) -> str:
    """The source without comments, string/char literals (but settings' names,
    `"STEPDEPLOY_..."`) and `#[cfg(test)]` modules."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            i = text.find("*/", i) + 2
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            i = text.find('"' + hashes, i + len(hashes) + 2) + len(hashes) + 1
            out.append('""')
        elif c == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1] if SETTING.fullmatch(text[i:j + 1]) else '""')
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]) or re.match(r"'\\u\{", text[i:i + 4]):
            i = text.find("'", i + 2) + 1
            out.append("' '")
        else:
            out.append(c)
            i += 1
    src = "".join(out)
    while (m := re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", src)):
        end = matching(src, m.end() - 1)
        src = src[:m.start()] + src[end + 1:]
    return src


def matching(src: str, open_at: int) -> int:
    depth = 0
    for j in range(open_at, len(src)):
        depth += {"{": 1, "}": -1}.get(src[j], 0)
        if depth == 0:
            return j
    raise ValueError("unbalanced braces")


@dataclass
class Fn:
    file: Path
    name: str
    has_self: bool
    body: str


@dataclass
class RustFile:
    path: Path
    src: str
    fns: list[Fn] = field(default_factory=list)
    names: dict[str, tuple[str, Path]] = field(default_factory=dict)  # alias -> ("mod"|"item", file)


def module_file(segments: list[str]) -> Path | None:
    p = SRC.joinpath(*segments)
    for cand in (p.with_suffix(".rs"), p / "mod.rs"):
        if cand.is_file():
            return cand
    return None


def parent_file(segments: list[str], inline_modules: bool = False) -> Path | None:
    """The file that holds the module `segments`: its own or, with
    `inline_modules`, for an inline `mod client { ... }` the nearest enclosing
    module's file."""
    while inline_modules and segments and not module_file(segments):
        segments = segments[:-1]
    return (SRC / "lib.rs") if not segments else module_file(segments)


def module_segments(path: Path) -> list[str]:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    return parts[:-1] if parts[-1] in ("mod", "lib") else parts


@functools.lru_cache(maxsize=None)
def parse_file(path: Path, inline_modules: bool = False) -> RustFile:
    src = scrub(path.read_text())
    f = RustFile(path, src)
    for m in re.finditer(r"\bfn\s+(\w+)\s*(<[^{;]*?>)?\s*\(", src):
        brace = src.find("{", m.end())
        semi = src.find(";", m.end())
        if brace < 0 or (0 <= semi < brace):
            continue  # a declaration without a body
        sig = src[m.end():brace]
        f.fns.append(Fn(path, m.group(1), bool(re.match(r"\s*(&\s*('\w+\s+)?(mut\s+)?)?self\b", sig)), src[brace:matching(src, brace) + 1]))
    here = [] if path.parent == ROOT / "functions" else module_segments(path) if SRC in path.parents else []
    for m in re.finditer(r"\buse\s+([\w:]+?)(?:::\{([^}]*)\}|\s+as\s+\w+)?\s*;", src):
        base = m.group(1).split("::")
        if base[0] in ("crate", "stepdeploy"):
            base = base[1:]
        elif base[0] == "super":
            base = here[:-1] + base[1:]
        elif base[0] == "self":
            base = here + base[1:]
        else:
            continue
        items = [x.strip() for x in m.group(2).split(",")] if m.group(2) else [base.pop()] if base else []
        for item in items:
            if not item or item == "*":
                continue
            segs = base + item.split("::")
            name = segs[-1]
            if name == "self":
                segs, name = segs[:-1], segs[-2]
            mf = module_file(segs)
            if mf:
                f.names[name] = ("mod", mf)
            elif (pf := parent_file(segs[:-1], inline_modules)):
                f.names[name] = ("item", pf)
    return f


class CallGraph:
    """`inline_modules` follows imports from inline modules (`registry::client`)
    into their file, and with them its `.m(` calls that share a name with a
    wrapper's method (an HTTP response's `.status()` is taken for
    `Sfn::status`): right for what a function reads, too wide for the AWS calls
    it makes, where no inline module calls AWS."""

    def __init__(self, features: set[str], inline_modules: bool = False):
        self.files: dict[Path, RustFile] = {}
        self.inline_modules = inline_modules
        gated = re.findall(r'#\[cfg\(feature\s*=\s*"(\w+)"\)\]\s*pub\s+mod\s+(\w+)', (SRC / "aws" / "mod.rs").read_text())
        self.wrappers = {SRC / "aws" / f"{mod}.rs" for feat, mod in gated if feat in features}

    def file(self, path: Path) -> RustFile:
        if path not in self.files:
            self.files[path] = parse_file(path, self.inline_modules)
        return self.files[path]

    def fns(self, path: Path, name: str, with_self: bool | None = None) -> list[Fn]:
        if path.parent == SRC / "aws" and path != SRC / "aws" / "mod.rs" and path not in self.wrappers:
            return []  # a wrapper of a service this function does not link
        return [f for f in self.file(path).fns if f.name == name and (with_self is None or f.has_self == with_self)]

    def callees(self, fn: Fn) -> list[Fn]:
        rf, body, out = self.file(fn.file), fn.body, []
        in_wrapper = fn.file.parent == SRC / "aws"
        for m in re.finditer(r"((?:\w+::)+)(\w+)\s*(?:::<[^>]*>)?\s*\(", body):
            segs = m.group(1).split("::")[:-1]
            target = None
            if segs[0] in ("crate", "stepdeploy"):
                target = module_file(segs[1:])
            elif segs[0] in rf.names and rf.names[segs[0]][0] == "mod":
                target = rf.names[segs[0]][1]
                if len(segs) > 1:
                    target = module_file(module_segments(target) + segs[1:])
            elif segs[0] in ("Self", "self") or segs[0][:1].isupper():
                target = rf.names[segs[0]][1] if segs[0] in rf.names else fn.file
            if target:
                out += self.fns(target, m.group(2))
        for m in re.finditer(r"(?<![.:\w])(\w+)\s*\(", body):
            name = m.group(1)
            out += self.fns(fn.file, name, False)
            if name in rf.names and rf.names[name][0] == "item":
                out += self.fns(rf.names[name][1], name)
        for m in re.finditer(r"(\bself\s*)?\.\s*(\w+)\s*(?:::<[^>]*>)?\s*\(", body):
            name = m.group(2)
            if in_wrapper:
                if m.group(1):
                    out += self.fns(fn.file, name, True)
                continue
            out += self.fns(fn.file, name, True)
            for w in self.wrappers:
                out += self.fns(w, name, True)
            for kind, path in set(rf.names.values()):
                if kind == "item":
                    out += self.fns(path, name, True)
        return out

    def reach(self, entry: Path) -> list[Fn]:
        seen, todo = {}, list(self.file(entry).fns)
        while todo:
            fn = todo.pop()
            key = (fn.file, fn.name, fn.body[:200])
            if key in seen:
                continue
            seen[key] = fn
            todo += self.callees(fn)
        return list(seen.values())


def features_of(function: str) -> set[str]:
    text = (ROOT / "functions" / function / "Cargo.toml").read_text()
    m = re.search(r"^stepdeploy\s*=\s*\{[^}]*features\s*=\s*\[([^\]]*)\]", text, re.M)
    return set(re.findall(r'"([\w-]+)"', m.group(1))) if m else set()


def settings_of(function: str) -> set[str]:
    """The `STEPDEPLOY_*` settings a Lambda reads: in its main.rs, or in any
    function of the library its main.rs reaches with its features."""
    graph = CallGraph(features_of(function), inline_modules=True)
    main = ROOT / "functions" / function / "src" / "main.rs"
    bodies = [graph.file(main).src] + [fn.body for fn in graph.reach(main)]
    return {name for body in bodies for name in SETTING.findall(body)}
