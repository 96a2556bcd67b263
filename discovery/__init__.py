"""The model discovery domain: records, provider formats, diffing, queries and the store.

Nothing in this package starts a thread or an actor; everything is testable with plain calls.
"""
from discovery.model import (
    CAPABILITIES,
    KINDS,
    MODALITIES,
    STATUSES,
    Capabilities,
    Lifecycle,
    Limits,
    Modalities,
    Model,
    Pricing,
)
from discovery.settings import ProviderConfig, Settings, SettingsError
from discovery.settings_reader import load_settings

__all__ = [
    "CAPABILITIES", "KINDS", "MODALITIES", "STATUSES", "Capabilities", "Lifecycle", "Limits",
    "Modalities", "Model", "Pricing", "ProviderConfig", "Settings", "SettingsError", "load_settings",
]
