"""Kopf handlers: observe, call the core, write. No decisions are made here."""
