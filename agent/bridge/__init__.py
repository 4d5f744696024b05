"""The WebSocket bridge pages talk to: handshake (its guards: agent.loopback_guards), connections, JSON-RPC dispatch."""
