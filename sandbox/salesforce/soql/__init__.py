"""SOQL for the simulator: a tokenizer, a recursive-descent parser and an ORM-backed evaluator.

Only the subset the product sends is supported; anything else is a ``MALFORMED_QUERY`` so a
client never mistakes an unsupported query for an empty or wrong answer.
"""

from sandbox.salesforce.soql.errors import SoqlError
from sandbox.salesforce.soql.parser import parse

__all__ = ["SoqlError", "parse"]
