"""Service-shaped errors: ``BatchError`` carries what the HTTP layer turns into the JSON body."""

from __future__ import annotations


class BatchError(Exception):
    """An error answered as the Batch service does (status, code, message, detail values)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        values: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.values = values or {}
        self.headers = headers or {}

    def body(self, base_url: str, request_id: str = "", time: str = "") -> dict:
        """The error document, as in the service's ``BatchError`` definition (the message ends
        with the request id and time, as the service's do)."""
        message = (
            f"{self.message}\nRequestId:{request_id}\nTime:{time}" if request_id else self.message
        )
        doc: dict = {
            "odata.metadata": f"{base_url}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
            "code": self.code,
            "message": {"lang": "en-US", "value": message},
        }
        if self.values:
            doc["values"] = [{"key": k, "value": str(v)} for k, v in self.values.items()]
        return doc


def not_found(kind: str, ident: str) -> BatchError:
    """404 ``<Kind>NotFound`` (``PoolNotFound``, ``JobNotFound``, ``TaskNotFound``)."""
    return BatchError(404, f"{kind}NotFound", f"The specified {kind.lower()} does not exist.")


def invalid_property(name: str, value, reason: str) -> BatchError:
    """400 ``InvalidPropertyValue`` with the service's PropertyName/PropertyValue/Reason values."""
    return BatchError(
        400,
        "InvalidPropertyValue",
        "The value provided for one of the properties in the request body is invalid.",
        {"PropertyName": name, "PropertyValue": value, "Reason": reason},
    )


def missing_property(name: str) -> BatchError:
    """400 ``MissingRequiredProperty``."""
    return BatchError(
        400,
        "MissingRequiredProperty",
        "A required property was not specified in the request body.",
        {"PropertyName": name},
    )


def unsupported_property(name: str, reason: str) -> BatchError:
    """400 ``UnsupportedProperty`` (e.g. ``dependsOn`` on a job without ``usesTaskDependencies``)."""
    return BatchError(
        400,
        "UnsupportedProperty",
        "One of the properties specified in the request body is not supported.",
        {"PropertyName": name, "Reason": reason},
    )


def condition_not_met(status: int) -> BatchError:
    """``ConditionNotMet``: 412 (or 304 for a read whose If-None-Match/If-Modified-Since fails)."""
    kind = "read" if status == 304 else "write"
    return BatchError(
        status,
        "ConditionNotMet",
        f"The condition specified in the conditional header(s) was not met for a {kind} operation.",
    )
