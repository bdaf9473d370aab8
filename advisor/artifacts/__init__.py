"""Artifacts: base models provisioned offline from packages (models) and the inter-process
lock that content-addressed caches (models, indexes, adapters) take while building."""
