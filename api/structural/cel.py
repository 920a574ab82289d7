"""CEL ``x-kubernetes-validations`` rules, on the maintained ``cel-python`` (celpy).

Kubernetes' apiextensions-apiserver/pkg/apiserver/schema/cel: a rule is compiled once per
schema node; ``self`` is the node's value converted by its schema (integer -> int, number ->
double, string formats byte/duration/date/date-time -> bytes/duration/timestamp, objects
with properties -> maps whose keys are escaped as Kubernetes does: ``foo-bar`` is
``self.foo__dash__bar``); ``oldSelf`` is the old object's value at the same place, for the
transition rules that name it (they run only on updates where the old value exists).

Functions available: CEL's standard set as celpy implements it (size, contains, startsWith,
endsWith, matches (RE2), the timestamp accessors, conversions, macros has/all/exists/
exists_one/map/filter) plus these Kubernetes library functions: strings (charAt, indexOf,
lastIndexOf, lowerAscii, upperAscii, replace, split, substring, trim, join), lists
(isSorted, sum, min, max, indexOf, lastIndexOf), regex (find, findAll), quantity
(quantity, isQuantity, add, sub, compareTo, isGreaterThan, isLessThan, sign, isInteger,
asInteger, asApproximateFloat), ip and cidr (ip, isIP, cidr, isCIDR, family, isLoopback,
isUnspecified, isLinkLocalMulticast, isLinkLocalUnicast, isGlobalUnicast, containsIP,
containsCIDR, prefixLength, masked; string() of them), url (url, isURL, getScheme, getHost,
getHostname, getPort, getEscapedPath, getQuery) (cellib.py), and under
``optionalOldSelf: true`` an optional oldSelf with hasValue(), value() and orValue().
Kubernetes' format library, general optionals (optional.of/none, ``?.``), cel.bind and
sets.* are not available; a rule that uses them fails to compile or evaluates to an
error. Field selections on self (and on all/exists/map/filter variables over its lists) are
checked against the schema at CRD validation ("undefined field 'x'"); other type errors
appear only when a rule runs.

Rules compile to closures (celfast) when they use only what it handles, else run on
celpy's interpreter; both have the same semantics (celpy's operators and types).

Cost: every evaluated operation and macro item counts one unit. A rule that spends more than
``PER_CALL_LIMIT`` units in one evaluation fails with Kubernetes' "call cost exceeds limit
for rule"; all rules of one validate() share ``RUNTIME_BUDGET`` units and a wall-clock
deadline, after which "validation failed due to running out of cost budget, no further
validation rules will be run" is reported and no further rule runs. A hostile rule can
therefore not hold the request path for longer than ``DEADLINE_SECONDS``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import functools
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import celpy
import lark
from celpy import celtypes
from celpy.evaluation import CELEvalError, Evaluator

from api.structural import celfast, cellib
from api.structural.schema import Node

PER_CALL_LIMIT = 100_000
RUNTIME_BUDGET = 400_000
DEADLINE_SECONDS = 1.0
MAX_RULE_LENGTH = 8192

REASONS = ("FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired",
           "FieldValueDuplicate")

# CEL's reserved words, escaped as __word__ when they name a property (Kubernetes'
# celReservedSymbols).
_RESERVED = frozenset({
    "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for",
    "function", "if", "import", "let", "loop", "package", "namespace", "return", "var",
    "void", "while",
})


def escape(name: str) -> str:
    """Kubernetes' property-name escaping for CEL (``a-b`` -> ``a__dash__b``)."""
    if name in _RESERVED:
        return f"__{name}__"
    out = name.replace("__", "__underscores__")
    out = out.replace(".", "__dot__").replace("-", "__dash__").replace("/", "__slash__")
    return out


class OutOfBudget(BaseException):
    """Raised from inside an evaluation when its cost limit or deadline is spent.

    A BaseException so that the library's ``except Exception`` handlers let it through."""

    def __init__(self, per_call: bool) -> None:
        super().__init__("cost")
        self.per_call = per_call


