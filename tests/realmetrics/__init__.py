"""Real serving metrics on one machine: `modelrelease-server` processes per model
version, a real Prometheus scraping them, a load generator that splits traffic by the
weights the operator applied, and the models they serve (trained by the real trainer)."""
