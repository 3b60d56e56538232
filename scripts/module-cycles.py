#!/usr/bin/env python3
"""Lists the dependency cycles between the library's modules (src/, without the binary).

A module depends on another when its file (unit tests aside) names it in a path:
`use crate::report::…`, `super::shared::Shared`, `crate::tls::negotiated(…)`. Paths that name an item re-exported
by a parent module (`crate::tls::Side`) count as a dependency on that parent. The crate
root only declares and re-exports, so paths to it are left out. Prints each cycle, and
exits 1 when there is one; `--graph` prints every edge as well.

Run by scripts/check.sh.
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_of(path):
    """`tls/observe.rs` -> ("tls", "observe"); `server/mod.rs` -> ("server",)."""
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel == ["lib"]:
        return ()
    return tuple(rel)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def expand(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    tree = tree.replace(" ", "").replace("\n", "")
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix, inner = tree[:start], tree[start + 1:i]
                parts, level, last = [], 0, 0
                for j, c in enumerate(inner):
                    if c == "{":
                        level += 1
                    elif c == "}":
                        level -= 1
                    elif c == "," and level == 0:
                        parts.append(inner[last:j])
                        last = j + 1
                parts.append(inner[last:])
                out = []
                for part in filter(None, parts):
                    out += expand(prefix + part)
                return out
    return [tree]


def paths(text):
    text = strip_comments(text)
    found = []
    for tree in re.findall(r"\buse\s+([^;]+);", text):
        found += expand(tree)
    found += re.findall(r"\b((?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)+)", text)
    return [p.split(" as ")[0].split("as")[0] if "::" not in p else p for p in found]


def main():
    files = {}
    for directory, _, names in os.walk(ROOT):
        for name in names:
            path = os.path.join(directory, name)
            if name.endswith(".rs") and os.path.relpath(path, ROOT).split(os.sep)[0] not in (
                "main.rs",
                "cli",
            ):
                files[module_of(path)] = path
    modules = set(files)
    edges = {m: set() for m in modules}
    for module, path in files.items():
        with open(path) as f:
            # Unit tests (at the end of a file, by convention) are not the module's
            # dependencies.
            text = f.read().split("#[cfg(test)]")[0]
        is_mod_rs = path.endswith("mod.rs") or path.endswith("lib.rs")
        for p in paths(text):
            parts = p.split("::")
            if parts[0] == "crate":
                base, rest = (), parts[1:]
            elif parts[0] == "super":
                # `super` of `a/b.rs` (module a::b) is a; of `a/b/mod.rs` it is also a.
                base = module[:-1]
                rest = parts[1:]
                while rest and rest[0] == "super":
                    base, rest = base[:-1], rest[1:]
            elif parts[0] == "self":
                base, rest = module, parts[1:]
            elif is_mod_rs and (module + (parts[0],)) in modules:
                # `use child::Item;` in a mod.rs or lib.rs
                base, rest = module, parts
            else:
                continue
            target = base
            for name in rest:
                if target + (name,) in modules:
                    target = target + (name,)
                else:
                    break
            if target and target != module:
                edges[module].add(target)
    show = lambda m: "::".join(m) or "crate"
    if "--graph" in sys.argv:
        for m in sorted(edges):
            for t in sorted(edges[m]):
                print(f"{show(m)} -> {show(t)}")
    cycles = []
    seen = set()

    def walk(node, stack, on_stack):
        for nxt in sorted(edges[node]):
            if nxt in on_stack:
                cycle = stack[stack.index(nxt):]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    cycles.append(cycle + [nxt])
            elif len(stack) < 12:
                walk(nxt, stack + [nxt], on_stack | {nxt})

    for m in sorted(edges):
        walk(m, [m], {m})
    for cycle in cycles:
        print("cycle: " + " -> ".join(show(m) for m in cycle))
    print(f"{len(modules)} modules, {sum(len(e) for e in edges.values())} dependencies, "
          f"{len(cycles)} cycles")
    sys.exit(1 if cycles else 0)


if __name__ == "__main__":
    main()
