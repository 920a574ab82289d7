"""kubectl's JSONPath templates (client-go ``util/jsonpath``), parsed and run on wire dicts.

A port, quirks included, because people paste templates that work with kubectl: ``range`` and
``end`` are a state machine over the top-level nodes rather than a block structure, a dict key
``['a.b']`` is split on its dots like a field path (``\\.`` escapes a dot), ``[n]`` on a map
is an error while ``.*`` is not, and numbers compare only with numbers of the same kind (an
integer field never equals ``80.0``). Values print as Go prints them: maps and lists as Go's
JSON, scalars with ``fmt.Print`` (``true``, ``1e+06``, ``null``). Pure functions, no I/O.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

_EOF = ""


class JsonPathError(Exception):
    """A template that cannot be parsed, or that failed on the data it was given."""


class ParseError(JsonPathError):
    pass


class ExecError(JsonPathError):
    pass


# ---- nodes --------------------------------------------------------------------------------
# eq=False: the range machinery finds "the last end node seen" by identity, as client-go
# compares addresses of slice elements.


@dataclass(eq=False)
class ListNode:
    nodes: list[Node] = field(default_factory=list)


@dataclass(eq=False)
class TextNode:
    text: str


@dataclass(eq=False)
class FieldNode:
    name: str


@dataclass(eq=False)
class IdentifierNode:
    name: str


@dataclass
class Param:
    value: int = 0
    known: bool = False
    derived: bool = False


@dataclass(eq=False)
class ArrayNode:
    params: tuple[Param, Param, Param]


@dataclass(eq=False)
class FilterNode:
    left: ListNode
    right: ListNode
    operator: str


@dataclass(eq=False)
class IntNode:
    value: int


@dataclass(eq=False)
class FloatNode:
    value: float


@dataclass(eq=False)
class BoolNode:
    value: bool


@dataclass(eq=False)
class WildcardNode:
    pass


@dataclass(eq=False)
class RecursiveNode:
    pass


@dataclass(eq=False)
class UnionNode:
    nodes: list[ListNode]


Node = (ListNode | TextNode | FieldNode | IdentifierNode | ArrayNode | FilterNode | IntNode
        | FloatNode | BoolNode | WildcardNode | RecursiveNode | UnionNode)


# ---- parser -------------------------------------------------------------------------------

_DICT_KEY = re.compile(r"'([^']*)'")
_SLICE = re.compile(r"(-?\d*)(:-?\d*)?(:-?\d*)?", re.ASCII)
_FILTER = re.compile(r"([^!<>=]+)([!<>=]+)(.+?)")
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")


def _is_terminator(r: str) -> bool:
    return r in (_EOF, " ", "\t", "\r", "\n", ".", ",", "[", "]", "$", "@", "{", "}")


def _is_alnum(r: str) -> bool:
    return r == "_" or r.isalpha() or r.isdigit()


def _go_rune(r: str) -> str:
    """Go's ``%#U``: ``U+002A '*'``."""
    code = f"U+{ord(r):04X}"
    return f"{code} '{r}'" if r.isprintable() else code


