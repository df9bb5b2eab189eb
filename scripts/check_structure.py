#!/usr/bin/env python3
"""Structure checks run by the test suite (ctest label `lint`).

1. Layers: a folder of core/src (and analysis/) includes headers only from the folders
   below it, as listed in LAYERS; no include cycle between folders.
2. Function length: no function body in core/ or analysis/ longer than MAX_LINES lines
   (from the first line of its signature to its closing brace).
3. LibTorch versions: only core/src/runtime/ tests the LibTorch version (TORCH_VERSION_*,
   __has_include of a torch header); everything else calls runtime/torch_compat.h.
4. No upward dependency as a string: below cli/, no string literal is a command-line flag
   of a cli/ command ("--results", "--nproc=2"), and grid/ and session/ name no cli/
   command ("train") where they build a command line (argv, execv, spawn): processes pass
   typed jobs (session/job.h), not rebuilt command lines.
5. File size: no source file in core/, analysis/ or plugins/ longer than MAX_FILE_LINES lines
   (split such a file by job).

Usage: check_structure.py [--lengths] [SOURCE_ROOT]   (--lengths prints every function
over 40 lines, longest first, and checks nothing)
"""
import os
import re
import sys

MAX_LINES = 60
MAX_FILE_LINES = 450
SIZE_FOLDERS = ["core", "analysis", "plugins"]
SOURCE_ENDINGS = (".cpp", ".h", ".hpp", ".cu", ".cuh", ".py", ".in", ".proto", ".def", ".cmake")

# folder -> the folders it may include from (besides itself). Lower layers first.
LAYERS = {
    "util": set(),
    "build_info": set(),
    "runtime": {"util"},
    "plugin": {"util"},
    "data": {"util"},
    "store": {"util"},
    "config": {"util", "plugin", "data"},
    "model": {"util", "plugin", "config", "runtime"},
    "train": {"util", "plugin", "data", "config", "model", "store", "runtime"},
    "session": {"util", "plugin", "data", "config", "model", "store", "runtime", "train"},
    "grid": {"util", "plugin", "data", "config", "store", "runtime", "session"},
    "analysis": {"util", "store"},
    "verify": {"util", "plugin", "data", "config", "model", "store", "runtime", "train", "session"},
    "study": {"util", "plugin", "data", "config", "store", "runtime", "session", "grid", "analysis"},
    "cli": {"util", "plugin", "data", "config", "model", "store", "runtime", "train", "session", "grid",
            "analysis", "verify", "study"},
    "main": {"cli"},
}


def source_files(root, folders):
    for folder in folders:
        base = os.path.join(root, folder)
        for dirpath, _, names in os.walk(base):
            for n in sorted(names):
                if n.endswith((".cpp", ".h")):
                    yield os.path.join(dirpath, n)


def folder_of(root, path):
    rel = os.path.relpath(path, root)
    parts = rel.split(os.sep)
    if parts[0] == "analysis":
        return "analysis"
    return parts[2] if len(parts) > 3 else "main"  # core/src/<folder>/... or core/src/main.cpp


INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def check_layers(root):
    problems = []
    edges = {}
    for path in source_files(root, ["core/src", "analysis"]):
        me = folder_of(root, path)
        if me not in LAYERS:
            problems.append(f"{path}: folder '{me}' has no entry in LAYERS (scripts/check_structure.py)")
            continue
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                inc = m.group(1)
                if "/" not in inc:
                    target = me if folder_of(root, path) == "analysis" else None
                    if target is None:
                        continue  # same-folder or generated include
                else:
                    target = inc.split("/")[0]
                if target == me:
                    continue
                if target == "ctlab":
                    continue  # the plugin SDK header, below everything
                edges.setdefault(me, set()).add(target)
                if target not in LAYERS[me]:
                    problems.append(f"{path}:{lineno}: '{me}' includes \"{inc}\" from '{target}', "
                                    f"which is not below it (allowed: {', '.join(sorted(LAYERS[me])) or 'none'})")
    # Cycles among the folders actually used (LAYERS is a DAG by construction, but check).
    state = {}

    def visit(n, stack):
        state[n] = 1
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                problems.append("include cycle: " + " -> ".join(stack + [n, m]))
            elif m not in state:
                visit(m, stack + [n])
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n, [])
    return problems