class Budget:
    """The shared cost state of one validate() call."""

    __slots__ = ("call_remaining", "deadline", "exhausted", "remaining")

    def __init__(self) -> None:
        self.remaining = RUNTIME_BUDGET
        self.call_remaining = PER_CALL_LIMIT
        self.deadline = time.monotonic() + DEADLINE_SECONDS
        self.exhausted = False

    def spend(self) -> None:
        self.remaining -= 1
        self.call_remaining -= 1
        if self.call_remaining <= 0:
            raise OutOfBudget(True)
        if self.remaining <= 0 or (self.remaining & 0xFF == 0
                                   and time.monotonic() > self.deadline):
            raise OutOfBudget(False)


class _CostedEvaluator(Evaluator):
    budget: Budget

    def visit(self, tree: lark.Tree[Any]) -> Any:
        self.budget.spend()
        return super().visit(tree)

    def sub_evaluator(self, ast: lark.Tree[Any]) -> Evaluator:
        e = _CostedEvaluator(ast, activation=self.activation)
        e.budget = self.budget
        return e


# ---- Kubernetes' CEL libraries (the parts that have a plain Python equivalent) ------


def _s(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError("no such overload")
    return v


def _char_at(s: Any, i: Any) -> celtypes.StringType:
    s, i = _s(s), int(i)
    if i < 0 or i > len(s):
        raise IndexError(f"index out of range: {i}")
    return celtypes.StringType(s[i:i + 1])


def _index_of(s: Any, sub: Any, start: Any = 0) -> celtypes.IntType:
    if isinstance(s, list):
        for i, v in enumerate(s):
            if v == sub:
                return celtypes.IntType(i)
        return celtypes.IntType(-1)
    return celtypes.IntType(_s(s).find(_s(sub), int(start)))


def _last_index_of(s: Any, sub: Any) -> celtypes.IntType:
    if isinstance(s, list):
        for i in range(len(s) - 1, -1, -1):
            if s[i] == sub:
                return celtypes.IntType(i)
        return celtypes.IntType(-1)
    return celtypes.IntType(_s(s).rfind(_s(sub)))


def _lower(s: Any) -> celtypes.StringType:
    return celtypes.StringType("".join(c.lower() if c.isascii() else c for c in _s(s)))


def _upper(s: Any) -> celtypes.StringType:
    return celtypes.StringType("".join(c.upper() if c.isascii() else c for c in _s(s)))


MAX_STRING = 1 << 20


def _bounded(s: str) -> celtypes.StringType:
    # replace() can grow a string geometrically with each call in a chain: a result
    # beyond MAX_STRING characters is an error instead of the server's memory
    if len(s) > MAX_STRING:
        raise ValueError(f"string result longer than {MAX_STRING} characters")
    return celtypes.StringType(s)


def _replace(s: Any, old: Any, new: Any, n: Any = -1) -> celtypes.StringType:
    src, a, b, k = _s(s), _s(old), _s(new), int(n)
    count = src.count(a) if a else len(src) + 1
    if k >= 0:
        count = min(count, k)
    if len(src) + count * (len(b) - len(a)) > MAX_STRING:
        raise ValueError(f"string result longer than {MAX_STRING} characters")
    return _bounded(src.replace(a, b, k))


def _split(s: Any, sep: Any, n: Any = -1) -> celtypes.ListType:
    n = int(n)
    if n == 0:
        return celtypes.ListType([])
    parts = _s(s).split(_s(sep), n - 1) if n > 0 else _s(s).split(_s(sep))
    return celtypes.ListType([celtypes.StringType(p) for p in parts])


def _substring(s: Any, start: Any, end: Any = None) -> celtypes.StringType:
    s = _s(s)
    a = int(start)
    b = len(s) if end is None else int(end)
    if a < 0 or b > len(s) or a > b:
        raise IndexError("index out of range")
    return celtypes.StringType(s[a:b])


def _trim(s: Any) -> celtypes.StringType:
    return celtypes.StringType(_s(s).strip())


def _join(lst: Any, sep: Any = "") -> celtypes.StringType:
    return _bounded(_s(sep).join(_s(x) for x in lst))


def _is_sorted(lst: Any) -> celtypes.BoolType:
    return celtypes.BoolType(all(lst[i] <= lst[i + 1] for i in range(len(lst) - 1)))


def _sum(lst: Any) -> Any:
    if not lst:
        return celtypes.IntType(0)
    total = lst[0]
    for v in lst[1:]:
        total = total + v
    return total


def _min(lst: Any) -> Any:
    if not lst:
        raise ValueError("min called on empty list")
    return min(lst)


def _max(lst: Any) -> Any:
    if not lst:
        raise ValueError("max called on empty list")
    return max(lst)


def _find(s: Any, pattern: Any) -> celtypes.StringType:
    import re2  # type: ignore[import-untyped]

    m = re2.search(_s(pattern), _s(s))
    return celtypes.StringType(m.group(0) if m else "")


def _find_all(s: Any, pattern: Any, n: Any = -1) -> celtypes.ListType:
    import re2

    out = [celtypes.StringType(m.group(0)) for m in re2.finditer(_s(pattern), _s(s))]
    n = int(n)
    return celtypes.ListType(out if n < 0 else out[:n])


class Optional:
    """oldSelf under ``optionalOldSelf: true``: Kubernetes' optional value, with the
    methods hasValue(), value() and orValue(default)."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v


def _has_value(o: Any) -> celtypes.BoolType:
    return celtypes.BoolType(isinstance(o, Optional) and o.v is not None)


def _value(o: Any) -> Any:
    if not isinstance(o, Optional):
        raise TypeError("no such overload")
    if o.v is None:
        raise ValueError("optional.none() dereference")
    return o.v


def _or_value(o: Any, default: Any) -> Any:
    if not isinstance(o, Optional):
        raise TypeError("no such overload")
    return o.v if o.v is not None else default


FUNCTIONS: dict[str, Any] = {
    **cellib.FUNCTIONS,
    "hasValue": _has_value, "value": _value, "orValue": _or_value,
    "charAt": _char_at, "indexOf": _index_of, "lastIndexOf": _last_index_of,
    "lowerAscii": _lower, "upperAscii": _upper, "replace": _replace, "split": _split,
    "substring": _substring, "trim": _trim, "join": _join, "isSorted": _is_sorted,
    "sum": _sum, "min": _min, "max": _max, "find": _find, "findAll": _find_all,
}

_ENV: celpy.Environment | None = None


def _env() -> celpy.Environment:
    global _ENV
    if _ENV is None:
        # celpy raises the interpreter's recursion limit when it builds an environment;
        # keep the process' limit as it was.
        limit = sys.getrecursionlimit()
        try:
            _ENV = celpy.Environment()
        finally:
            sys.setrecursionlimit(limit)
    return _ENV


class _Runner(celpy.InterpretedRunner):
    def run(self, context: Any, budget: Budget) -> Any:
        e = _CostedEvaluator(ast=self.ast, activation=self.new_activation())
        e.budget = budget
        with _deeper():
            return e.evaluate(context)


class _FastRunner:
    """A rule compiled to closures (celfast), run with the same interface as _Runner."""

    __slots__ = ("program",)

    def __init__(self, program: celfast.Program) -> None:
        self.program = program

    def run(self, context: Any, budget: Budget) -> Any:
        with _deeper():
            return self.program.run(context, budget)


Program = _Runner | _FastRunner


# The evaluator recurses a few frames per level of the expression's tree (MAX_TREE_DEPTH
# levels at most): the interpreter's recursion limit is raised by _EXTRA_FRAMES while
# any rule is compiled or evaluated, and put back by the last one to finish.
MAX_TREE_DEPTH = 1000
_EXTRA_FRAMES = 8000
_depth_lock = threading.Lock()
_depth_users = 0
_depth_base = 0


@contextlib.contextmanager
def _deeper() -> Iterator[None]:
    global _depth_users, _depth_base
    with _depth_lock:
        if _depth_users == 0:
            _depth_base = sys.getrecursionlimit()
            sys.setrecursionlimit(_depth_base + _EXTRA_FRAMES)
        _depth_users += 1
    try:
        yield
    finally:
        with _depth_lock:
            _depth_users -= 1
            if _depth_users == 0:
                sys.setrecursionlimit(_depth_base)


def _tree_depth(ast: Any) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(ast, 1)]
    while stack:
        t, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((c, d + 1) for c in t.children if isinstance(c, lark.Tree))
    return deepest


class CompileError(Exception):
    pass


def _snippet(text: str, line: int, column: int) -> str:
    """cel-go's error context: the source line and a caret under the column."""
    lines = text.split("\n")
    src = lines[line - 1] if 0 < line <= len(lines) else ""
    return f"\n | {src}\n | {'.' * max(column - 1, 0)}^"


def _error(text: str, line: int, column: int, msg: str) -> str:
    return f"ERROR: <input>:{line}:{column}: {msg}{_snippet(text, line, column)}"


_UNKNOWN = object()
_ROOT_FIELDS = frozenset({"apiVersion", "kind", "metadata"})


def _resolve(t: Any, env: dict[str, Node]) -> Any:
    """The schema node a member expression rooted at self/oldSelf (or a comprehension
    variable bound to list items) selects, or _UNKNOWN."""
    while isinstance(t, lark.Tree) and t.data in ("member", "primary") and len(t.children) == 1:
        t = t.children[0]
    if not isinstance(t, lark.Tree):
        return _UNKNOWN
    if t.data == "ident":
        tok = t.children[0]
        return env.get(tok.value, _UNKNOWN) if isinstance(tok, lark.Token) else _UNKNOWN
    if t.data == "member_dot" and len(t.children) == 2:
        base = _resolve(t.children[0], env)
        name = t.children[1]
        if not isinstance(base, Node) or not isinstance(name, lark.Token):
            return _UNKNOWN
        for k, sub in base.properties.items():
            if escape(k) == name.value:
                return sub
        return base.additional if base.additional is not None else _UNKNOWN
    if t.data == "member_index" and t.children:
        base = _resolve(t.children[0], env)
        if not isinstance(base, Node):
            return _UNKNOWN
        if base.items is not None:
            return base.items
        return base.additional if base.additional is not None else _UNKNOWN
    return _UNKNOWN


def _closed(n: Node) -> bool:
    """Whether selecting an unknown field of ``n`` is an error (a schema with fixed fields)."""
    return (n.type == "object" and not n.preserve_unknown and n.additional is None
            and not n.additional_any)


_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})


