"""Staff report pages: the usage report and its CSV export. Thin: parse the range,
call generations.reports.queries, render."""

from __future__ import annotations

import csv
from datetime import date, timedelta

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from accounts.access import staff_only
from generations.reports import queries, spend
from generations.reports.charts import stacked_bars
from providers.pricing import currency

MAX_DAYS = 366
DEFAULT_DAYS = 30


class RangeForm(forms.Form):
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        today = timezone.localdate()
        end = data.get("end") or today
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        assert isinstance(start, date)
        assert isinstance(end, date)
        if start > end:
            raise forms.ValidationError(_("The start is after the end."))
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(_("Choose at most %(days)s days.") % {"days": MAX_DAYS})
        data["range"] = queries.DateRange(start, end)
        return data


def _range(
    request: HttpRequest, form_class: type[RangeForm] = RangeForm
) -> tuple[RangeForm, queries.DateRange]:
    form = form_class(request.GET or None)
    if form.is_bound and form.is_valid():
        return form, form.cleaned_data["range"]
    today = timezone.localdate()
    return form, queries.DateRange(today - timedelta(days=DEFAULT_DAYS - 1), today)


@staff_only
@require_GET
def usage_report(request: HttpRequest) -> HttpResponse:
    form, date_range = _range(request)
    report = queries.usage_report(date_range)
    chart = stacked_bars(
        date_range.days(), report.series(), title=str(_("Images generated per day, per model"))
    )
    return render(
        request,
        "reports/usage.html",
        {
            "form": form,
            "report": report,
            "chart": chart,
            "tables": queries.CSV_TABLES,
            "query": request.GET.urlencode(),
        },
        status=400 if form.errors else 200,
    )


@staff_only
@require_GET
def usage_csv(request: HttpRequest, table: str) -> HttpResponse:
    if table not in queries.CSV_TABLES:
        raise Http404
    _form, date_range = _range(request)
    rows = queries.csv_rows(queries.usage_report(date_range), table)
    name = f"darkroom-{table}-{date_range.start}-{date_range.end}.csv"
    response = HttpResponse(
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
    csv.writer(response).writerows([[_cell(v) for v in row] for row in rows])
    return response


def _cell(value: object) -> object:
    # A username may start with + - @ (Django allows them): a spreadsheet would run
    # such a cell as a formula, so text cells starting that way are quoted.
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        return "'" + value
    return value


SPEND_TABLES = (
    ("person", _("Per person")),
    ("group", _("Per group")),
    ("model", _("Per model")),
    ("channel", _("Per channel")),
    ("api_key", _("Per API key")),
)


CHART_TITLES = {
    "person": _("Spend per day, per person"),
    "group": _("Spend per day, per group"),
    "model": _("Spend per day, per model"),
    "channel": _("Spend per day, per channel"),
    "api_key": _("Spend per day, per API key"),
}


class SpendRangeForm(RangeForm):
    by = forms.ChoiceField(label=_("Chart"), choices=SPEND_TABLES, required=False)


@staff_only
@require_GET
def spend_report(request: HttpRequest) -> HttpResponse:
    form, date_range = _range(request, SpendRangeForm)
    by = form.cleaned_data.get("by") if form.is_bound and not form.errors else None
    by = by or "model"
    lines = spend.spend_lines(*date_range.bounds())
    cents = {
        key: [int(v * 100) for v in values]
        for key, values in lines.per_day(date_range.days(), spend.dimension_of(by)).items()
    }
    heading = CHART_TITLES[by]
    title = _("%(title)s (hundredths of %(currency)s)") % {
        "title": heading,
        "currency": currency(),
    }
    context = {
        "by": by,
        "heading": heading,
        "form": form,
        "range": date_range,
        "lines": lines,
        "currency": currency(),
        "chart": stacked_bars(
            date_range.days(), cents, title=str(title), empty=str(_("Nothing paid in this range."))
        ),
        "tables": [
            (name, title, lines.by(spend.dimension_of(name))) for name, title in SPEND_TABLES
        ],
        "query": request.GET.urlencode(),
    }
    return render(request, "reports/spend.html", context, status=400 if form.errors else 200)


@staff_only
@require_GET
def spend_csv(request: HttpRequest, table: str) -> HttpResponse:
    if table not in spend.CSV_TABLES:
        raise Http404
    _form, date_range = _range(request)
    lines = spend.spend_lines(*date_range.bounds())
    rows = spend.spend_csv(lines, table, date_range.days())
    name = f"darkroom-spend-{table}-{date_range.start}-{date_range.end}.csv"
    response = HttpResponse(
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
    csv.writer(response).writerows([[_cell(v) for v in row] for row in rows])
    return response
