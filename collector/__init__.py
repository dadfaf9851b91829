"""Footfall's collector: ingest, storage, identity, Heap's server-side APIs, dashboard and CLI."""
