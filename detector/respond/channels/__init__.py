"""Incident channels: render an incident for one destination and send it, idempotently at the receiver.

``base`` holds the contract the outbox calls (``Channel``, ``Outcome``, ``Routing``), ``http`` the status
handling every destination shares, ``render`` the plain-text view each format escapes; then one module per
destination: ``slack`` (with ``slack_blocks``), ``teams``, ``pagerduty``, ``webhook``. ``detector.tenants.
channels_for`` builds a tenant's channels from its config.
"""