class _Parser:
    def __init__(self, text: str) -> None:
        self.input = text
        self.root = ListNode()
        self.pos = 0
        self.start = 0

    def parse(self) -> ListNode:
        self._text(self.root)
        return self.root

    def _consume(self) -> str:
        value = self.input[self.start:self.pos]
        self.start = self.pos
        return value

    def _next(self) -> str:
        if self.pos >= len(self.input):
            return _EOF
        r = self.input[self.pos]
        self.pos += 1
        return r

    def _peek(self) -> str:
        return self.input[self.pos] if self.pos < len(self.input) else _EOF

    def _backup(self, r: str) -> None:
        if r != _EOF:
            self.pos -= 1

    def _text(self, cur: ListNode) -> None:
        # Iterative where client-go recurses: a long template must not hit Python's limit.
        while True:
            brace = self.input.find("{", self.pos)
            if brace < 0:
                self.pos = len(self.input)
                if self.pos > self.start:
                    cur.nodes.append(TextNode(self._consume()))
                return
            self.pos = brace
            if self.pos > self.start:
                cur.nodes.append(TextNode(self._consume()))
            self.pos += 1
            self._consume()
            action = ListNode()
            cur.nodes.append(action)
            self._inside(action)

    def _inside(self, cur: ListNode) -> None:
        """One action up to its closing brace (consumed)."""
        while True:
            rest = self.input[self.pos:]
            if rest.startswith("}"):
                self.pos += 1
                self._consume()
                return
            if rest.startswith("[?("):
                self._filter(cur)
                continue
            if rest.startswith(".."):
                self._recursive(cur)
                continue
            r = self._next()
            if r == _EOF or r in "\r\n":
                raise ParseError("unclosed action")
            if r in " @$":
                self._consume()
            elif r == "[":
                self._array(cur)
            elif r in "\"'":
                self._quote(cur, r)
            elif r == ".":
                self._field(cur)
            elif r in "+-" or r.isdigit():
                self._backup(r)
                self._number(cur)
            elif _is_alnum(r):
                self._backup(r)
                self._identifier(cur)
            else:
                raise ParseError(f"unrecognized character in action: {_go_rune(r)}")

    def _identifier(self, cur: ListNode) -> None:
        while True:
            r = self._next()
            if _is_terminator(r):
                self._backup(r)
                break
        value = self._consume()
        if value in ("true", "false"):
            cur.nodes.append(BoolNode(value == "true"))
        else:
            cur.nodes.append(IdentifierNode(value))

    def _recursive(self, cur: ListNode) -> None:
        if cur.nodes and isinstance(cur.nodes[-1], RecursiveNode):
            raise ParseError("invalid multiple recursive descent")
        self.pos += 2
        self._consume()
        cur.nodes.append(RecursiveNode())
        if _is_alnum(self._peek()):
            self._field(cur)

    def _number(self, cur: ListNode) -> None:
        if self._peek() in ("+", "-"):
            self._next()
        while True:
            r = self._next()
            if r != "." and not r.isdigit():
                self._backup(r)
                break
        value = self._consume()
        if _INT.fullmatch(value):
            cur.nodes.append(IntNode(int(value)))
        elif _FLOAT.fullmatch(value):
            cur.nodes.append(FloatNode(float(value)))
        else:
            raise ParseError(f"cannot parse number {value}")

    def _array(self, cur: ListNode) -> None:
        while True:
            r = self._next()
            if r in (_EOF, "\n"):
                raise ParseError("unterminated array")
            if r == "]":
                break
        text = self._consume()[1:-1]
        if text == "*":
            text = ":"
        parts = text.split(",")
        if len(parts) > 1:
            cur.nodes.append(UnionNode([_action(f"[{p.strip(' ')}]") for p in parts]))
            return
        key = _DICT_KEY.fullmatch(text)
        if key:
            cur.nodes.extend(_action(f".{key.group(1)}").nodes)
            return
        m = _SLICE.fullmatch(text)
        if m is None:
            raise ParseError(f"invalid array index {text}")
        params = (Param(), Param(), Param())
        for i in range(3):
            raw = m.group(i + 1) or ""
            if raw:
                if i > 0:
                    raw = raw[1:]
                if i > 0 and raw == "":
                    params[i].known = False
                else:
                    if not _INT.fullmatch(raw):
                        raise ParseError(f"array index {raw} is not a number")
                    params[i].known = True
                    params[i].value = int(raw)
            elif i == 1:
                # [n] is the slice [n:n+1], marked so that [-1] still means the last element.
                params[i].known = True
                params[i].value = params[0].value + 1
                params[i].derived = True
        cur.nodes.append(ArrayNode(params))

    def _filter(self, cur: ListNode) -> None:
        self.pos += 3
        self._consume()
        begin = end = False
        pair = ""
        while True:
            r = self._next()
            if r in (_EOF, "\n"):
                raise ParseError("unterminated filter")
            if r in "\"'":
                if not begin:
                    begin = True
                    pair = r
                    continue
                if self.input[self.pos - 2] != "\\" and r == pair:
                    end = True
            elif r == ")" and begin == end:
                break
        if self._next() != "]":
            raise ParseError("unclosed array expect ]")
        text = self._consume()[:-2]
        m = _FILTER.fullmatch(text)
        if m is None:
            cur.nodes.append(FilterNode(_action(text), ListNode(), "exists"))
        else:
            cur.nodes.append(FilterNode(_action(m.group(1)), _action(m.group(3)), m.group(2)))

    def _quote(self, cur: ListNode, end: str) -> None:
        while True:
            r = self._next()
            if r in (_EOF, "\n"):
                raise ParseError("unterminated quoted string")
            if r == end and self.input[self.pos - 2] != "\\":
                break
        value = self._consume()
        try:
            cur.nodes.append(TextNode(_unquote(value)))
        except ValueError:
            raise ParseError(f"unquote string {value} error invalid syntax") from None

    def _field(self, cur: ListNode) -> None:
        self._consume()
        while True:
            r = self._next()
            if r == "\\":
                self._next()
            elif _is_terminator(r):
                self._backup(r)
                break
        value = self._consume()
        if value == "*":
            cur.nodes.append(WildcardNode())
        else:
            cur.nodes.append(FieldNode(value.replace("\\", "")))


