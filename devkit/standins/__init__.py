"""Local stand-ins for the third-party services MajiSmart talks to (development and tests only)."""
