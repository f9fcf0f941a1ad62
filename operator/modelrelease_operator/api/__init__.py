"""The API of modelrelease: pydantic models for the custom resources' spec and status."""

GROUP = "modelrelease.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