def _action(text: str) -> ListNode:
    """client-go's parseAction: ``text`` parsed as the inside of one ``{...}``."""
    root = _Parser("{" + text + "}").parse()
    first = root.nodes[0]
    assert isinstance(first, ListNode)
    return first


_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
                   "v": "\v", "\\": "\\"}


def _unquote(s: str) -> str:
    """client-go's UnquoteExtend: Go's strconv.Unquote, single quotes allowed too."""
    if len(s) < 2 or s[0] != s[-1] or s[0] not in "\"'":
        raise ValueError(s)
    quote, body = s[0], s[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == quote:
            raise ValueError(s)
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError(s)
        e = body[i + 1]
        i += 2
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
        elif e == quote:
            out.append(e)
        elif e in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i:i + n]
            if len(digits) != n or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                raise ValueError(s)
            code = int(digits, 16)
            if e != "x" and (code > 0x10FFFF or 0xD800 <= code < 0xE000):
                raise ValueError(s)
            out.append(chr(code))
            i += n
        elif e in "01234567":
            digits = body[i - 1:i + 2]
            if len(digits) != 3 or not re.fullmatch(r"[0-7]{3}", digits) or int(digits, 8) > 255:
                raise ValueError(s)
            out.append(chr(int(digits, 8)))
            i += 2
        else:
            raise ValueError(s)
    return "".join(out)


@dataclass(eq=False)
class Template:
    text: str
    root: ListNode


def parse(text: str) -> Template:
    """Parses a kubectl JSONPath template; raises ParseError with client-go's wording."""
    try:
        return Template(text, _Parser(text).parse())
    except RecursionError:
        raise ParseError("template nests too deeply") from None


_RELAXED = re.compile(r"\{\.?([^{}]+)\}|\.?([^{}]+)")


def relaxed(expr: str) -> str:
    """kubectl's RelaxedJSONPathExpression (custom columns): ``a.b``, ``.a.b``, ``{a.b}``
    and ``{.a.b}`` all mean ``{.a.b}``."""
    if not expr:
        return expr
    m = _RELAXED.fullmatch(expr)
    if m is None:
        raise ParseError("unexpected path string, expected a 'name1.name2' or '.name1.name2' "
                         "or '{name1.name2}' or '{.name1.name2}'")
    return "{." + (m.group(1) or m.group(2)) + "}"


# ---- evaluation ---------------------------------------------------------------------------


def _go_type(v: Any) -> str:
    """The Go type name client-go's errors show for a value decoded from JSON."""
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, list):
        return "[]interface {}"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int64"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    return "interface {}"


