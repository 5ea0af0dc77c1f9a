"""The console's CSV downloads: one row per item, flattened money columns, no formulas."""

import csv
import io

from gateway.csv_export import csv_response, flatten


def table(rows, columns=None) -> list[list[str]]:
    response = csv_response("report-2026-01-01-2026-01-31", rows, columns)
    assert response.headers["content-disposition"] == 'attachment; filename="report-2026-01-01-2026-01-31.csv"'
    assert response.media_type == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.body.decode())))


def test_nested_money_becomes_one_column_per_currency():
    rows = [flatten({"date": "2026-01-01", "revenue": {"IRT": "10.00", "USD": "1.00"}, "messages": 3}, ("revenue",))]
    assert table(rows) == [["date", "revenue_IRT", "revenue_USD", "messages"], ["2026-01-01", "10.00", "1.00", "3"]]


def test_formulas_are_neutralised_but_numbers_and_phones_stay():
    rows = [{"a": "=1+1", "b": "+989121234567", "c": "-12.5", "d": "@SUM(A1)", "e": "+cmd", "f": None, "g": True,
             "h": {"x": [1, "y"]}}]
    assert table(rows)[1] == ["'=1+1", "+989121234567", "-12.5", "'@SUM(A1)", "'+cmd", "", "true", '{"x": [1, "y"]}']


def test_an_empty_list_still_has_its_header():
    assert table([], ["user_id", "phone_number"]) == [["user_id", "phone_number"]]
