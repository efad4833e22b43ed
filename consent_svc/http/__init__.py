"""HTTP: litestar app factory, thin controllers, API Structs separate from domain Structs."""
