"""fm-case-service: the case management microservice of the FaultMaven platform."""

__version__ = "0.1.0"
