"""A closure compiler for celpy's CEL parse trees.

celpy's interpreter walks the lark tree on every evaluation (with an Activation cloned per
macro item and typing constructs built at run time): about a millisecond for a simple rule.
Here each tree node becomes a Python closure once, at compile time; evaluation calls the
closures with a plain dict of variables. Semantics are celpy's: the operators and
functions are celpy's own (base_functions, the celtypes), errors are CELEvalError values
that ``&&``/``||``/``?:`` and the all/exists macros absorb as CEL says, literals are
converted by celpy's evaluator. A construct not handled here (message construction,
dotted or unknown identifiers, celpy's reduce/min extensions) raises Unsupported at compile
time and the caller keeps celpy's interpreter for that rule.

``budget.spend()`` is called for every evaluated operation and macro item (the caller's
cost bound; it raises a BaseException that nothing here catches).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lark
from celpy import celtypes
from celpy.evaluation import Activation, CELEvalError, Evaluator, base_functions

Fn = Callable[[dict[str, Any], Any], Any]
Tree = lark.Tree[Any]


class Unsupported(Exception):
    pass


_TYPES: dict[str, Any] = {
    "int": celtypes.IntType, "uint": celtypes.UintType, "double": celtypes.DoubleType,
    "string": celtypes.StringType, "bytes": celtypes.BytesType, "bool": celtypes.BoolType,
    "list": celtypes.ListType, "map": celtypes.MapType, "null_type": type(None),
    "type": celtypes.TypeType, "duration": celtypes.DurationType,
    "timestamp": celtypes.TimestampType,
}
_BINARY = {
    "relation_lt": "_<_", "relation_le": "_<=_", "relation_ge": "_>=_", "relation_gt": "_>_",
    "relation_eq": "_==_", "relation_ne": "_!=_", "relation_in": "_in_",
    "addition_add": "_+_", "addition_sub": "_-_", "multiplication_mul": "_*_",
    "multiplication_div": "_/_", "multiplication_mod": "_%_",
}
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})


def _call(f: Callable[..., Any], args: list[Any], name: str) -> Any:
    """celpy's function_eval/method_eval error handling around one call."""
    for a in args:
        if isinstance(a, CELEvalError):
            return a
    try:
        return f(*args)
    except CELEvalError as e:
        return e
    except ZeroDivisionError as e:
        return CELEvalError("modulus or divide by zero", e.__class__, e.args)
    except (ValueError, OverflowError) as e:
        return CELEvalError("return error for overflow", e.__class__, e.args)
    except KeyError as e:
        return CELEvalError("no such key", e.__class__, e.args)
    except IndexError as e:
        return CELEvalError("invalid_argument", e.__class__, e.args)
    except (TypeError, AttributeError) as e:
        return CELEvalError(f"found no matching overload for {name!r} applied to "
                            f"'({', '.join(str(type(a)) for a in args)})'",
                            e.__class__, e.args)
    except RecursionError:
        raise
    except Exception as e:
        return CELEvalError(str(e) or type(e).__name__, e.__class__, e.args)


_literal_eval: list[Evaluator] = []
_merged: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}


def _functions(functions: dict[str, Any]) -> dict[str, Any]:
    """base_functions with ``functions`` over them, merged once per functions dict."""
    hit = _merged.get(id(functions))
    if hit is None or hit[0] is not functions:
        hit = _merged[id(functions)] = (functions, {**base_functions, **functions})
    return hit[1]


