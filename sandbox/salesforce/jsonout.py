"""JSON with Decimals written exactly (as Salesforce does), so ``parse_float=Decimal`` clients
read back the stored amount, never a float approximation.

The C encoder cannot emit raw number text, so each Decimal goes out as a marked string and one
regular-expression pass unquotes the marks. A NUL character cannot occur in Salesforce text, so
the mark never collides with data.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

_MARK = "\x00dec:"
_MARKED = re.compile(r'"\\u0000dec:(-?[0-9]+(?:\.[0-9]+)?)"')


def _default(value: Any) -> str:
    if isinstance(value, Decimal):
        return _MARK + format(value, "f")
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(value: Any) -> str:
    text = json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))
    return _MARKED.sub(r"\1", text)
