"""The WebSocket bridge pages talk to: handshake guards, connections, JSON-RPC dispatch."""
