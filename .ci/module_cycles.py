#!/usr/bin/env python3
"""Import cycles between modules of src/ (issue #13: "no import cycle").

Reads every `crate::...`, `super::...` and `self::...` path in the non-test code of
src/**/*.rs (use statements, grouped `use crate::{a::b, c}`, and paths written inline),
resolves each to the deepest module that exists, and lifts every edge A -> B to the two
children of their lowest common ancestor: `scan::pickle::walker -> scan::rules` counts
as `scan::pickle -> scan::rules`. A module and its own descendants may use each other
(mod.rs declares what its children share); siblings must form a DAG at every level.

    python3 .ci/module_cycles.py [--edges]     # exit 1 and the cycles when there are any

An edge in ALLOWED (below, each with its reason) is left out of the check.

Plain text reading, no rustc: `#[cfg(test)] mod ... { }` blocks are cut out (test code
is not part of the layering), macros that build paths are not seen.
"""

import os
import re
import sys

# Edges left out of the check, each with the reason it is there by design.
ALLOWED = {
    ("model", "discover"): "model re-exports catalogue::Family for LoadSite.family "
    "(#13: the family is said once, in the catalogue, and carried in LoadSite)",
}

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_of(rel):
    """src-relative file path -> module path tuple (lib.rs -> ())."""
    parts = rel[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return tuple(parts)


def strip_code(text):
    """Comments and string/char literals blanked (so that paths in docs and strings
    do not count), newlines kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
            continue
        if text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * text.count("\n", i, j))
            i = j
            continue
        m = re.match(r'b?r(#*)"', text[i : i + 260]) if c in "rb" else None
        if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = '"' + m.group(1)
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
            continue
        m = re.match(r"'(\\.[^']*|[^'\\])'", text[i : i + 12]) if c == "'" else None
        if m:
            out.append("' '")
            i += m.end()
            continue
        out.append(c)
        i += 1
    return "".join(out)


def cut_test_mods(code):
    """Remove `#[cfg(test)] mod name { ... }` blocks (brace matched on stripped code)."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", code)
        if not m:
            return code
        depth, j = 1, m.end()
        while j < len(code) and depth:
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            j += 1
        code = code[: m.start()] + "\n" * code.count("\n", m.start(), j) + code[j:]


def use_paths(code):
    """Every path that starts with crate/super/self, grouped uses expanded."""
    paths = []

    def expand(prefix, body):
        # body: the inside of `{...}` in a use tree
        depth, start, items = 0, 0, []
        for k, ch in enumerate(body):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                items.append(body[start:k])
                start = k + 1
        items.append(body[start:])
        for it in items:
            it = re.sub(r"\s+as\s+\w+\s*$", "", it)  # `x as y` names x
            it = re.sub(r"\s+", "", it)
            if not it:
                continue
            if "{" in it:
                head, rest = it.split("{", 1)
                expand(prefix + [p for p in head.split("::") if p], rest[: rest.rfind("}")])
            else:
                paths.append(prefix + [p for p in it.split("::") if p])

    for m in re.finditer(r"\buse\s+((?:crate|super|self)\b[^;]*);", code):
        tree = re.sub(r"\s+", " ", m.group(1))
        if "{" in tree:
            head, rest = tree.split("{", 1)
            expand([p.strip() for p in head.split("::") if p.strip()], rest[: rest.rfind("}")])
        else:
            tree = re.sub(r"\s+as\s+\w+$", "", tree)
            paths.append([p.strip() for p in tree.split("::") if p.strip()])
    # Inline paths outside use statements: crate::a::b::c, super::super::x, self::m::f
    no_use = re.sub(r"\buse\s+[^;]*;", "", code)
    for m in re.finditer(r"\b(?:crate|super|self)(?:::\w+)+", no_use):
        paths.append(m.group(0).split("::"))
    return paths


def resolve(here, path, modules):
    """Module that a path names from module `here`, or None (an external crate)."""
    if not path:
        return None
    if path[0] == "crate":
        base, rest = (), path[1:]
    elif path[0] in ("super", "self"):
        base, rest = here, path
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    else:
        return None
    best = base
    cur = base
    for seg in rest:
        cur = cur + (seg,)
        if cur in modules:
            best = cur
        else:
            break
    return best


def lift(a, b):
    """The edge a -> b between the children of their lowest common ancestor, or None
    when one contains the other."""
    k = 0
    while k < len(a) and k < len(b) and a[k] == b[k]:
        k += 1
    if k == len(a) or k == len(b):
        return None
    return a[: k + 1], b[: k + 1]


def main():
    files = {}
    for root, _, names in os.walk(SRC):
        for name in names:
            if name.endswith(".rs"):
                rel = os.path.relpath(os.path.join(root, name), SRC)
                if rel in ("main.rs",):  # the binary is another crate
                    continue
                files[module_of(rel)] = os.path.join(root, name)
    modules = set(files)
    edges = {}
    for mod, path in sorted(files.items()):
        with open(path, encoding="utf-8") as f:
            code = cut_test_mods(strip_code(f.read()))
        for p in use_paths(code):
            target = resolve(mod, p, modules)
            if target is None:
                continue
            e = lift(mod, target)
            if e:
                edges.setdefault(e, set()).add("::".join(mod) or "crate")
    graph = {}
    for (a, b) in edges:
        if ("::".join(a), "::".join(b)) in ALLOWED:
            continue
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    if "--edges" in sys.argv:
        for (a, b), srcs in sorted(edges.items()):
            print(f"{'::'.join(a)} -> {'::'.join(b)}   ({', '.join(sorted(srcs))})")
    # Tarjan's strongly connected components.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    print(f"{len(files)} modules, {len(edges)} edges between siblings, {len(sccs)} cycles")
    for (a, b), why in sorted(ALLOWED.items()):
        print(f"allowed: {a} -> {b}: {why}")
    for comp in sccs:
        names = {"::".join(m) for m in comp}
        print("cycle: " + " <-> ".join(sorted(names)))
        for (a, b), srcs in sorted(edges.items()):
            if a in comp and b in comp:
                print(f"  {'::'.join(a)} -> {'::'.join(b)}   (in {', '.join(sorted(srcs))})")
    return 1 if sccs else 0


if __name__ == "__main__":
    sys.exit(main())
