"""Rules decided from the submission's source text, in the judge: what a graded function reaches.

A kata that says "write it yourself" (no F.cross_entropy in ex03), "use your own functions"
(fit_line calls sgd_step in ex05) or "no Python loops" (ex02) is decided here, by reading the
whole module, never by asking the learner's process what it did. Starting from every binding
of the graded name (a decoy under `if False:` included), the analysis follows the module-level
names it uses (functions, classes, aliases, anything assigned), and inside each function the
local aliases and imports, to the set of code the graded function can reach. In that code it
looks for:

- the kata's forbidden API: a dotted name that resolves to it (through imports and aliases),
  or its name as an attribute of anything (`x.softmax`, `F.cross_entropy`, `getattr(F,
  "cross_entropy")`);
- a private torch entry point (torch._C, torch.ops, private optimizer kernels, ...);
- a reflective escape, which could reach anything: exec, eval, compile, __import__, importlib,
  getattr or setattr with a computed name, globals(), vars(), __dict__, sys.modules, ctypes,
  gc, inspect, builtins;
- torch (or any imported module) changed by assignment, which could turn an innocent call
  into a forbidden one.

The module's own top-level code runs when it is imported, so it is read too, for reflective
escapes and changes to imported modules (what could rebind a name behind the analysis's back).
Code under `if __name__ == "__main__":` never runs when graded and is left out.

A normal solution never trips a rule; every finding names its line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

REFLECTIVE_BUILTINS = {"exec", "eval", "compile", "__import__", "globals", "vars", "breakpoint"}
REFLECTIVE_BUILTINS |= {"open", "__builtins__", "__loader__", "__spec__"}
COMPUTED_NAME_BUILTINS = {"getattr", "setattr", "delattr", "hasattr"}
REFLECTIVE_MODULES = {"importlib", "ctypes", "gc", "inspect", "builtins"}
REFLECTIVE_NAMES = {"sys.modules", "sys._getframe", "sys.settrace", "sys.setprofile", "sys.stdin"}
REFLECTIVE_NAMES |= {"operator.attrgetter", "operator.methodcaller", "functools.partial"}
# what reaches past what the analysis can see: the run's own file descriptors (the grader's
# pipes), other processes and interpreters, code built from data, the grader itself
ESCAPE_MODULES = {
    *("io", "_io", "posix", "socket", "_socket", "select", "selectors", "fcntl", "mmap"),
    *("subprocess", "_posixsubprocess", "multiprocessing", "concurrent", "asyncio", "pty"),
    *("pickle", "marshal", "runpy", "code", "codeop", "types", "grader"),
}
ESCAPE_FUNCTIONS = {
    *("os.read", "os.write", "os.readv", "os.writev", "os.pread", "os.pwrite", "os.fdopen"),
    *("os.open", "os.dup", "os.dup2", "os.pipe", "os.sendfile", "os.system", "os.popen"),
    *("os.memfd_create", "os.posix_spawn", "os.posix_spawnp"),
}
ESCAPE_PREFIXES = ("os.exec", "os.spawn")
ALLOWED_PRIVATE = ("torch._foreach_",)  # torch's multi-tensor ops: building blocks, not Adam
REFLECTIVE_ATTRIBUTES = {
    *("__dict__", "__globals__", "__builtins__", "__code__", "__closure__", "__subclasses__"),
    *("__getattribute__", "__setattr__", "__delattr__", "f_globals", "f_locals", "f_back"),
}
PRIVATE_TORCH_ATTRIBUTES = {
    *("_C", "_disable_current_modes", "_functional", "_single_tensor_adam", "_multi_tensor_adam"),
    *("_fused_adam", "_fused_adamw", "_fused_adam_", "_fused_adamw_", "_dynamo", "_ops"),
}
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
LOOPS = (ast.For, ast.AsyncFor, ast.While, *COMPREHENSIONS)
LOOP_BUILTINS = {"map", "filter"}


@dataclass(frozen=True)
class Finding:
    """One thing the analysis found, in the learner's words."""

    line: int
    what: str  # e.g. "calls F.cross_entropy", "uses a Python loop (for)"
    kind: str  # "forbidden" | "private" | "reflective" | "patch" | "loop" | "missing"

    def __str__(self) -> str:
        return f"line {self.line} {self.what}" if self.line else self.what


def _is_main_guard(node: ast.stmt) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


def _targets(target: ast.AST) -> Iterator[str]:
    """The plain names a target binds (x, and a, b in `a, b = ...`)."""
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _targets(element)
    elif isinstance(target, ast.Starred):
        yield from _targets(target.value)


