"""The status page: server-rendered, no script, vendor text escaped (autoescape)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import jinja2

_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rulesd — {{ status.config.file }}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: .3em .8em; text-align: left;
         vertical-align: top; }
.up { color: #17702e; } .down, .fatal { color: #b00020; } .starting { color: #8a6d00; }
.dead { color: #b00020; } .pending { color: #8a6d00; } .delivered { color: #17702e; }
.silenced { color: #666; }
form label { margin-right: .6em; }
pre { margin: 0; white-space: pre-wrap; }
</style></head>
<body>
<h1>rulesd</h1>
<p id="summary">{{ status.config.file }} · {{ status.rules }} rules ·
<span id="role" class="{{ status.role }}">{{ status.role }}</span> ·
<span id="readiness">{% if status.role == "standby" and not status.ready
%}database unreachable{% else %}{{ status.readiness }}{% endif %}</span> ·
up {{ status.uptime_s | int }}s · state: {{ status.state.where }} ·
outbox: {{ status.outbox.pending }} pending, {{ status.outbox.dead }} dead</p>

<h2>Sources</h2>
<table id="sources"><tr><th>connection</th><th>state</th><th>last frame</th>
<th>frames</th><th>events</th><th>faults</th><th>reason</th></tr>
{% for s in status.sources %}
<tr><td>{{ s.name }}</td><td class="{{ s.state }}">{{ s.state }}</td>
<td>{{ "%.1fs ago" % s.last_frame_age_s if s.last_frame_age_s is not none else "—" }}</td>
<td>{{ s.frames }}</td><td>{{ s.events }}</td>
<td>{% for kind, n in s.faults.items() %}{{ kind }}: {{ n }} {% endfor %}</td>
<td>{{ s.reason or "" }}</td></tr>
{% else %}<tr><td colspan="7">no source has started yet</td></tr>{% endfor %}
</table>
{% if status.time_intervals %}<p id="intervals">Time intervals now:
{% for name, on in status.time_intervals.items() %}{{ name }}
{{ "holds" if on else "does not hold" }}{{ ", " if not loop.last }}{% endfor %}</p>
{% endif %}
{% for name, m in status.lookups.items() if name != "events" %}
<p class="lookup" id="lookup-{{ name }}">{{ name }}: {{ m.requests }} requests,
{{ m.throttled }} answered 429 · {{ m.lookups }} lookups, {{ m.cache_hits }} from the
cache · {{ m.timeouts }} unknown (timeout or failure){% if name == "market" %} ·
{{ m.watched }} tokens watched{% if m.watch_interval_s %}, every
{{ m.watch_interval_s }}s{% endif %}{% endif %}</p>
{% endfor %}

<h2>Firing</h2>
<table id="firing"><tr><th>rule</th><th>key</th><th>since</th><th>why</th>
<th>last send</th></tr>
{% for a in firing %}
<tr><td>{{ a.rule }}</td><td>{{ a.key }}</td><td>{{ a.since | when }}</td>
<td><pre>{{ a.why }}</pre></td>
<td>{{ a.last_send.state if a.last_send else "—" }}</td></tr>
{% else %}<tr><td colspan="5">nothing is firing</td></tr>{% endfor %}
</table>

<h2>Recent alerts</h2>
<table id="recent"><tr><th>when</th><th>rule</th><th>notifier</th><th>title</th>
<th>delivery</th></tr>
{% for r in recent %}
<tr><td>{{ r.created | when }}</td><td>{{ r.rule }}</td><td>{{ r.notifier }}</td>
<td>{{ r.title }}</td>
<td class="{{ r.state }}">{{ r.state }}{% if r.error %} — {{ r.error }}{% endif %}</td></tr>
{% else %}<tr><td colspan="5">no alerts yet</td></tr>{% endfor %}
</table>

<h2>Silences</h2>
<table id="silences"><tr><th>matchers</th><th>until</th><th>state</th><th>comment</th>
<th></th></tr>
{% for s in silences %}
<tr><td>{{ s.matchers }}</td><td>{{ s.ends | when }}</td><td>{{ s.state }}</td>
<td>{{ s.comment }}</td>
<td>{% if s.state != "expired" %}<form method="post" action="/silences/{{ s.id }}/expire">
<button type="submit" id="expire-{{ s.id }}">Expire</button></form>{% endif %}</td></tr>
{% else %}<tr><td colspan="5">no silences</td></tr>{% endfor %}
</table>
<form id="silence" method="post" action="/silences">
<label>rule <select name="rule">{% for r in rules %}<option>{{ r }}</option>{% endfor %}
</select></label>
<label>token <input name="token" size="12" placeholder="key or symbol"></label>
<label>chain <input name="chain" size="8"></label>
<label>source <input name="source" size="10"></label>
<label>for <input name="for" size="5" value="2h" required></label>
<label>comment <input name="comment" size="24"></label>
<button type="submit" id="add-silence">Silence</button>
</form>

{% if status.control.telegram != "off" %}
<h2>Chat control</h2>
<p id="control">Telegram bot: <span class="{{ status.control.telegram }}">{{
status.control.telegram }}</span>{% if status.control.error %} — {{ status.control.error
}}{% endif %} · {{ status.control.handled }} handled, {{ status.control.refused }} refused</p>
<table id="control-actions"><tr><th>when</th><th>user</th><th>asked</th><th>result</th></tr>
{% for a in status.control.actions %}
<tr><td>{{ a.at | when }}</td><td>{{ a.user }}</td><td>{{ a.asked }}</td>
<td>{{ a.result }}</td></tr>
{% else %}<tr><td colspan="4">nothing asked yet</td></tr>{% endfor %}
</table>
{% endif %}

<h2>Notifiers</h2>
<table id="notifiers"><tr><th>target</th><th>where</th><th>queued</th><th>sent</th>
<th>dead</th></tr>
{% for n in status.notifiers %}
<tr><td>{{ n.name }}</td><td>{{ n.url or "" }}</td><td>{{ n.queued }}</td>
<td>{{ n.sent }}</td><td>{{ n.dead }}</td></tr>
{% endfor %}
</table>
</body></html>
"""


def _when(t: float | None) -> str:
    if t is None:
        return "—"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_ENV: Final = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_ENV.filters["when"] = _when
_TEMPLATE: Final = _ENV.from_string(_PAGE)


def render(status: dict[str, Any], firing: list[dict[str, Any]],
           recent: list[dict[str, Any]], silences: list[dict[str, Any]],
           rules: list[str]) -> str:
    return _TEMPLATE.render(status=status, firing=firing, recent=recent, silences=silences,
                            rules=rules)