def _bare_ident(t: Any) -> str | None:
    while isinstance(t, lark.Tree) and len(t.children) == 1:
        if t.data == "ident":
            tok = t.children[0]
            return tok.value if isinstance(tok, lark.Token) else None
        t = t.children[0]
    return None


class _FieldChecker:
    def __init__(self, text: str, node: Node, root: bool) -> None:
        self.text = text
        self.node = node
        self.root = root
        self.out: list[str] = []

    def visit(self, t: Any, env: dict[str, Node], depth: int = 0) -> None:
        if not isinstance(t, lark.Tree) or depth > 500:
            return
        if t.data == "member_dot" and len(t.children) == 2:
            self._select(t, env)
        if t.data == "member_dot_arg" and len(t.children) == 3:
            method = t.children[1]
            args = t.children[2]
            if isinstance(method, lark.Token) and method.value in _MACROS and isinstance(
                    args, lark.Tree) and len(args.children) >= 2:
                var = _bare_ident(args.children[0])
                base = _resolve(t.children[0], env)
                self.visit(t.children[0], env, depth + 1)
                inner = dict(env)
                if var is not None:
                    inner.pop(var, None)
                    if isinstance(base, Node) and base.items is not None:
                        inner[var] = base.items
                for a in args.children[1:]:
                    self.visit(a, inner, depth + 1)
                return
        for c in t.children:
            self.visit(c, env, depth + 1)

    def _select(self, t: Any, env: dict[str, Node]) -> None:
        base = _resolve(t.children[0], env)
        name = t.children[1]
        if not isinstance(base, Node) or not isinstance(name, lark.Token) or not _closed(base):
            return
        if any(escape(k) == name.value for k in base.properties):
            return
        if ((base is self.node and self.root) or base.embedded) and name.value in _ROOT_FIELDS:
            return
        line = name.line or 1
        column = max((name.column or 1) - 1, 1)
        msg = _error(self.text, line, column, f"undefined field '{name.value}'")
        if msg not in self.out:
            self.out.append(msg)


