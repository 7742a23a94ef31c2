"""Database schema (Alembic migrations) and the SQL the pipeline runs, in one place."""
