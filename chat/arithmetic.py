"""The calculator's evaluator: arithmetic on untrusted text, each step cheap by construction.

A pure function with no imports beyond the standard library, so a tool worker process
(``agentsite.tool_workers.pool``) starts fast and small. The worker's time and memory limits are the
backstop; the bounds here are the rule: every literal, intermediate and function argument is
checked *before* the operation that could be expensive, because one C call (``10 ** n``,
``round(5, -n)``, a huge multiplication) holds the GIL until it returns and no timeout can
interrupt it in-process.

Cost of each operation with the bounds below (ints of at most ``MAX_MAGNITUDE``, ~333 bits):
``+ - %  //  /`` and ``abs`` are linear in the operand sizes; ``*`` of two bounded ints is at
most 333×333 bits; ``**`` is allowed only when its result is known to stay near the bound
(the exponent is capped by the base's size, before computing); ``round(x, n)`` computes
``10 ** |n|``, so ``|n|`` is capped; floats cost the same whatever their value.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

MAX_EXPRESSION_LENGTH = 200
MAX_MAGNITUDE = 10**100
MAX_EXPONENT = 1000
MAX_ROUND_DIGITS = 100
# 2 ** RESULT_BITS > MAX_MAGNITUDE: a power whose result has more bits is refused unevaluated.
RESULT_BITS = MAX_MAGNITUDE.bit_length()

Number = int | float

_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}


def evaluate_arithmetic(expression: str) -> Number:
    """Evaluate + - * / // % ** and parentheses, sqrt/abs/round, pi/e — without ``eval``.

    Walks the parsed syntax tree and allows only those nodes. ``ValueError`` with a message a
    model (or a person) can act on for anything else, including values beyond ±10**100.
    """
    check_expression(expression)
    try:
        tree = ast.parse(expression.replace("^", "**").replace("×", "*"), mode="eval")
    except (SyntaxError, MemoryError, RecursionError) as exc:
        raise ValueError(f"not an arithmetic expression: {expression!r}") from exc
    return _evaluate(tree.body)


def calculation_text(expression: str) -> str:
    """``evaluate_arithmetic`` as the text the calculate tool answers."""
    return str(evaluate_arithmetic(expression))


def check_expression(expression: str) -> None:
    """The cheap checks of the raw text, also done before handing it to a worker."""
    if not isinstance(expression, str):
        raise ValueError("the expression must be text")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ValueError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")


def _evaluate(node: ast.AST) -> Number:
    # Numbers only: bool is an int subclass, and True and False are not arithmetic.
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return _bounded(node.value)
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        return _apply(_BINARY[type(node.op)], left, right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        name = node.func.id
        if name in _CALLS and not any(isinstance(arg, ast.Starred) for arg in node.args):
            return _bounded(_CALLS[name]([_evaluate(arg) for arg in node.args]))
    raise ValueError(f"unsupported element in expression: {ast.dump(node)[:60]}")


def _apply(operation: Callable[[Number, Number], Number], left: Number, right: Number) -> Number:
    try:
        value = operation(left, right)
    except ZeroDivisionError as exc:
        raise ValueError("division by zero") from exc
    except OverflowError as exc:
        raise ValueError("result out of range (beyond ±10**100)") from exc
    if isinstance(value, complex):
        raise ValueError("the result is not a real number")
    return _bounded(value)


def _bounded(value: Number) -> Number:
    """The value, if finite and within ±MAX_MAGNITUDE (checked on every literal and result)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("result out of range (beyond ±10**100)")
    if abs(value) > MAX_MAGNITUDE:
        raise ValueError("result out of range (beyond ±10**100)")
    return value


def _check_power(base: Number, exponent: Number) -> None:
    """Refuse, before computing it, a power whose result would be beyond the bound.

    Float powers cost the same whatever the values (and overflow is caught); an int power
    ``b ** n`` has at least ``(bit_length(b) - 1) * n`` bits, so that decides it.
    """
    if abs(exponent) > MAX_EXPONENT:
        raise ValueError(f"exponent larger than {MAX_EXPONENT}")
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and (abs(base).bit_length() - 1) * exponent > RESULT_BITS
    ):
        raise ValueError("result out of range (beyond ±10**100)")


def _sqrt(args: list[Number]) -> Number:
    (value,) = _arity("sqrt", args, 1)
    if value < 0:
        raise ValueError("sqrt of a negative number")
    return math.sqrt(value)


def _abs(args: list[Number]) -> Number:
    (value,) = _arity("abs", args, 1)
    return abs(value)


def _round(args: list[Number]) -> Number:
    if len(args) not in (1, 2):
        raise ValueError("round takes 1 or 2 arguments")
    if len(args) == 1:
        return round(args[0])
    value, digits = args
    if not isinstance(digits, int):
        raise ValueError("round's second argument (digits) must be a whole number")
    if abs(digits) > MAX_ROUND_DIGITS:
        raise ValueError(
            f"round's digits must be between -{MAX_ROUND_DIGITS} and {MAX_ROUND_DIGITS}"
        )
    return round(value, digits)


def _arity(name: str, args: list[Number], count: int) -> list[Number]:
    if len(args) != count:
        raise ValueError(f"{name} takes {count} argument{'s' if count > 1 else ''}")
    return args


_CALLS: dict[str, Callable[[list[Number]], Number]] = {
    "sqrt": _sqrt,
    "abs": _abs,
    "round": _round,
}
