"""Stand-ins for the services around Azure Batch, in their official, documented shapes, on
127.0.0.1: the Azure Retail Prices API, a container registry (Docker Registry HTTP API V2
with token auth), and the management plane (Azure Resource Manager, Microsoft.Batch)."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit


class StandIn:
    """A threaded HTTP server whose handler is ``self.answer(method, path, query, headers)``."""

    def __init__(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _go(self, method):
                url = urlsplit(self.path)
                owner.requests.append((method, self.path))
                status, headers, body = owner.answer(
                    method,
                    url.path,
                    parse_qs(url.query),
                    {k.lower(): v for k, v in self.headers.items()},
                )
                data = (
                    json.dumps(body).encode() if isinstance(body, (dict, list)) else (body or b"")
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if isinstance(body, (dict, list)):
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(data)

            def do_GET(self):
                self._go("GET")

            def do_HEAD(self):
                self._go("HEAD")

            def log_message(self, *args):
                pass

        self.requests: list[tuple[str, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, method, path, query, headers):  # pragma: no cover - overridden
        return 404, {}, None


def price_item(
    sku: str, region: str, price: float, meter: str, product: str = "Virtual Machines Dsv3 Series"
) -> dict:
    """One item as the Retail Prices API answers it."""
    return {
        "currencyCode": "USD",
        "tierMinimumUnits": 0.0,
        "retailPrice": price,
        "unitPrice": price,
        "armRegionName": region,
        "location": "EU West",
        "effectiveStartDate": "2024-01-01T00:00:00Z",
        "meterId": "m",
        "meterName": meter,
        "productId": "p",
        "skuId": "s",
        "productName": product,
        "skuName": meter,
        "serviceName": "Virtual Machines",
        "serviceId": "DZH313Z7MMC8",
        "serviceFamily": "Compute",
        "unitOfMeasure": "1 Hour",
        "type": "Consumption",
        "isPrimaryMeterRegion": True,
        "armSkuName": sku,
    }


class PricesStandIn(StandIn):
    """The Retail Prices API: ``{BillingCurrency, CustomerEntityId, CustomerEntityType, Items,
    NextPageLink, Count}``, ``page_size`` items a page, following the $filter's region and
    SKU (compared without regard to case, as without an api-version)."""

    def __init__(self, items: list[dict], page_size: int = 2):
        self.items, self.page_size = items, page_size
        super().__init__()

    def answer(self, method, path, query, headers):
        where = query.get("$filter", [""])[0].lower()
        chosen = [
            i
            for i in self.items
            if f"'{i['armRegionName'].lower()}'" in where
            and f"'{i['armSkuName'].lower()}'" in where
        ]
        skip = int(query.get("$skip", ["0"])[0])
        page = chosen[skip : skip + self.page_size]
        nxt = None
        if skip + self.page_size < len(chosen):
            query = urlencode(
                {"$filter": query.get("$filter", [""])[0], "$skip": skip + self.page_size}
            )
            nxt = f"{self.url}/api/retail/prices?{query}"
        return (
            200,
            {},
            {
                "BillingCurrency": "USD",
                "CustomerEntityId": "Default",
                "CustomerEntityType": "Retail",
                "Items": page,
                "NextPageLink": nxt,
                "Count": len(page),
            },
        )


class RegistryStandIn(StandIn):
    """A registry: manifests answer 401 with a Bearer challenge; the token endpoint gives a
    token for the right Basic credentials (any, if ``username`` is None), or to anyone if
    ``anonymous``; ``images`` (``repository:tag``) are the manifests it has."""

    TOKEN = "stand-in-token"

    def __init__(
        self,
        images: set[str],
        username: str | None = None,
        password: str | None = None,
        anonymous: bool = False,
    ):
        self.images, self.anonymous = images, anonymous
        self.basic = (
            None
            if username is None
            else "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        )
        super().__init__()

    def answer(self, method, path, query, headers):
        if path == "/token":
            given = headers.get("authorization")
            allowed = (given is None and self.anonymous) or (
                given is not None
                and given.startswith("Basic ")
                and (self.basic is None or given == self.basic)
            )
            if not allowed:
                return 401, {}, {"errors": [{"code": "UNAUTHORIZED"}]}
            return 200, {}, {"token": self.TOKEN, "access_token": self.TOKEN}
        if headers.get("authorization") != f"Bearer {self.TOKEN}":
            challenge = (
                f'Bearer realm="{self.url}/token",service="registry.test",'
                f'scope="repository:{path.split("/manifests/")[0][4:]}:pull"'
            )
            return 401, {"WWW-Authenticate": challenge}, {"errors": [{"code": "UNAUTHORIZED"}]}
        repo, _, reference = path[len("/v2/") :].partition("/manifests/")
        if f"{repo}:{reference}" in self.images:
            return (
                200,
                {
                    "Docker-Content-Digest": "sha256:" + "0" * 64,
                    "Content-Type": "application/vnd.docker.distribution.manifest.v2+json",
                },
                b"",
            )
        return 404, {}, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}


class ArmStandIn(StandIn):
    """Azure Resource Manager for Microsoft.Batch: the Batch account (quotas) and the VM sizes
    a location offers, as the management API answers them; any bearer token."""

    def __init__(self, account: dict, skus: list[dict]):
        self.account, self.skus = account, skus
        super().__init__()

    def answer(self, method, path, query, headers):
        if not headers.get("authorization", "").startswith("Bearer "):
            return 401, {}, {"error": {"code": "AuthenticationFailed"}}
        if "/providers/Microsoft.Batch/batchAccounts/" in path:
            return 200, {}, self.account
        if path.endswith("/virtualMachineSkus"):
            return 200, {}, {"value": self.skus, "nextLink": None}
        return 404, {}, {"error": {"code": "ResourceNotFound", "message": path}}


def batch_account(
    name: str,
    location: str,
    family_quota: dict[str, int],
    dedicated: int,
    spot: int,
    active_jobs: int,
) -> dict:
    return {
        "id": f"/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/{name}",
        "name": name,
        "type": "Microsoft.Batch/batchAccounts",
        "location": location,
        "properties": {
            "accountEndpoint": f"{name}.{location}.batch.azure.com",
            "provisioningState": "Succeeded",
            "poolAllocationMode": "BatchService",
            "dedicatedCoreQuota": dedicated,
            "lowPriorityCoreQuota": spot,
            "dedicatedCoreQuotaPerVMFamily": [
                {"name": k, "coreQuota": v} for k, v in family_quota.items()
            ],
            "dedicatedCoreQuotaPerVMFamilyEnforced": True,
            "poolQuota": 100,
            "activeJobAndJobScheduleQuota": active_jobs,
        },
    }


def vm_sku(name: str, family: str, vcpus: int, gpus: int = 0) -> dict:
    capabilities = [
        {"name": "vCPUs", "value": str(vcpus)},
        {"name": "MemoryGB", "value": str(vcpus * 4)},
    ]
    if gpus:
        capabilities.append({"name": "GPUs", "value": str(gpus)})
    return {"name": name, "familyName": family, "capabilities": capabilities}