def check_fields(ast: Any, text: str, node: Node, root: bool) -> list[str]:
    """Kubernetes' compile-time type check, for field selections: ``self.nope`` where the
    schema names no such property is "undefined field 'nope'" (also through list indexes
    and the all/exists/exists_one/map/filter variables bound to list items)."""
    c = _FieldChecker(text, node, root)
    c.visit(ast, {"self": node, "oldSelf": node})
    return c.out


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> tuple[Any, Program | None, bool, str]:
    """(ast, program, names oldSelf, "") or (None, None, False, the compile error): a rule's
    text is parsed once however many schemas (and validations of them) carry it."""
    if len(text) > MAX_RULE_LENGTH:
        return None, None, False, f"rule is longer than {MAX_RULE_LENGTH} characters"
    try:
        with _deeper():
            ast = _env().compile(text)
    except RecursionError:
        return None, None, False, _error(text, 1, 1, "max recursion depth exceeded")
    except Exception as e:
        line = getattr(e, "line", None) or 1
        column = getattr(e, "column", None) or 1
        lines = text.split("\n")
        src = lines[line - 1] if 0 < line <= len(lines) else ""
        near = src[column - 1:column] if 0 < column <= len(src) else ""
        detail = f"unexpected input '{near}'" if near.strip() else "mismatched input '<EOF>'"
        return None, None, False, _error(text, line, column, f"Syntax error: {detail}")
    if _tree_depth(ast) > MAX_TREE_DEPTH:
        return None, None, False, _error(text, 1, 1, "max recursion depth exceeded")
    uses_old = any(isinstance(c, lark.Token) and c.value == "oldSelf"
                   for t in ast.iter_subtrees() for c in t.children)
    program: Program
    try:
        with _deeper():
            program = _FastRunner(celfast.compile_tree(ast, FUNCTIONS))
    except (celfast.Unsupported, RecursionError):
        program = _Runner(_env(), ast, FUNCTIONS)
    return ast, program, uses_old, ""


