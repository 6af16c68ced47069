"""The engine's user-facing error for settings: a leaf module, so every layer (schema checks,
data loaders, registries) can raise it without importing the schema or each other."""


class ConfigError(ValueError):
    """A setting that cannot work; the message is one line that says what is valid."""


def unknown(kind: str, name: object, valid) -> ConfigError:
    """The one wording for an unknown registry name (method, encoder, fusion, dataset, ...)."""
    return ConfigError(f"unknown {kind} {name!r}; valid: {', '.join(valid)}")