@dataclass
class _Scope:
    """A function, lambda, class or comprehension: the names bound in it, and to what."""

    node: ast.AST
    parent: _Scope | None
    values: dict[str, list[ast.AST]] = field(default_factory=dict)  # name -> what it is bound to
    imports: dict[str, str] = field(default_factory=dict)  # name -> dotted module path
    globals: set[str] = field(default_factory=set)

    def bind(self, name: str, value: ast.AST | None) -> None:
        self.values.setdefault(name, [])
        if value is not None:
            self.values[name].append(value)


class _Binder(ast.NodeVisitor):
    """Collects what a scope's own statements bind, without entering nested scopes."""

    def __init__(self, scope: _Scope, module_level: bool) -> None:
        self.scope = scope
        self.module_level = module_level

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            name = alias.asname or alias.name.split(".")[0]
            self.scope.imports[name] = alias.name if alias.asname else name
            self.scope.bind(name, None)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = "." * node.level + (node.module or "")
        for alias in node.names:
            name = alias.asname or alias.name
            self.scope.imports[name] = f"{base}.{alias.name}"
            self.scope.bind(name, None)

    def _assigned(self, targets: Iterable[ast.AST], value: ast.AST | None) -> None:
        for target in targets:
            for name in _targets(target):
                self.scope.bind(name, value)

    def visit_Assign(self, node: ast.Assign) -> None:
        self._assigned(node.targets, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._assigned([node.target], node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._assigned([node.target], node.value)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._assigned([node.target], node.value)
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        self._assigned([node.target], node.iter)
        self.generic_visit(node)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            if item.optional_vars is not None:
                self._assigned([item.optional_vars], item.context_expr)
        self.generic_visit(node)

    visit_AsyncWith = visit_With

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.scope.bind(node.name, node.type)
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        self.scope.globals.update(node.names)

    def visit_If(self, node: ast.If) -> None:
        if not (self.module_level and _is_main_guard(node)):
            self.generic_visit(node)

    def _nested(self, node: ast.AST) -> None:
        name = getattr(node, "name", None)
        if name is not None:
            self.scope.bind(name, node)
        for decorator in getattr(node, "decorator_list", []):
            self.visit(decorator)
        args = getattr(node, "args", None)
        if isinstance(args, ast.arguments):
            for default in [*args.defaults, *args.kw_defaults]:
                if default is not None:
                    self.visit(default)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = _nested

    def visit_ListComp(self, node: ast.AST) -> None:
        self.visit(node.generators[0].iter)  # the rest is the comprehension's own scope

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp


class Module:
    """A submission's module, parsed once; `reach` and `findings` for any of its names."""

    def __init__(self, source: str) -> None:
        self.tree = ast.parse(source)
        self.source = source
        self._lines = source.encode().splitlines(keepends=True)
        self._owner, self._nested = self._scopes()
        # nodes that are the base of an attribute chain (torch in torch.nn): judged as the chain
        self.chained = {
            id(node.value) for node in ast.walk(self.tree) if isinstance(node, ast.Attribute)
        }
        self.scopes: dict[int, _Scope] = {}
        self.top = self._scope(self.tree, None)
        self._global_writes()

    def _scope(self, node: ast.AST, parent: _Scope | None) -> _Scope:
        scope = _Scope(node, parent)
        self.scopes[id(node)] = scope
        binder = _Binder(scope, module_level=parent is None)
        if isinstance(node, ast.Module):
            for statement in node.body:
                binder.visit(statement)
        elif isinstance(node, COMPREHENSIONS):
            for generator in node.generators:
                binder._assigned([generator.target], generator.iter)
                for condition in generator.ifs:
                    binder.visit(condition)
            for part in ("elt", "key", "value"):
                if getattr(node, part, None) is not None:
                    binder.visit(getattr(node, part))
            for generator in node.generators[1:]:
                binder.visit(generator.iter)
        else:
            args = getattr(node, "args", None)
            if isinstance(args, ast.arguments):
                every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
                every += [a for a in (args.vararg, args.kwarg) if a is not None]
                for arg in every:
                    scope.bind(arg.arg, None)
            body = node.body if isinstance(node.body, list) else [node.body]
            for statement in body:
                binder.visit(statement)
        for child in self._nested.get(id(node), []):
            self._scope(child, scope)
        return scope

    def _scopes(self) -> tuple[dict[int, ast.AST], dict[int, list[ast.AST]]]:
        """Each node's innermost enclosing scope node (function, lambda, class, comprehension),
        and the scopes directly inside each scope node."""
        owners: dict[int, ast.AST] = {}
        nested: dict[int, list[ast.AST]] = {}
        todo = [(self.tree, self.tree)]
        while todo:
            node, owner = todo.pop()
            for child in ast.iter_child_nodes(node):
                owners[id(child)] = owner
                if isinstance(child, (*SCOPES, *COMPREHENSIONS)):
                    nested.setdefault(id(owner), []).append(child)
                    todo.append((child, child))
                else:
                    todo.append((child, owner))
        return owners, nested

    def _global_writes(self) -> None:
        """`global x; x = ...` inside a function binds the module's x too."""
        for scope in list(self.scopes.values()):
            for name in scope.globals:
                for value in scope.values.get(name, []):
                    self.top.bind(name, value)

    # -- resolving names -------------------------------------------------------------------

    def _lookup(self, name: str, scope: _Scope) -> _Scope | None:
        """The scope a name used in `scope` refers to (Python's rules; None: a builtin)."""
        current: _Scope | None = scope
        first = True
        while current is not None:
            is_class = isinstance(current.node, ast.ClassDef)
            if name in current.globals:
                return self.top if name in self.top.values else None
            if name in current.values and (first or not is_class):
                return current
            first = False
            current = current.parent
        return None

    def dotted(self, node: ast.AST, scope: _Scope, seen: frozenset[int] = frozenset()) -> set[str]:
        """The dotted names an expression may stand for, e.g. {"torch.nn.functional"}."""
        if id(node) in seen:
            return set()
        seen = seen | {id(node)}
        if isinstance(node, ast.Name):
            where = self._lookup(node.id, scope)
            if where is None:
                return {f"builtins.{node.id}"}
            found = set()
            if node.id in where.imports:
                found.add(where.imports[node.id])
            for value in where.values.get(node.id, []):
                if not isinstance(value, (*SCOPES,)):
                    found |= self.dotted(value, self._scope_of(value), seen)
            return found
        if isinstance(node, ast.Attribute):
            return {f"{base}.{node.attr}" for base in self.dotted(node.value, scope, seen)}
        name = _constant_attribute(node)
        if name is not None:
            assert isinstance(node, ast.Call)
            return {f"{base}.{name}" for base in self.dotted(node.args[0], scope, seen)}
        return set()

    def _scope_of(self, node: ast.AST) -> _Scope:
        owner = self._owner.get(id(node), self.tree)
        return self.scopes[id(owner)]

    # -- what a name reaches ---------------------------------------------------------------

    def bindings(self, name: str) -> list[ast.AST]:
        """Every module-level binding of `name`: defs, classes and assigned values."""
        return list(self.top.values.get(name, []))

    def reach(self, roots: Iterable[ast.AST]) -> list[ast.AST]:
        """The nodes reachable from `roots`: their code, and the module-level bindings of every
        name they use, transitively (each node once)."""
        seen: dict[int, ast.AST] = {}
        todo = list(roots)
        while todo:
            node = todo.pop()
            if id(node) in seen:
                continue
            seen[id(node)] = node
            for inner in ast.walk(node):
                if isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Load):
                    where = self._lookup(inner.id, self._scope_of(inner))
                    if where is not None:
                        todo += where.values.get(inner.id, [])
        return list(seen.values())

    def top_level(self) -> list[ast.stmt]:
        """The statements that run when the module is imported (a `__main__` block never)."""
        run = []
        for statement in self.tree.body:
            if _is_main_guard(statement):
                continue
            if isinstance(statement, SCOPES):
                run += getattr(statement, "decorator_list", [])
            else:
                run.append(statement)
        return run

    def segment(self, node: ast.AST) -> str:
        """The node's source text, on one line, for a message (ast's columns count bytes)."""
        lines = self._lines
        first, last = node.lineno - 1, node.end_lineno - 1
        start, end = node.col_offset, node.end_col_offset
        if first == last:
            text = lines[first][start:end]
        else:
            text = b"".join([lines[first][start:], *lines[first + 1 : last], lines[last][:end]])
        return " ".join(text.decode(errors="replace").split())[:80]


def _constant_attribute(node: ast.AST) -> str | None:
    """`getattr(x, "name")` (and hasattr, setattr, delattr): the constant name, else None."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in COMPUTED_NAME_BUILTINS
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
    ):
        return node.args[1].value
    return None


@dataclass(frozen=True)
class Rule:
    """What a kata's graded functions may not reach, or must.

    `forbidden`: dotted API names ("torch.nn.functional.cross_entropy"); their last part is
    also forbidden as an attribute of anything. `attributes`: more attribute names forbidden
    on anything ("softmax": x.softmax(-1)). `required`: the learner's own module-level
    functions the graded ones must call. `loop_free`: no Python loop, comprehension, map,
    filter or recursion.
    """

    functions: tuple[str, ...]
    forbidden: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    loop_free: bool = False

    @property
    def forbidden_attributes(self) -> set[str]:
        return {*self.attributes, *(name.rsplit(".", 1)[-1] for name in self.forbidden)}


def _escapes(name: str) -> bool:
    """A use of something that can reach past the analysis (os.read on a pipe, subprocess)."""
    head = name.split(".")[0]
    return head in ESCAPE_MODULES or name in ESCAPE_FUNCTIONS or name.startswith(ESCAPE_PREFIXES)


def _is_forbidden(name: str, rule: Rule) -> bool:
    return any(name == api or name.startswith(api + ".") for api in rule.forbidden)


def _is_private_torch(name: str) -> bool:
    parts = name.split(".")
    if parts[0] not in ("torch", "functorch") or name.startswith(ALLOWED_PRIVATE):
        return False
    if len(parts) > 1 and parts[1] == "ops":
        return True
    return any(p.startswith("_") and not (p.startswith("__") and p.endswith("__")) for p in parts)


def _findings(module: Module, nodes: Iterable[ast.AST], rule: Rule | None) -> Iterator[Finding]:
    """What the code in `nodes` does that breaks `rule` (None: only escapes and patches)."""
    attributes = rule.forbidden_attributes if rule else set()
    for root in nodes:
        for node in ast.walk(root):
            line = getattr(node, "lineno", 0)
            scope = module._scope_of(node)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                yield from _import_findings(node, rule, attributes)
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else []
                for target in [*targets, getattr(node, "target", None)]:
                    if isinstance(target, ast.Attribute) and _imported(module, target, scope):
                        yield Finding(line, f"changes {module.segment(target)}", "patch")
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                chained = id(node) in module.chained
                for name in module.dotted(node, scope):
                    yield from _name_findings(name, line, rule, attributes, chained)
            elif isinstance(node, ast.Attribute):
                yield from _attribute_findings(module, node, scope, rule, attributes)
            elif isinstance(node, ast.Call) and _is_builtin(module, node, scope):
                constant = _constant_attribute(node)
                if constant is None:
                    name = node.func.id  # type: ignore[attr-defined]
                    yield Finding(line, f"calls {name} with a computed name", "reflective")
                elif constant in REFLECTIVE_ATTRIBUTES or constant in attributes:
                    yield Finding(line, f"calls {module.segment(node)}", "forbidden")
            if rule and rule.loop_free and isinstance(node, LOOPS):
                yield Finding(line, f"uses a Python loop ({_LOOP_WORDS[type(node)]})", "loop")


_LOOP_WORDS = {
    ast.For: "for",
    ast.AsyncFor: "async for",
    ast.While: "while",
    ast.ListComp: "a list comprehension",
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension",
    ast.GeneratorExp: "a generator expression",
}


def _is_builtin(module: Module, node: ast.Call, scope: _Scope) -> bool:
    """A call of getattr, setattr, delattr or hasattr: Python's own, not a name of the module."""
    func = node.func
    return (
        isinstance(func, ast.Name)
        and func.id in COMPUTED_NAME_BUILTINS
        and module._lookup(func.id, scope) is None
    )


def _import_findings(
    node: ast.Import | ast.ImportFrom, rule: Rule | None, attributes: set[str]
) -> Iterator[Finding]:
    base = node.module or "" if isinstance(node, ast.ImportFrom) else ""
    for alias in node.names:
        name = f"{base}.{alias.name}" if base else alias.name
        if name.split(".")[0] in REFLECTIVE_MODULES:
            yield Finding(node.lineno, f"imports {name}", "reflective")
        elif rule and (_is_forbidden(name, rule) or name.rsplit(".", 1)[-1] in attributes):
            yield Finding(node.lineno, f"imports {name}", "forbidden")
        elif _is_private_torch(name):
            yield Finding(node.lineno, f"imports {name}, a private torch entry point", "private")


def _attribute_findings(
    module: Module, node: ast.Attribute, scope: _Scope, rule: Rule | None, attributes: set[str]
) -> Iterator[Finding]:
    def shown() -> str:
        return module.segment(node)

    if node.attr in REFLECTIVE_ATTRIBUTES:
        yield Finding(node.lineno, f"uses {shown()}", "reflective")
        return
    if node.attr in attributes:
        yield Finding(node.lineno, f"calls {shown()}", "forbidden")
        return
    if node.attr in PRIVATE_TORCH_ATTRIBUTES:
        yield Finding(node.lineno, f"uses {shown()}, a private torch entry point", "private")
        return
    if id(node) in module.chained:
        return  # judged as part of the whole chain (torch.func in torch.func.grad)
    for name in module.dotted(node, scope):
        if name in REFLECTIVE_NAMES:
            yield Finding(node.lineno, f"uses {shown()}", "reflective")
        elif rule and _is_forbidden(name, rule):
            yield Finding(node.lineno, f"calls {shown()}", "forbidden")
        elif _is_private_torch(name):
            yield Finding(node.lineno, f"uses {shown()}, a private torch entry point", "private")
        elif _escapes(name):
            yield Finding(node.lineno, f"uses {name}, which this kata does not need", "reflective")


def _imported(module: Module, node: ast.Attribute, scope: _Scope) -> bool:
    """Whether an attribute target belongs to something the module imported (torch.x = ...),
    not to an object of its own (self.x = ...)."""
    root: ast.AST = node
    while isinstance(root, ast.Attribute):
        root = root.value
    if not isinstance(root, ast.Name):
        return False
    where = module._lookup(root.id, scope)
    return where is not None and root.id in where.imports


def _name_findings(
    name: str, line: int, rule: Rule | None, attributes: set[str], chained: bool
) -> Iterator[Finding]:
    head, last = name.split(".")[0], name.rsplit(".", 1)[-1]
    if not chained and _escapes(name):
        yield Finding(line, f"uses {name}, which this kata does not need", "reflective")
    elif head == "builtins" and last in REFLECTIVE_BUILTINS:
        yield Finding(line, f"calls {last}()", "reflective")
    elif head in REFLECTIVE_MODULES - {"builtins"} or name in REFLECTIVE_NAMES:
        yield Finding(line, f"uses {name}", "reflective")
    elif rule and (_is_forbidden(name, rule) or (head != "builtins" and last in attributes)):
        yield Finding(line, f"calls {name}", "forbidden")
    elif _is_private_torch(name):
        yield Finding(line, f"uses {name}, a private torch entry point", "private")
    elif rule and rule.loop_free and head == "builtins" and last in LOOP_BUILTINS:
        yield Finding(line, f"uses {last}(), a Python loop", "loop")


@lru_cache(maxsize=64)
def parse(source: str) -> Module | None:
    """The analysis of a submission, made once however many checks ask (None: it does not
    parse, and importing it fails anyway)."""
    try:
        return Module(source)
    except (SyntaxError, ValueError, RecursionError):
        return None


@lru_cache(maxsize=256)
def check(source: str, rule: Rule) -> tuple[Finding, ...]:
    """Everything in the submission that breaks `rule`, in line order (empty: it holds)."""
    module = parse(source)
    if module is None:
        return ()
    found: list[Finding] = []
    roots = [node for name in rule.functions for node in module.bindings(name)]
    reached = module.reach(roots)
    found += _findings(module, reached, rule)
    found += _findings(module, module.reach(module.top_level()), None)
    if rule.loop_free:
        found += _recursion(module, rule)
    for root in roots:  # every binding must: a decoy that calls them does not count
        for name in rule.required:
            if not _calls(module, module.reach([root]), name):
                where = getattr(root, "lineno", 0)
                graded = getattr(root, "name", " and ".join(rule.functions))
                found.append(Finding(where, f"{graded} never calls your {name}", "missing"))
    first = {}  # one finding a line: the first the walk met
    for finding in found:
        first.setdefault(finding.line or finding.what, finding)
    return tuple(sorted(first.values(), key=lambda f: f.line))


def _calls(module: Module, reached: list[ast.AST], name: str) -> bool:
    """Whether reached code calls the module's own `name` (every binding of it a def)."""
    own = module.bindings(name)
    if not own or not all(isinstance(b, (ast.FunctionDef, ast.AsyncFunctionDef)) for b in own):
        return False
    for root in reached:
        for node in ast.walk(root):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == name
                and module._lookup(name, module._scope_of(node)) is module.top
            ):
                return True
    return False


def _recursion(module: Module, rule: Rule) -> Iterator[Finding]:
    """A function of the graded closure that reaches itself: a loop by another name."""
    for name in rule.functions:
        for root in module.bindings(name):
            functions = [
                node
                for node in module.reach([root])
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            ]
            for function in functions:
                inner = [n for n in ast.walk(function) if n is not function]
                if function in module.reach(inner):
                    yield Finding(function.lineno, f"{function.name} calls itself", "loop")
