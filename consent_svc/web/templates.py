"""The one Jinja2 environment of every page the service renders (templates/): the console's
(templates/console/, through litestar's template support) and the public pages people reach from
an email (templates/pages/: the preference center, the confirmation and re-permission pages).
Autoescaping is on for every template and every string."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from jinja2.runtime import Context as JinjaContext

from consent_svc.web.console_text import translate


@pass_context
def _gettext(context: JinjaContext, text: str, **values: Any) -> str:
    """The console's texts: English in the templates, Swedish from console_text.SWEDISH."""
    return translate(context.get("lang", "sv"), text, **values)


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("consent_svc.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["_"] = _gettext
    env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False, default=str, indent=1)
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
