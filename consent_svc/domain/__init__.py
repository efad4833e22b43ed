"""Pure domain: no database, no HTTP. The decision rules can be read and tested here alone."""
