"""Database and broker adapters behind the use cases."""