def _children(v: Any) -> list[Any]:
    if isinstance(v, dict):
        # Go ranges over a map in random order; sorted keys make the output stable.
        return [v[k] for k in sorted(v)]
    if isinstance(v, list):
        return list(v)
    if isinstance(v, str):
        return list(v.encode())
    return []


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    raise ExecError("invalid type for comparison")


def _compare(op: str, left: Any, right: Any) -> bool:
    """text/template's eq/ne/lt/le/gt/ge: same basic kind only, bools only for (in)equality."""
    if op not in ("==", "!=", "<", "<=", ">", ">="):
        raise ExecError(f"unrecognized filter operator {op}")
    lk, rk = _kind(left), _kind(right)
    if lk != rk:
        raise ExecError("incompatible types for comparison")
    if op in ("==", "!="):
        return bool(left == right) == (op == "==")
    if lk == "bool":
        raise ExecError("invalid type for comparison")
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


class _Executor:
    def __init__(self, allow_missing: bool) -> None:
        self.allow_missing = allow_missing
        self.begin_range = 0
        self.in_range = 0
        self.end_range = 0
        self.last_end: Node | None = None

    def find(self, data: Any, nodes: list[Node]) -> list[list[Any]]:
        """client-go's FindResults: each top-level node's results; ``range`` re-runs the
        nodes after it once per result, up to the matching ``end``."""
        cur = [data]
        full: list[list[Any]] = []
        i = 0
        while i < len(nodes):
            node = nodes[i]
            results = self.walk(cur, node)
            if self.end_range > 0 and self.end_range <= self.in_range:
                self.end_range -= 1
                self.last_end = node
                break
            if self.begin_range > 0:
                self.begin_range -= 1
                self.in_range += 1
                rest = nodes[i + 1:]
                if results:
                    for value in results:
                        full.extend(self.find(value, rest))
                else:
                    # Still walk the body once so that its end is found.
                    self.find(None, rest)
                self.in_range -= 1
                for k in range(i + 1, len(nodes)):
                    if nodes[k] is self.last_end:
                        i = k
                        break
                i += 1
                continue
            full.append(results)
            i += 1
        return full

    def walk(self, values: list[Any], node: Node) -> list[Any]:
        if isinstance(node, ListNode):
            return self.eval_list(values, node)
        if isinstance(node, TextNode):
            return [node.text]
        if isinstance(node, FieldNode):
            return self.eval_field(values, node)
        if isinstance(node, ArrayNode):
            return self.eval_array(values, node)
        if isinstance(node, FilterNode):
            return self.eval_filter(values, node)
        if isinstance(node, IntNode | FloatNode | BoolNode):
            return [node.value for _ in values]
        if isinstance(node, WildcardNode):
            return [c for v in values if v is not None for c in _children(v)]
        if isinstance(node, RecursiveNode):
            return self.eval_recursive(values)
        if isinstance(node, UnionNode):
            return [r for n in node.nodes for r in self.eval_list(values, n)]
        return self.eval_identifier(values, node)

    def eval_list(self, values: list[Any], node: ListNode) -> list[Any]:
        for n in node.nodes:
            values = self.walk(values, n)
        return values

    def eval_identifier(self, values: list[Any], node: IdentifierNode) -> list[Any]:
        if node.name == "range":
            self.begin_range += 1
            return values
        if node.name == "end":
            if self.in_range > 0:
                self.end_range += 1
                return []
            raise ExecError("not in range, nothing to end")
        raise ExecError(f"unrecognized identifier {node.name}")

    def eval_field(self, values: list[Any], node: FieldNode) -> list[Any]:
        if not values:
            return []
        results = [v[node.name] for v in values if isinstance(v, dict) and node.name in v]
        if not results and not self.allow_missing:
            raise ExecError(f"{node.name} is not found")
        return results

    def eval_array(self, values: list[Any], node: ArrayNode) -> list[Any]:
        result: list[Any] = []
        for value in values:
            if value is None:
                continue
            if not isinstance(value, list):
                raise ExecError(f"{_go_type(value)} is not array or slice")
            n = len(value)
            p0, p1, p2 = node.params
            start = p0.value if p0.known else 0
            if start < 0:
                start += n
            stop = p1.value if p1.known else n
            if stop < 0 or (stop == 0 and p1.derived):
                stop += n
            if stop == start:
                # client-go returns here, even when later inputs would have had elements.
                return result
            if start >= n or start < 0:
                raise ExecError(f"array index out of bounds: index {start}, length {n}")
            if stop > n or stop < 0:
                raise ExecError(f"array index out of bounds: index {stop - 1}, length {n}")
            if start > stop:
                raise ExecError(f"starting index {start} is greater than ending index {stop}")
            step = 1
            if p2.known:
                if p2.value <= 0:
                    raise ExecError("step must be > 0")
                step = p2.value
            result.extend(value[start:stop:step])
        return result

    def eval_filter(self, values: list[Any], node: FilterNode) -> list[Any]:
        results: list[Any] = []
        for value in values:
            if not isinstance(value, list):
                raise ExecError(f"{go_sprint(value)} is not array or slice and cannot be "
                                "filtered")
            for item in value:
                if node.operator == "exists":
                    try:
                        lefts = self.eval_list([item], node.left)
                    except ExecError:
                        lefts = []
                    if lefts:
                        results.append(item)
                    continue
                lefts = self.eval_list([item], node.left)
                if not lefts:
                    continue
                if len(lefts) > 1:
                    raise ExecError("can only compare one element at a time")
                rights = self.eval_list([item], node.right)
                if not rights:
                    continue
                if len(rights) > 1:
                    raise ExecError("can only compare one element at a time")
                if _compare(node.operator, lefts[0], rights[0]):
                    results.append(item)
        return results

    def eval_recursive(self, values: list[Any]) -> list[Any]:
        result: list[Any] = []
        for value in values:
            if value is None:
                continue
            children = _children(value)
            if children:
                result.append(value)
                result.extend(self.eval_recursive(children))
        return result


