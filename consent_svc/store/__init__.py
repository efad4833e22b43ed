"""asyncpg data access. Functions take a connection and never commit: the service layer owns transactions."""