class Compiler:
    def __init__(self, functions: dict[str, Any], variables: frozenset[str]) -> None:
        self.functions = _functions(functions)
        self.variables = variables
        if not _literal_eval:
            # celpy's own literal conversion (escapes, bytes, uint, ...), built once
            _literal_eval.append(Evaluator(lark.Tree("expr", []), activation=Activation()))
        self._literal_eval = _literal_eval[0]

    def compile(self, t: Any, scope: frozenset[str]) -> Fn:
        if not isinstance(t, lark.Tree):
            raise Unsupported(repr(t))
        method = getattr(self, "c_" + str(t.data), None)
        if method is None:
            raise Unsupported(str(t.data))
        fn: Fn = method(t, scope)
        return fn

    def _only(self, t: Tree, scope: frozenset[str]) -> Fn:
        if len(t.children) != 1:
            raise Unsupported(str(t.data))
        return self.compile(t.children[0], scope)

    c_member = c_primary = c_paren_expr = _only

    def c_expr(self, t: Tree, scope: frozenset[str]) -> Fn:
        if len(t.children) == 1:
            return self.compile(t.children[0], scope)
        if len(t.children) != 3:
            raise Unsupported("expr")
        c, a, b = (self.compile(x, scope) for x in t.children)

        def cond(act: dict[str, Any], bud: Any) -> Any:
            bud.spend()
            v = c(act, bud)
            if isinstance(v, CELEvalError):
                return v
            if not isinstance(v, celtypes.BoolType):
                return CELEvalError("found no matching overload for _?_:_", TypeError, ())
            return a(act, bud) if v else b(act, bud)
        return cond

    def _logical(self, t: Tree, scope: frozenset[str], is_or: bool) -> Fn:
        if len(t.children) == 1:
            return self.compile(t.children[0], scope)
        left, right = (self.compile(x, scope) for x in t.children)
        op = celtypes.logical_or if is_or else celtypes.logical_and
        name = "_||_" if is_or else "_&&_"

        def logical(act: dict[str, Any], bud: Any) -> Any:
            bud.spend()
            lv = left(act, bud)
            if isinstance(lv, celtypes.BoolType) and bool(lv) is is_or:
                return lv
            rv = right(act, bud)
            try:
                return op(lv, rv)
            except TypeError as e:
                return CELEvalError(f"found no matching overload for {name}", e.__class__,
                                    e.args)
        return logical

    def c_conditionalor(self, t: Tree, scope: frozenset[str]) -> Fn:
        return self._logical(t, scope, True)

    def c_conditionaland(self, t: Tree, scope: frozenset[str]) -> Fn:
        return self._logical(t, scope, False)

    def _binary(self, t: Tree, scope: frozenset[str]) -> Fn:
        if len(t.children) == 1:
            return self.compile(t.children[0], scope)
        op_tree, right_tree = t.children
        if not isinstance(op_tree, lark.Tree) or op_tree.data not in _BINARY:
            raise Unsupported(str(t.data))
        name = _BINARY[str(op_tree.data)]
        f = self.functions[name]
        left = self.compile(op_tree.children[0], scope)
        right = self.compile(right_tree, scope)

        def binary(act: dict[str, Any], bud: Any) -> Any:
            bud.spend()
            return _call(f, [left(act, bud), right(act, bud)], name)
        return binary

    c_relation = c_addition = c_multiplication = _binary

    def c_unary(self, t: Tree, scope: frozenset[str]) -> Fn:
        if len(t.children) == 1:
            return self.compile(t.children[0], scope)
        op_tree, operand = t.children
        name = "!_" if isinstance(op_tree, lark.Tree) and op_tree.data == "unary_not" else "-_"
        f = self.functions[name]
        inner = self.compile(operand, scope)

        def unary(act: dict[str, Any], bud: Any) -> Any:
            bud.spend()
            return _call(f, [inner(act, bud)], name)
        return unary

    def c_member_dot(self, t: Tree, scope: frozenset[str]) -> Fn:
        member_tree, name_tok = t.children
        member = self.compile(member_tree, scope)
        name = str(name_tok)
        key = celtypes.StringType(name)

        def member_dot(act: dict[str, Any], bud: Any) -> Any:
            bud.spend()
            m = member(act, bud)
            if isinstance(m, CELEvalError):
                return m
            if isinstance(m, celtypes.MapType):
                try:
                    return m[key]
                except KeyError as e:
                    return CELEvalError(f"no such member in mapping: {name!r}", KeyError,
                                        e.args)
            return CELEvalError(f"no such member {name!r}", TypeError, ())
        return member_dot

    def c_member_index(self, t: Tree, scope: frozenset[str]) -> Fn:
        member_tree, index_tree = t.children
        member = self.compile(member_tree, scope)
        index = self.compile(index_tree, scope)
        f = self.functions["_[_]"]

        def member_index(act: dict[str, Any], bud: Any) -> Any:
            bud.spend()
            return _call(f, [member(act, bud), index(act, bud)], "_[_]")
        return member_index

    def _args(self, t: Any, scope: frozenset[str]) -> list[Fn]:
        if t is None:
            return []
        if not isinstance(t, lark.Tree) or t.data != "exprlist":
            raise Unsupported("exprlist")
        return [self.compile(x, scope) for x in t.children]

    def c_member_dot_arg(self, t: Tree, scope: frozenset[str]) -> Fn:
        member_tree, name_tok = t.children[0], t.children[1]
        args_tree = t.children[2] if len(t.children) > 2 else None
        name = str(name_tok)
        if name in _MACROS:
            return self._macro(name, member_tree, args_tree, scope)
        if name in ("reduce", "min") and name not in self.functions:
            raise Unsupported(name)
        f = self.functions.get(name)
        if f is None:
            raise Unsupported(name)
        member = self.compile(member_tree, scope)
        args = self._args(args_tree, scope)

        def method(act: dict[str, Any], bud: Any) -> Any:
            bud.spend()
            m = member(act, bud)
            if isinstance(m, CELEvalError):
                return m
            return _call(f, [m, *(a(act, bud) for a in args)], name)
        return method

    def _macro(self, name: str, member_tree: Any, args_tree: Any,
               scope: frozenset[str]) -> Fn:
        if not isinstance(args_tree, lark.Tree) or len(args_tree.children) != 2:
            raise Unsupported(name)
        var_tree, body_tree = args_tree.children
        idents = list(var_tree.find_data("ident")) if isinstance(var_tree, lark.Tree) else []
        if len(idents) != 1:
            raise Unsupported(name)
        var = str(idents[0].children[0])
        member = self.compile(member_tree, scope)
        body = self.compile(body_tree, scope | {var})

        def items(act: dict[str, Any], bud: Any) -> Any:
            m = member(act, bud)
            if isinstance(m, CELEvalError):
                return m
            if isinstance(m, celtypes.MapType):
                return list(m.keys())
            if isinstance(m, list):
                return m
            return CELEvalError(f"no such overload for {name}", TypeError, ())

        if name == "all" or name == "exists":
            want = name == "exists"

            def quantifier(act: dict[str, Any], bud: Any) -> Any:
                xs = items(act, bud)
                if isinstance(xs, CELEvalError):
                    return xs
                err: Any = None
                inner = dict(act)
                for x in xs:
                    bud.spend()
                    inner[var] = x
                    v = body(inner, bud)
                    if isinstance(v, celtypes.BoolType):
                        if bool(v) is want:
                            return celtypes.BoolType(want)
                    elif err is None:
                        err = v if isinstance(v, CELEvalError) else CELEvalError(
                            f"no such overload for {name}", TypeError, ())
                return err if err is not None else celtypes.BoolType(not want)
            return quantifier

        def collect(act: dict[str, Any], bud: Any) -> Any:
            xs = items(act, bud)
            if isinstance(xs, CELEvalError):
                return xs
            out: list[Any] = []
            count = 0
            inner = dict(act)
            for x in xs:
                bud.spend()
                inner[var] = x
                v = body(inner, bud)
                if isinstance(v, CELEvalError):
                    return v
                if name == "map":
                    out.append(v)
                    continue
                if not isinstance(v, celtypes.BoolType):
                    return CELEvalError(f"no such overload for {name}", TypeError, ())
                if v:
                    count += 1
                    out.append(x)
            if name == "exists_one":
                return celtypes.BoolType(count == 1)
            return celtypes.ListType(out)
        return collect

    def c_ident(self, t: Tree, scope: frozenset[str]) -> Fn:
        name = str(t.children[0])
        if name in scope or name in self.variables:

            def ident(act: dict[str, Any], bud: Any) -> Any:
                try:
                    return act[name]
                except KeyError:
                    return CELEvalError(f"undeclared reference to {name!r}", KeyError, ())
            return ident
        if name in _TYPES:
            value = _TYPES[name]
            return lambda act, bud: value
        raise Unsupported(name)

    def c_ident_arg(self, t: Tree, scope: frozenset[str]) -> Fn:
        name = str(t.children[0])
        args_tree = t.children[1] if len(t.children) > 1 else None
        if name == "has":
            return self._has(args_tree, scope)
        if name == "dyn":
            (inner,) = self._args(args_tree, scope)
            return inner
        f = self.functions.get(name)
        if f is None:
            raise Unsupported(name)
        args = self._args(args_tree, scope)

        def function(act: dict[str, Any], bud: Any) -> Any:
            bud.spend()
            return _call(f, [a(act, bud) for a in args], name)
        return function

    def _has(self, args_tree: Any, scope: frozenset[str]) -> Fn:
        if not isinstance(args_tree, lark.Tree) or len(args_tree.children) != 1:
            raise Unsupported("has")
        node = args_tree.children[0]
        while isinstance(node, lark.Tree) and node.data != "member_dot" and len(
                node.children) == 1:
            node = node.children[0]
        if not isinstance(node, lark.Tree) or node.data != "member_dot":
            raise Unsupported("has")
        member = self.compile(node.children[0], scope)
        key = celtypes.StringType(str(node.children[1]))

        def has(act: dict[str, Any], bud: Any) -> Any:
            bud.spend()
            m = member(act, bud)
            if isinstance(m, CELEvalError):
                return m
            if isinstance(m, celtypes.MapType):
                return celtypes.BoolType(key in m)
            return CELEvalError("no such overload for has()", TypeError, ())
        return has

    def c_list_lit(self, t: Tree, scope: frozenset[str]) -> Fn:
        items = self._args(t.children[0] if t.children else None, scope)

        def list_lit(act: dict[str, Any], bud: Any) -> Any:
            bud.spend()
            out = []
            for f in items:
                v = f(act, bud)
                if isinstance(v, CELEvalError):
                    return v
                out.append(v)
            return celtypes.ListType(out)
        return list_lit

    def c_map_lit(self, t: Tree, scope: frozenset[str]) -> Fn:
        inits = t.children[0] if t.children else None
        exprs = [self.compile(x, scope) for x in inits.children] if isinstance(
            inits, lark.Tree) else []
        pairs = list(zip(exprs[0::2], exprs[1::2], strict=True))

        def map_lit(act: dict[str, Any], bud: Any) -> Any:
            bud.spend()
            out: dict[Any, Any] = {}
            for kf, vf in pairs:
                k = kf(act, bud)
                if isinstance(k, CELEvalError):
                    return k
                v = vf(act, bud)
                if isinstance(v, CELEvalError):
                    return v
                out[k] = v
            try:
                return celtypes.MapType(out)
            except (TypeError, ValueError) as e:
                return CELEvalError("invalid map", e.__class__, e.args)
        return map_lit

    def c_literal(self, t: Tree, scope: frozenset[str]) -> Fn:
        value = self._literal_eval.literal(t)
        if isinstance(value, CELEvalError):
            err = value
            return lambda act, bud: err
        return lambda act, bud: value


class Program:
    """A compiled rule: ``run(variables, budget)`` returns the value or raises the
    CELEvalError it evaluated to, like celpy's runners."""

    __slots__ = ("fn",)

    def __init__(self, fn: Fn) -> None:
        self.fn = fn

    def run(self, context: dict[str, Any], budget: Any) -> Any:
        v = self.fn(context, budget)
        if isinstance(v, CELEvalError):
            raise v
        return v


def compile_tree(ast: Any, functions: dict[str, Any],
                 variables: frozenset[str] = frozenset({"self", "oldSelf"})) -> Program:
    """Raises Unsupported when some construct is not handled here."""
    return Program(Compiler(functions, variables).compile(ast, frozenset()))