def find_results(tmpl: Template, data: Any, *, allow_missing: bool = True) -> list[list[Any]]:
    """The values each top-level part of the template selects (what custom columns print)."""
    try:
        return _Executor(allow_missing).find(data, tmpl.root.nodes)
    except RecursionError:
        raise ExecError("template nests too deeply") from None


def execute(tmpl: Template, data: Any, *, allow_missing: bool = True,
            as_json: bool = False) -> str:
    """What ``kubectl -o jsonpath=TEMPLATE`` prints for ``data`` (no newline added).

    With ``as_json`` (``-o jsonpath-as-json``), each part's results print as one indented
    JSON array."""
    out: list[str] = []
    try:
        for results in find_results(tmpl, data, allow_missing=allow_missing):
            if as_json:
                out.append(go_json(results, indent="    ") + "\n")
            else:
                out.append(" ".join(go_json(r) if isinstance(r, dict | list) else go_print(r)
                                    for r in results))
    except RecursionError:
        raise ExecError("value nests too deeply to print") from None
    return "".join(out)


def column(tmpl: Template, data: Any) -> str:
    """One custom-columns cell: every value the path selects, Go-printed, comma-joined;
    ``<none>`` first when the first part selects nothing."""
    results = find_results(tmpl, data, allow_missing=True)
    try:
        values = [go_sprint(v) for r in results for v in r]
    except RecursionError:
        raise ExecError("value nests too deeply to print") from None
    if not results or not results[0]:
        values.insert(0, "<none>")
    # kubectl's EscapeTerminal: no escape sequences reach the terminal from an object.
    return ",".join(values).replace("\x1b", "^[").replace("\r", "\\r")


