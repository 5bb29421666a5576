#!/usr/bin/env python3
"""What scripts/packages.sh needs to know about the publishable crates, read from `cargo metadata`.

  packages.py msrv            fails when a dependency of a crate (not a dev-dependency; all
                              features, as locked) declares a newer rust-version than the crate
  packages.py builds          one line of cargo arguments per build of a crate alone: its default
                              features, none (when it has defaults), and each feature alone
  packages.py docsrs          one line per crate: `-p NAME` and the features docs.rs builds it with
  packages.py doc-notes DOC   fails unless every feature-gated public item is documented in DOC
                              (a `cargo doc` output directory) with the feature it needs
"""
import json
import pathlib
import re
import subprocess
import sys


def metadata(*extra):
    args = ["cargo", "metadata", "--format-version", "1", "--locked", *extra]
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)


def publishable(meta):
    return [p for p in meta["packages"] if p["publish"] != [] and p["id"] in meta["workspace_members"]]


def version(text):  # "1.88" -> (1, 88, 0)
    return tuple(int(part) for part in (text.split(".") + ["0", "0"])[:3])


def msrv(meta):
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    offenders = []
    for crate in publishable(meta):
        own = crate["rust_version"]
        if not own:
            offenders.append(f"{crate['name']}: no rust-version")
            continue
        seen, todo = set(), [crate["id"]]
        while todo:  # normal and build dependencies: what a user's compiler builds
            for dep in nodes[todo.pop()]["deps"]:
                if dep["pkg"] not in seen and any(k["kind"] != "dev" for k in dep["dep_kinds"]):
                    seen.add(dep["pkg"])
                    todo.append(dep["pkg"])
        for dep in (packages[i] for i in seen):
            if dep["rust_version"] and version(dep["rust_version"]) > version(own):
                offenders.append(f"{crate['name']} (rust-version {own}): {dep['name']} {dep['version']} needs {dep['rust_version']}")
    for line in sorted(offenders):
        print(line, file=sys.stderr)
    return 1 if offenders else 0


def builds(meta):
    for package in publishable(meta):
        name, features = package["name"], package["features"]
        default = features.get("default", [])
        yield f"-p {name}"
        if default:
            yield f"-p {name} --no-default-features"
        for feature in sorted(features):
            if feature != "default" and [feature] != default:
                yield f"-p {name} --no-default-features --features {feature}"


def docsrs(meta):
    for package in publishable(meta):
        config = (package["metadata"] or {}).get("docs", {}).get("rs", {})
        if config.get("all-features"):
            yield f"-p {package['name']} --all-features"
        else:
            features = ",".join(config.get("features", []))
            yield f"-p {package['name']} --no-default-features" + (f" --features {features}" if features else "")


# `#[cfg(...feature = "x"...)]`, then (past attributes and doc comments) a public item.
GATE = re.compile(r'^\s*#\[cfg\((?:any|all)?\(?\s*feature\s*=')
ITEM = re.compile(r'^\s*pub\s+(?:async\s+|unsafe\s+|const\s+)*(fn|struct|enum|type|trait|mod|const|static|use)\s+(.*)')
KIND_PAGES = {"fn": ["fn", "method"], "struct": ["struct"], "enum": ["enum"], "type": ["type"],
              "trait": ["trait"], "const": ["constant"], "static": ["static"]}
NOTE = "Available on <strong>crate feature"


def gated_items(src):
    for path in sorted(src.rglob("*.rs")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if not GATE.match(line):
                continue
            j = i + 1
            while j < len(lines) and re.match(r"^\s*(#\[|///|//)", lines[j]):
                j += 1
            item = ITEM.match(lines[j]) if j < len(lines) else None
            if item:
                kind, rest = item.groups()
                if kind != "use":
                    names = [re.match(r"\w+", rest).group()]
                elif "{" in rest:  # `pub use a::{B, C};`: each name
                    names = re.findall(r"\w+", rest.split("{", 1)[1])
                else:  # `pub use a::b::C;`: the last segment
                    names = re.findall(r"\w+", rest)[-1:]
                for name in names:
                    yield f"{path}:{j + 1}", kind, name


def documented_with_note(doc, crate, kind, name):
    root = doc / crate.replace("-", "_")
    if kind in ("mod", "use"):
        pages = list(root.rglob(f"{name}/index.html")) + list(root.rglob(f"*.{name}.html"))
    else:
        pages = [p for k in KIND_PAGES[kind] for p in root.rglob(f"{k}.{name}.html")]
    if kind == "fn":  # a method: its note sits in its type's page, under its anchor
        for page in root.rglob("*.html"):
            text = page.read_text()
            for section in text.split(f'id="method.{name}"')[1:]:
                if NOTE in section.split('id="method.', 1)[0]:
                    return True
    return any(NOTE in p.read_text() for p in pages)


def doc_notes(meta, doc):
    missing = []
    for package in publishable(meta):
        src = pathlib.Path(package["manifest_path"]).parent / "src"
        for where, kind, name in gated_items(src):
            if not documented_with_note(doc, package["name"], kind, name):
                missing.append(f"{where}: {kind} {name}")
    for line in missing:
        print(f"feature-gated, but not documented with its feature: {line}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "msrv":
        sys.exit(msrv(metadata("--all-features")))
    elif command == "builds":
        print("\n".join(builds(metadata("--no-deps"))))
    elif command == "docsrs":
        print("\n".join(docsrs(metadata("--no-deps"))))
    elif command == "doc-notes":
        sys.exit(doc_notes(metadata("--no-deps"), pathlib.Path(sys.argv[2])))
    else:
        sys.exit(__doc__)
