"""Label selectors: Kubernetes' string form, LabelSelector objects, and matching.

The string grammar is k8s.io/apimachinery/pkg/labels: ``app=web``, ``app==web``,
``tier!=db``, ``env in (a,b)``, ``env notin (c)``, ``exists``, ``!legacy``, and
``n>1`` / ``n<1``, comma meaning AND.  Requirements are kept sorted by key, so
``str(parse_selector(s))`` is the canonical form that Kubernetes prints.

nil versus empty follows Kubernetes (``metav1.LabelSelectorAsSelector``):
``from_label_selector(None)`` matches nothing, an empty ``LabelSelector`` (no
matchLabels, no matchExpressions) matches everything.  The empty string parses to
the selector that matches everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from api.models.meta import LabelSelector, LabelSelectorRequirement
from api.names import is_qualified_name, is_valid_label_value

__all__ = [
    "EVERYTHING",
    "NOTHING",
    "OPERATORS",
    "Requirement",
    "Selector",
    "SelectorError",
    "from_label_selector",
    "parse_selector",
    "selector_from_set",
    "validate_label_key",
    "validate_label_value",
]


class SelectorError(ValueError):
    """A selector that cannot be parsed or is not valid."""


# Operators as the string form spells them.
EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
IN = "in"
NOT_IN = "notin"
EXISTS = "exists"
DOES_NOT_EXIST = "!"
GREATER_THAN = "gt"
LESS_THAN = "lt"
OPERATORS = frozenset(
    {EQUALS, DOUBLE_EQUALS, NOT_EQUALS, IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN}
)

# LabelSelector (matchExpressions) operator names -> string-form operators.
_EXPRESSION_OPERATORS = {
    "In": IN,
    "NotIn": NOT_IN,
    "Exists": EXISTS,
    "DoesNotExist": DOES_NOT_EXIST,
}


def validate_label_key(key: str) -> list[str]:
    """Kubernetes' messages for an invalid label key (a qualified name); empty if valid."""
    return is_qualified_name(key)


def validate_label_value(value: str) -> list[str]:
    """Kubernetes' messages for an invalid label value; empty if valid."""
    return is_valid_label_value(value)


