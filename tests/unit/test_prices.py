"""Picking a VM size's prices out of Retail Prices API items (no network)."""

from __future__ import annotations

from standins import price_item

from superbatch.backends.azure.prices import pick


def test_an_item_without_a_price_is_skipped_not_a_crash():
    bare = price_item("Standard_D2s_v3", "westeurope", 0.5, "D2s v3")
    del bare["retailPrice"], bare["unitPrice"]
    items = [
        bare,
        price_item("Standard_D2s_v3", "westeurope", 0.096, "D2s v3"),
        price_item("Standard_D2s_v3", "westeurope", 0.0192, "D2s v3 Spot"),
    ]
    assert pick(items, "standard_d2s_v3") == (0.096, 0.0192)
    assert pick([bare], "standard_d2s_v3") == (None, None)


def test_unit_price_stands_in_when_retail_price_is_missing():
    item = price_item("Standard_D2s_v3", "westeurope", 0.096, "D2s v3")
    del item["retailPrice"]
    assert pick([item], "standard_d2s_v3") == (0.096, None)
