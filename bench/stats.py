"""Medians, spreads and ratios of the recorded runs."""

import statistics


def summary(values):
    """{median, min, max, n} of the numbers among ``values`` (None when there are none)."""
    nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not nums:
        return None
    return {"median": round(statistics.median(nums), 3), "min": round(min(nums), 3),
            "max": round(max(nums), 3), "n": len(nums)}


def ratio(value, reference):
    if not value or not reference or reference.get("median") in (None, 0) or value.get("median") is None:
        return None
    return round(value["median"] / reference["median"], 2)


def fmt(value, unit="", digits=2):
    """'1.23 s [1.10–1.40]' or '–'."""
    if value is None:
        return "–"
    med = "%.*f%s" % (digits, value["median"], unit)
    if value["n"] > 1 and value["min"] != value["max"]:
        med += " [%.*f–%.*f]" % (digits, value["min"], digits, value["max"])
    return med