@dataclass(frozen=True)
class Requirement:
    """One term: ``key <operator> values``; ``values`` is sorted and deduplicated."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    @classmethod
    def make(cls, key: str, operator: str, values: Iterable[str] = ()) -> Requirement:
        """A validated requirement (NewRequirement)."""
        if isinstance(values, str | bytes):
            raise SelectorError(f"values must be a list of strings, not {values!r}")
        vals_list = list(values)
        if not isinstance(key, str) or not all(isinstance(v, str) for v in vals_list):
            raise SelectorError(f"label keys and values must be strings: {key!r} {vals_list!r}")
        vals = tuple(sorted(set(vals_list)))
        errs = validate_label_key(key)
        if errs:
            raise SelectorError(f"invalid label key {key!r}: {'; '.join(errs)}")
        if operator in (IN, NOT_IN):
            if not vals:
                raise SelectorError("for 'in', 'notin' operators, values set can't be empty")
        elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
            if len(vals) != 1:
                raise SelectorError("exact-match compatibility requires one single value")
        elif operator in (EXISTS, DOES_NOT_EXIST):
            if vals:
                raise SelectorError("values set must be empty for exists and does not exist")
        elif operator in (GREATER_THAN, LESS_THAN):
            if len(vals) != 1:
                raise SelectorError("for 'Gt', 'Lt' operators, exactly one value is required")
            try:
                int(vals[0])
            except ValueError:
                raise SelectorError(
                    f"for 'Gt', 'Lt' operators, the value must be an integer: {vals[0]!r}"
                ) from None
        else:
            raise SelectorError(f"operator {operator!r} is not recognized")
        if operator not in (GREATER_THAN, LESS_THAN):
            for v in vals:
                verrs = validate_label_value(v)
                if verrs:
                    raise SelectorError(f"invalid label value: {v!r}: {'; '.join(verrs)}")
        return cls(key, operator, vals)

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in (EQUALS, DOUBLE_EQUALS, IN):
            return self.key in labels and labels[self.key] in self.values
        if op in (NOT_EQUALS, NOT_IN):
            return self.key not in labels or labels[self.key] not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        # Gt / Lt: both sides must be integers, as in Kubernetes.
        if self.key not in labels:
            return False
        try:
            have = int(labels[self.key])
        except ValueError:
            return False
        want = int(self.values[0])
        return have > want if op == GREATER_THAN else have < want

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        if op in (IN, NOT_IN):
            return f"{self.key} {op} ({','.join(self.values)})"
        if op == GREATER_THAN:
            return f"{self.key}>{self.values[0]}"
        if op == LESS_THAN:
            return f"{self.key}<{self.values[0]}"
        return f"{self.key}{op}{self.values[0]}"


class Selector:
    """An AND of requirements.  ``Selector()`` matches everything."""

    __slots__ = ("_nothing", "_requirements")

    def __init__(self, requirements: Iterable[Requirement] = (), *, nothing: bool = False) -> None:
        # Stable sort by key, as labels.internalSelector.Add does.
        self._requirements: tuple[Requirement, ...] = tuple(
            sorted(requirements, key=lambda r: r.key)
        )
        self._nothing = nothing

    @property
    def requirements(self) -> tuple[Requirement, ...]:
        return self._requirements

    @property
    def empty(self) -> bool:
        """True for the selector that matches everything (Kubernetes' ``Empty()``)."""
        return not self._nothing and not self._requirements

    @property
    def matches_nothing(self) -> bool:
        return self._nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self._nothing:
            return False
        lbls: Mapping[str, str] = labels or {}
        return all(r.matches(lbls) for r in self._requirements)

    def add(self, *requirements: Requirement) -> Selector:
        return Selector((*self._requirements, *requirements), nothing=self._nothing)

    def requires_exact_match(self, key: str) -> str | None:
        """The value ``key`` must equal for a match, if one term pins it (for indexes)."""
        for r in self._requirements:
            if r.key == key and r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                return r.values[0]
        return None

    def __str__(self) -> str:
        # Kubernetes prints the nothing-selector as "" too; matches_nothing tells them apart.
        return ",".join(str(r) for r in self._requirements)

    def __repr__(self) -> str:
        if self._nothing:
            return "Selector(<nothing>)"
        return f"Selector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Selector):
            return NotImplemented
        return self._nothing == other._nothing and self._requirements == other._requirements

    def __hash__(self) -> int:
        return hash((self._nothing, self._requirements))


EVERYTHING = Selector()
NOTHING = Selector(nothing=True)


def selector_from_set(labels: Mapping[str, str] | None) -> Selector:
    """``key=value`` for every label (labels.SelectorFromSet); validates keys and values."""
    if not labels:
        return EVERYTHING
    return Selector(Requirement.make(k, EQUALS, [v]) for k, v in labels.items())


def from_label_selector(sel: LabelSelector | Mapping[str, Any] | None) -> Selector:
    """A ``metav1.LabelSelector`` (model or wire dict) as a Selector.

    None matches nothing; an empty selector matches everything (Kubernetes' rule).
    Raises SelectorError for an unknown operator or bad keys/values.
    """
    if sel is None:
        return NOTHING
    if isinstance(sel, LabelSelector):
        match_labels: Mapping[str, str] = sel.match_labels or {}
        exprs: list[tuple[str, str, list[str] | None]] = [
            (e.key, e.operator, e.values) for e in sel.match_expressions or []
        ]
    elif isinstance(sel, Mapping):
        # A wire dict may hold anything; every bad shape is a SelectorError, never a crash.
        raw_labels = sel.get("matchLabels") or {}
        raw_exprs = sel.get("matchExpressions") or []
        if not isinstance(raw_labels, Mapping):
            raise SelectorError("matchLabels must be a map of strings")
        if not isinstance(raw_exprs, list) or not all(isinstance(e, Mapping) for e in raw_exprs):
            raise SelectorError("matchExpressions must be a list of requirements")
        match_labels = raw_labels
        exprs = []
        for e in raw_exprs:
            values = e.get("values")
            if values is not None and not isinstance(values, list):
                raise SelectorError("matchExpressions values must be a list of strings")
            key, operator = e.get("key", ""), e.get("operator", "")
            if not isinstance(key, str) or not isinstance(operator, str):
                raise SelectorError("matchExpressions key and operator must be strings")
            exprs.append((key, operator, values))
    else:
        raise SelectorError(f"not a label selector: {sel!r}")
    if not match_labels and not exprs:
        return EVERYTHING
    reqs = [Requirement.make(k, EQUALS, [v]) for k, v in match_labels.items()]
    for key, operator, values in exprs:
        op = _EXPRESSION_OPERATORS.get(operator)
        if op is None:
            raise SelectorError(f'"{operator}" is not a valid label selector operator')
        reqs.append(Requirement.make(key, op, values or ()))
    return Selector(reqs)


def to_label_selector(selector: Selector) -> LabelSelector:
    """The reverse, for building objects: equality terms become matchLabels."""
    match_labels: dict[str, str] = {}
    exprs: list[LabelSelectorRequirement] = []
    back = {v: k for k, v in _EXPRESSION_OPERATORS.items()}
    for r in selector.requirements:
        if r.operator in (EQUALS, DOUBLE_EQUALS):
            match_labels[r.key] = r.values[0]
        elif r.operator == NOT_EQUALS:
            exprs.append(
                LabelSelectorRequirement(key=r.key, operator="NotIn", values=list(r.values))
            )
        elif r.operator in back:
            vals = list(r.values) if r.operator in (IN, NOT_IN) else None
            exprs.append(
                LabelSelectorRequirement(key=r.key, operator=back[r.operator], values=vals)
            )
        else:
            raise SelectorError(f"operator {r.operator!r} has no LabelSelector form")
    return LabelSelector(match_labels=match_labels or None, match_expressions=exprs or None)


# ---- the string form -------------------------------------------------------

_SPECIAL = frozenset("!=<>(),")


def _tokens(s: str) -> list[str]:
    """Lexer: identifiers, and the operators/punctuation of the grammar."""
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c.isspace():
            i += 1
        elif c in "(),<>":
            out.append(c)
            i += 1
        elif c == "!":
            if s.startswith("!=", i):
                out.append("!=")
                i += 2
            else:
                out.append("!")
                i += 1
        elif c == "=":
            if s.startswith("==", i):
                out.append("==")
                i += 2
            else:
                out.append("=")
                i += 1
        else:
            j = i
            while j < n and not s[j].isspace() and s[j] not in _SPECIAL:
                j += 1
            out.append("\0" + s[i:j])  # tagged identifier, so "=" the token != "=" a name
            i = j
    return out


def _is_ident(tok: str | None) -> bool:
    return tok is not None and tok.startswith("\0") and tok[1:] not in ("in", "notin")


class _Parser:
    def __init__(self, s: str) -> None:
        self.s = s
        self.toks = _tokens(s)
        self.pos = 0

    def peek(self) -> str | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def next(self) -> str | None:
        tok = self.peek()
        self.pos += 1
        return tok

    def fail(self, msg: str) -> SelectorError:
        return SelectorError(f"unable to parse requirement: {msg}")

    @staticmethod
    def show(tok: str | None) -> str:
        if tok is None:
            return "EOS"
        return tok[1:] if tok.startswith("\0") else tok

    def parse(self) -> Selector:
        reqs: list[Requirement] = []
        if self.peek() is None:
            return EVERYTHING
        while True:
            reqs.append(self.requirement())
            tok = self.next()
            if tok is None:
                return Selector(reqs)
            if tok != ",":
                raise self.fail(f"found '{self.show(tok)}', expected: ',' or 'end of string'")
            if self.peek() is None:
                raise self.fail("found 'EOS', expected: identifier after ','")

    def requirement(self) -> Requirement:
        tok = self.next()
        if tok == "!":
            key = self.next()
            if not _is_ident(key):
                raise self.fail(f"found '{self.show(key)}', expected: identifier after '!'")
            assert key is not None
            return self.make(key[1:], DOES_NOT_EXIST, ())
        if not _is_ident(tok):
            raise self.fail(
                f"found '{self.show(tok)}', expected: !, identifier, or 'end of string'"
            )
        assert tok is not None
        key = tok[1:]
        op_tok = self.peek()
        if op_tok is None or op_tok == ",":
            return self.make(key, EXISTS, ())
        self.next()
        if op_tok in ("=", "==", "!="):
            val = self.peek()
            if val is not None and val.startswith("\0"):
                self.next()
                return self.make(key, op_tok, (val[1:],))
            # "a=" and "a=,b" are key with the empty value, as in Kubernetes.
            if val is None or val == ",":
                return self.make(key, op_tok, ("",))
            raise self.fail(f"found '{self.show(val)}', expected: identifier")
        if op_tok in (">", "<"):
            val = self.next()
            if val is None or not val.startswith("\0"):
                raise self.fail(f"found '{self.show(val)}', expected: identifier")
            return self.make(key, GREATER_THAN if op_tok == ">" else LESS_THAN, (val[1:],))
        if op_tok in ("\0in", "\0notin"):
            return self.make(key, op_tok[1:], self.values())
        raise self.fail(f"found '{self.show(op_tok)}', expected: in, notin, =, ==, !=, gt, lt")

    def values(self) -> list[str]:
        tok = self.next()
        if tok != "(":
            raise self.fail(f"found '{self.show(tok)}' expected: '('")
        vals: list[str] = []
        if self.peek() == ")":
            self.next()
            return [""]  # "in ()" means the empty value, as in Kubernetes
        expect_value = True
        while True:
            tok = self.next()
            if tok is None:
                raise self.fail("found 'EOS', expected: ')'")
            if tok == ")":
                if expect_value:
                    vals.append("")
                return vals
            if tok == ",":
                if expect_value:
                    vals.append("")
                expect_value = True
                continue
            if tok.startswith("\0") and expect_value:
                vals.append(tok[1:])
                expect_value = False
                continue
            raise self.fail(f"found '{self.show(tok)}', expected: ',', or identifier")

    def make(self, key: str, op: str, values: Iterable[str]) -> Requirement:
        try:
            return Requirement.make(key, op, values)
        except SelectorError as e:
            raise self.fail(str(e)) from None


def parse_selector(s: str) -> Selector:
    """Parse Kubernetes' string form; raises SelectorError with the reason."""
    return _Parser(s).parse()