def compile_expr(text: str, node: Node | None = None,
                 root: bool = False) -> tuple[Program, bool]:
    """(program, names oldSelf); raises CompileError with the message cel-go would give
    (``ERROR: <input>:1:6: ...`` and the source line), checking field selections on
    ``self`` against ``node`` when given."""
    ast, program, uses_old, err = _parse(text)
    if err or program is None:
        raise CompileError(err)
    if node is not None:
        errs = check_fields(ast, text, node, root)
        if errs:
            raise CompileError("\n".join(errs))
    return program, uses_old


@dataclass
class Rule:
    """One compiled x-kubernetes-validations entry."""

    rule: str
    program: Program | None
    uses_old: bool
    message: str = ""
    message_program: Program | None = None
    reason: str = "FieldValueInvalid"
    field_path: list[str] = field(default_factory=list)
    optional_old_self: bool = False
    error: str = ""  # compile error, reported by validate_crd_schema


def parse_field_path(fp: str) -> list[str] | None:
    """``.spec.foo['a.b']`` -> ["spec", "foo", "a.b"]; None when malformed."""
    out: list[str] = []
    i = 0
    n = len(fp)
    if not fp:
        return None
    while i < n:
        if fp[i] == ".":
            j = i + 1
            while j < n and fp[j] not in ".[":
                j += 1
            name = fp[i + 1:j]
            if not name:
                return None
            out.append(name)
            i = j
        elif fp.startswith("['", i):
            j = fp.find("']", i + 2)
            if j < 0:
                return None
            out.append(fp[i + 2:j])
            i = j + 2
        else:
            return None
    return out


