"""Arrears: payment plans, the disconnection rule and its candidates, disconnections and
reconnections (work orders through fieldwork), bad-debt write-offs."""
