# Type stubs for the part of django-tenants (4.0.1) MajiSmart uses: the package ships none.
# Only what our code calls; mypy reads them through `mypy_path` (pyproject.toml).
