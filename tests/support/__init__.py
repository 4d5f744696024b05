"""Helpers shared by the test suites: a real agent process, a controllable platform server."""
