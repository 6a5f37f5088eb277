"""meterwise.features: data contracts, loaders and point-in-time usage and payment profiles."""

from features.contracts import CATEGORIES, CHANNELS, TABLES, check_references, validate
from features.errors import ContractViolation, MeterwiseError, ModelNotReady, UnknownCustomer
from features.io import LoadReport, load_tenant

__all__ = [
    "CATEGORIES",
    "CHANNELS",
    "TABLES",
    "ContractViolation",
    "LoadReport",
    "MeterwiseError",
    "ModelNotReady",
    "UnknownCustomer",
    "check_references",
    "load_tenant",
    "validate",
]
