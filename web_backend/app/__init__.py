"""The FastAPI application: models, schemas, crud, routes and their core services."""
