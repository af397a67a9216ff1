"""VM prices from the Azure Retail Prices API (public, no credentials), cached for a day.

``GET https://prices.azure.com/api/retail/prices?$filter=...`` answers pages of
``{"Items": [...], "NextPageLink": ...}``; the Linux pay-as-you-go price of a VM size in a
region is the ``Consumption`` item of service "Virtual Machines" whose product is not Windows
and whose meter is neither Spot nor Low Priority; the Spot price is the one whose meter says
Spot. The address can be changed with ``SUPERBATCH_PRICES_URL`` (a stand-in in tests, a proxy
for air-gapped machines). Without an answer the price is unknown; nothing fails because of it.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "https://prices.azure.com/api/retail/prices"
CACHE_SECONDS = 24 * 3600
TIMEOUT = 10
MAX_PAGES = 20


@dataclass(frozen=True)
class VmPrice:
    """Hourly list prices (USD) of one VM size in one region; None where unknown."""

    vm_size: str
    region: str | None
    dedicated: float | None
    spot: float | None
    source: str  # "api", "cache", or why it is unknown

    @property
    def known(self) -> bool:
        return self.dedicated is not None


def prices_url() -> str:
    return os.environ.get("SUPERBATCH_PRICES_URL") or DEFAULT_URL


def cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "superbatch" / "prices.json"


def region_of(endpoint: str | None) -> str | None:
    """``westeurope`` from ``https://mybatch.westeurope.batch.azure.com``; else None."""
    if not endpoint:
        return None
    host = urllib.parse.urlsplit(endpoint).hostname or ""
    labels = host.split(".")
    if len(labels) >= 4 and labels[2] == "batch":
        return labels[1]
    return None


def _query(region: str, vm_size: str) -> str:
    # Without an api-version the service compares filter values without regard to case
    # (the spec's sizes are lowercase; the API's are Standard_D2s_v3).
    where = (
        f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' and "
        f"armSkuName eq '{vm_size}' and priceType eq 'Consumption'"
    )
    return f"{prices_url()}?{urllib.parse.urlencode({'$filter': where})}"


def _fetch(url: str) -> list[dict]:
    items: list[dict] = []
    for _ in range(MAX_PAGES):
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 - https URL
            page = json.load(response)
        items += page.get("Items") or []
        url = page.get("NextPageLink")
        if not url:
            return items
    return items


def pick(items: list[dict], vm_size: str) -> tuple[float | None, float | None]:
    """(pay-as-you-go, Spot) hourly USD prices of Linux ``vm_size`` among price items."""
    dedicated = spot = None
    for item in items:
        if (item.get("armSkuName") or "").lower() != vm_size.lower():
            continue
        if (
            item.get("type") != "Consumption"
            or "windows" in (item.get("productName") or "").lower()
        ):
            continue
        if item.get("currencyCode", "USD") != "USD" or item.get("unitOfMeasure") != "1 Hour":
            continue
        meter = f"{item.get('meterName', '')} {item.get('skuName', '')}".lower()
        price = _hourly_usd(item)
        if price is None:
            continue
        if "spot" in meter:
            spot = price if spot is None else min(spot, price)
        elif "low priority" not in meter:
            dedicated = price if dedicated is None else min(dedicated, price)
    return dedicated, spot


def _hourly_usd(item: dict) -> float | None:
    """An item's price (retailPrice, else unitPrice); None for an item that has no number."""
    for field in ("retailPrice", "unitPrice"):
        value = item.get(field)
        if value is None:
            continue
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return None


def _read_cache() -> dict:
    try:
        data = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(data: dict) -> None:
    from superbatch.util.files import atomic_write_json

    try:
        atomic_write_json(cache_path(), data)
    except OSError:
        pass  # a cache that cannot be written is only slower


def vm_price(vm_size: str, region: str | None) -> VmPrice:
    """The VM size's prices in ``region``, from the cache (a day) or the API."""
    if not region:
        return VmPrice(vm_size, None, None, None, "unknown: no region (set azure.region)")
    key = f"{prices_url()}|{region}|{vm_size.lower()}"
    cache = _read_cache()
    hit = cache.get(key)
    if isinstance(hit, dict) and time.time() - hit.get("at", 0) < CACHE_SECONDS:
        return VmPrice(vm_size, region, hit.get("dedicated"), hit.get("spot"), "cache")
    try:
        dedicated, spot = pick(_fetch(_query(region, vm_size)), vm_size)
    except (OSError, ValueError) as exc:
        return VmPrice(
            vm_size,
            region,
            None,
            None,
            f"unknown: the prices API did not answer ({type(exc).__name__})",
        )
    if dedicated is None and spot is None:
        return VmPrice(
            vm_size, region, None, None, f"unknown: no Linux price for {vm_size} in {region}"
        )
    cache[key] = {"at": time.time(), "dedicated": dedicated, "spot": spot}
    _write_cache(cache)
    return VmPrice(vm_size, region, dedicated, spot, "api")