def compile_rules(node: Node) -> None:
    """Attach the node's compiled rules (compile errors kept on the Rule)."""
    raw = node.raw.get("x-kubernetes-validations")
    if not isinstance(raw, list):
        return
    for r in raw:
        if not isinstance(r, Mapping):
            continue
        text = r.get("rule")
        text = text if isinstance(text, str) else ""
        rule = Rule(text, None, False)
        msg = r.get("message")
        rule.message = msg if isinstance(msg, str) else ""
        reason = r.get("reason")
        if isinstance(reason, str) and reason:
            rule.reason = reason
        fp = r.get("fieldPath")
        if isinstance(fp, str) and fp:
            rule.field_path = parse_field_path(fp) or []
        rule.optional_old_self = r.get("optionalOldSelf") is True
        if text.strip():
            try:
                rule.program, rule.uses_old = compile_expr(text)
            except CompileError as e:
                rule.error = str(e)
        me = r.get("messageExpression")
        if isinstance(me, str) and me.strip():
            try:
                rule.message_program, _ = compile_expr(me)
            except CompileError as e:
                rule.error = rule.error or f"messageExpression compilation failed: {e}"
        node.rules.append(rule)


# ---- JSON -> CEL values by schema --------------------------------------------------


def _timestamp(v: str, date_only: bool) -> Any:
    try:
        if date_only:
            d = datetime.date.fromisoformat(v)
            return celtypes.TimestampType(datetime.datetime(d.year, d.month, d.day,
                                                            tzinfo=datetime.UTC))
        return celtypes.TimestampType(v)
    except Exception:
        return celtypes.StringType(v)


def _string(v: str, fmt: str) -> Any:
    if fmt == "byte":
        try:
            return celtypes.BytesType(base64.b64decode(v, validate=True))
        except (binascii.Error, ValueError):
            return celtypes.StringType(v)
    if fmt == "duration":
        try:
            return celtypes.DurationType(v)
        except Exception:
            return celtypes.StringType(v)
    if fmt in ("date-time", "datetime"):
        return _timestamp(v, False)
    if fmt == "date":
        return _timestamp(v, True)
    return celtypes.StringType(v)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_new_str = str.__new__
_new_int = int.__new__
_new_float = float.__new__
_S = celtypes.StringType
_I = celtypes.IntType
_D = celtypes.DoubleType
_key_cache: dict[str, Any] = {}


def _key(k: str) -> Any:
    """A map key as a StringType, cached (keys repeat from object to object)."""
    v = _key_cache.get(k)
    if v is None:
        if len(_key_cache) > 10_000:
            _key_cache.clear()
        v = _key_cache[k] = _new_str(_S, k)
    return v


_prop_cache: dict[str, Any] = {}


def _prop_key(k: str) -> Any:
    """A property name as its escaped StringType key, cached."""
    v = _prop_cache.get(k)
    if v is None:
        if len(_prop_cache) > 10_000:
            _prop_cache.clear()
        v = _prop_cache[k] = _new_str(_S, escape(k))
    return v


