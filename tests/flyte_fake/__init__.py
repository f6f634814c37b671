"""A real gRPC server on 127.0.0.1 speaking flyteidl's SignalService (and the few AdminService calls
gatewidgets uses)."""