def strip_code(text):
    """Blanks comments, string and char literals, keeping newlines (so lines still count)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            end = text.find(")" + m.group(1) + '"', i)
            j = end + len(m.group(1)) + 2
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (j - i - 1) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    # Preprocessor lines (with their continuations) are not code for this purpose.
    lines = "".join(out).split("\n")
    in_directive = False
    for k, l in enumerate(lines):
        if in_directive or l.lstrip().startswith("#"):
            in_directive = l.rstrip().endswith("\\")
            lines[k] = ""
    return "\n".join(lines)


SCOPE_OPENERS = re.compile(r"\b(namespace|class|struct|union|enum)\b")


def functions(path):
    """Yields (name, first_line, last_line) of every function defined at namespace or
    class scope (lambdas and local classes count towards their function)."""
    with open(path, encoding="utf-8") as f:
        code = strip_code(f.read())
    stack = []  # (kind, name, start_line)
    stmt_start = 0
    line = 1
    for i, c in enumerate(code):
        if c == "\n":
            line += 1
        elif c in ";":
            if not stack or stack[-1][0] != "function":
                stmt_start = i + 1
        elif c == "{":
            if stack and stack[-1][0] in ("function", "other"):
                stack.append(("other", "", line))
                continue
            head = code[stmt_start:i]
            head_line = line - head.count("\n") + (len(head) - len(head.lstrip()) and
                                                     head[:len(head) - len(head.lstrip())].count("\n"))
            if SCOPE_OPENERS.search(head) and "(" not in head.split("=")[0]:
                stack.append(("scope", "", line))
            elif ")" in head and not head.rstrip().endswith("="):
                name = re.findall(r"([~\w:]+)\s*\(", head)
                stack.append(("function", name[0] if name else "?", head_line))
            elif "=" in head and ("[" in head or "(" in head):
                # An initializer at namespace scope: a lambda called in place counts as a function.
                stack.append(("function", head.split("=")[0].split()[-1] if head.split("=")[0].split() else "?",
                              head_line))
            else:
                stack.append(("other", "", line))
            stmt_start = i + 1
        elif c == "}":
            if not stack:
                continue
            kind, name, start = stack.pop()
            if kind == "function":
                yield name, start, line
            if not stack or stack[-1][0] != "function":
                stmt_start = i + 1


def check_lengths(root, report_only=False):
    problems, all_fns = [], []
    for path in source_files(root, ["core/src", "analysis"]):
        if not path.endswith(".cpp"):
            continue
        for name, first, last in functions(path):
            n = last - first + 1
            all_fns.append((n, os.path.relpath(path, root), first, name))
            if n > MAX_LINES:
                problems.append(f"{os.path.relpath(path, root)}:{first}: {name} is {n} lines (limit {MAX_LINES})")
    if report_only:
        for n, p, first, name in sorted(all_fns, reverse=True):
            if n > 40:
                print(f"{n:5d}  {p}:{first}  {name}")
    return problems


VERSION_TEST = re.compile(r"^\s*#\s*(if|elif).*(TORCH_VERSION_(MAJOR|MINOR|PATCH)|CTLAB_TORCH_AT_LEAST|"
                          r"__has_include\s*\(\s*<(torch|ATen|c10)/)")
VERSION_FOLDERS = ["core", "analysis", "plugins", "bench", "tests"]


def check_version_tests(root):
    """Version differences live in core/src/runtime/ only."""
    problems = []
    allowed = os.path.join("core", "src", "runtime") + os.sep
    for folder in VERSION_FOLDERS:
        for dirpath, _, names in os.walk(os.path.join(root, folder)):
            for n in sorted(names):
                if not n.endswith((".cpp", ".h", ".hpp", ".in")):
                    continue
                path = os.path.join(dirpath, n)
                rel = os.path.relpath(path, root)
                if rel.startswith(allowed):
                    continue
                with open(path, encoding="utf-8", errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        if VERSION_TEST.search(line):
                            problems.append(f"{rel}:{lineno}: tests the LibTorch version; put the difference "
                                            "in core/src/runtime/torch_compat.h")
    return problems


FLAG_DEF = re.compile(r'\(\s*"([a-z][a-z0-9_-]+)(?:,\w)?"\s*,')
COMMAND_DEF = re.compile(r'return\s*\{\s*"([a-z][a-z0-9_-]+)"\s*,\s*"ctlab ')
ARGV_CONTEXT = re.compile(r"argv|execv|spawn|program_location|run_process")
LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')


def check_string_dependencies(root):
    """Below cli/, no literal spells a cli flag; grid/ and session/ name no cli command."""
    flags, names = set(), set()
    for path in source_files(root, ["core/src/cli"]):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        flags.update(FLAG_DEF.findall(text))
        names.update(COMMAND_DEF.findall(text))
    flags.discard("help")
    problems = []
    for path in source_files(root, ["core/src", "analysis"]):
        me = folder_of(root, path)
        if me in ("cli", "main"):
            continue
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if line.lstrip().startswith("//") or "// another program's flag" in line:
                    continue
                for lit in LITERAL.findall(line):
                    m = re.match(r"--([a-z][a-z0-9_-]*)(=.*)?$", lit)
                    if m and m.group(1) in flags:
                        problems.append(f"{os.path.relpath(path, root)}:{lineno}: '{me}' spells the cli flag "
                                        f"\"{lit}\"; pass a typed value (session/job.h) instead")
                    if me in ("grid", "session") and lit in names and ARGV_CONTEXT.search(line):
                        problems.append(f"{os.path.relpath(path, root)}:{lineno}: '{me}' names the cli command "
                                        f"\"{lit}\"; start workers with a job file (session/job.h)")
    return problems


def check_file_sizes(root):
    """No source file in SIZE_FOLDERS longer than MAX_FILE_LINES lines."""
    problems = []
    for folder in SIZE_FOLDERS:
        for dirpath, _, names in os.walk(os.path.join(root, folder)):
            for n in sorted(names):
                if not (n.endswith(SOURCE_ENDINGS) or n == "CMakeLists.txt"):
                    continue
                path = os.path.join(dirpath, n)
                with open(path, encoding="utf-8", errors="replace") as f:
                    count = sum(1 for _ in f)
                if count > MAX_FILE_LINES:
                    problems.append(f"{os.path.relpath(path, root)}: {count} lines (limit {MAX_FILE_LINES}); "
                                    "split it by job")
    return problems


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    if "--lengths" in sys.argv:
        check_lengths(root, report_only=True)
        return 0
    problems = (check_layers(root) + check_lengths(root) + check_version_tests(root) +
                check_string_dependencies(root) + check_file_sizes(root))
    for p in problems:
        print(p)
    print(f"structure: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