def _map(out: dict[Any, Any]) -> Any:
    # MapType's constructor re-checks and re-inserts every item; a dict update copies
    # the stored hashes
    m = dict.__new__(celtypes.MapType)
    dict.update(m, out)
    return m


def to_cel(v: Any, s: Node | None, root: bool = False) -> Any:
    """A JSON value as CEL sees it under schema ``s`` (the celtypes built directly: their
    constructors' checks cost more than the rest of a rule's evaluation)."""
    t = type(v)
    if t is str:
        if s is not None and s.format:
            return _string(v, s.format)
        return _new_str(_S, v)
    if t is int:
        if s is not None and s.type == "number":
            return _new_float(_D, float(v))
        if _INT64_MIN <= v <= _INT64_MAX:
            return _new_int(_I, v)
        return celtypes.IntType(v)
    if t is dict:
        out: dict[Any, Any] = {}
        if s is not None and s.properties and s.additional is None:
            props = s.properties
            for k, x in v.items():
                if root and k == "metadata" and isinstance(x, dict):
                    out[_key("metadata")] = _map({
                        _key(m): _new_str(_S, x[m])
                        for m in ("name", "generateName") if isinstance(x.get(m), str)})
                    continue
                out[_prop_key(str(k))] = to_cel(x, props.get(k))
        else:
            for k, x in v.items():
                out[_key(str(k))] = to_cel(x, s.child(k) if s else None)
        return _map(out)
    if t is list:
        item = s.items if s is not None else None
        return celtypes.ListType([to_cel(x, item) for x in v])
    if v is None:
        return None
    if t is bool:
        return celtypes.BoolType(v)
    if t is float:
        if s is not None and s.type == "integer" and v.is_integer():
            return to_cel(int(v), s)
        return _new_float(_D, v)
    # subclasses of the JSON types
    if isinstance(v, bool):
        return celtypes.BoolType(bool(v))
    if isinstance(v, int):
        return to_cel(int(v), s, root)
    if isinstance(v, float):
        return to_cel(float(v), s, root)
    if isinstance(v, str):
        return to_cel(str(v), s, root)
    if isinstance(v, list):
        return to_cel(list(v), s, root)
    if isinstance(v, Mapping):
        return to_cel(dict(v), s, root)
    return None


def _detail(rule: Rule, budget: Budget, ctx: dict[str, Any]) -> str:
    if rule.message:
        default = rule.message
    else:
        default = "failed rule: " + rule.rule.strip()
    if rule.message_program is not None:
        budget.call_remaining = PER_CALL_LIMIT
        try:
            m = rule.message_program.run(ctx, budget)
        except OutOfBudget as e:
            if e.per_call:
                return default
            raise
        except (CELEvalError, Exception):
            return default
        if isinstance(m, str) and m.strip() and "\n" not in m:
            return str(m)
    return default


def evaluate(rule: Rule, ctx: dict[str, Any], budget: Budget) -> tuple[bool, str]:
    """(passed, detail). Raises OutOfBudget(False) when the shared budget is spent."""
    assert rule.program is not None
    budget.call_remaining = PER_CALL_LIMIT
    try:
        r = rule.program.run(ctx, budget)
    except OutOfBudget as e:
        if e.per_call:
            return False, "call cost exceeds limit for rule: " + rule.rule.strip()
        raise
    except CELEvalError as e:
        msg = e.args[0] if e.args else str(e)
        return False, f"{msg} evaluating rule: {rule.rule.strip()}"
    except RecursionError:
        return False, f"expression nested too deeply evaluating rule: {rule.rule.strip()}"
    except Exception as e:
        return False, f"{e} evaluating rule: {rule.rule.strip()}"
    if not isinstance(r, celtypes.BoolType):
        return False, ("rule did not evaluate to a boolean evaluating rule: "
                       + rule.rule.strip())
    if bool(r):
        return True, ""
    return False, _detail(rule, budget, ctx)
