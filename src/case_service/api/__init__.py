"""HTTP edge: routers, request/response schemas, dependencies, error rendering."""