def json_round_trip(v: Any) -> Any:
    """``v`` after Go's json.Marshal and a decode that keeps integers as int64, which is what
    kubectl's List of several objects goes through: ``2.0`` comes back as ``2``, so it
    prints ``1000000`` where a single object's float prints ``1e+06``."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**63:
        return int(v)
    if isinstance(v, dict):
        return {k: json_round_trip(x) for k, x in v.items()}
    if isinstance(v, list):
        return [json_round_trip(x) for x in v]
    return v


# ---- Go's formatting ----------------------------------------------------------------------


def _digits(f: float) -> tuple[str, int]:
    """Shortest decimal digits of abs(f) and the decimal point's position (Go's decimal)."""
    sign_digits_exp = Decimal(repr(abs(f))).as_tuple()
    digits = "".join(str(d) for d in sign_digits_exp.digits).lstrip("0")
    exp = int(sign_digits_exp.exponent)
    stripped = digits.rstrip("0")
    exp += len(digits) - len(stripped)
    return stripped or "0", len(stripped) + exp


def _exp_form(digits: str, dp: int) -> str:
    x = dp - 1
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{mant}e{'+' if x >= 0 else '-'}{abs(x):02d}"


def _fixed_form(digits: str, dp: int) -> str:
    if dp <= 0:
        return "0." + "0" * -dp + digits
    if dp >= len(digits):
        return digits + "0" * (dp - len(digits))
    return digits[:dp] + "." + digits[dp:]


def go_float(f: float) -> str:
    """Go's ``%v`` for a float64: shortest digits, exponent form from 1e+06 and below 1e-04."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    sign = "-" if math.copysign(1, f) < 0 else ""
    if f == 0:
        return sign + "0"
    digits, dp = _digits(f)
    x = dp - 1
    return sign + (_exp_form(digits, dp) if x < -4 or x >= 6 else _fixed_form(digits, dp))


def _json_float(f: float) -> str:
    if math.isnan(f) or math.isinf(f):
        raise ExecError(f"json: unsupported value: {go_float(f)}")
    sign = "-" if f < 0 else ""
    if f == 0:
        return "0"
    digits, dp = _digits(f)
    if abs(f) < 1e-6 or abs(f) >= 1e21:
        text = _exp_form(digits, dp)
        text = re.sub(r"e-0(\d)$", r"e-\1", text)
        return sign + text
    return sign + _fixed_form(digits, dp)


def _json_string(s: str) -> str:
    out = ['"']
    for c in s:
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif c in "<>&\u2028\u2029" or ord(c) < 0x20:
            # Go's json.Marshal escapes HTML characters too.
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def go_json(v: Any, indent: str | None = None, _level: int = 0) -> str:
    """Go's ``json.Marshal`` (or ``MarshalIndent`` with ``indent``) of decoded JSON."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _json_float(v)
    if isinstance(v, str):
        return _json_string(v)
    if isinstance(v, dict):
        items = [(_json_string(str(k)), v[k]) for k in sorted(v, key=str)]
        if not items:
            return "{}"
        if indent is None:
            return "{" + ",".join(f"{k}:{go_json(x)}" for k, x in items) + "}"
        pad, inner = indent * _level, indent * (_level + 1)
        body = ",\n".join(f"{inner}{k}: {go_json(x, indent, _level + 1)}" for k, x in items)
        return "{\n" + body + "\n" + pad + "}"
    if isinstance(v, list | tuple):
        if not v:
            return "[]"
        if indent is None:
            return "[" + ",".join(go_json(x) for x in v) + "]"
        pad, inner = indent * _level, indent * (_level + 1)
        body = ",\n".join(inner + go_json(x, indent, _level + 1) for x in v)
        return "[\n" + body + "\n" + pad + "]"
    return _json_string(str(v))


def go_print(v: Any) -> str:
    """How client-go's jsonpath prints one scalar result (``fmt.Fprint``; nil as ``null``)."""
    if v is None:
        return "null"
    return go_sprint(v)


def go_sprint(v: Any) -> str:
    """Go's ``fmt.Sprint`` of decoded JSON: ``map[a:b c:[1 2]]``, ``<nil>``, ``1e+06``."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{go_sprint(v[k])}" for k in sorted(v, key=str)) + "]"
    if isinstance(v, list | tuple):
        return "[" + " ".join(go_sprint(x) for x in v) + "]"
    return str(v)
