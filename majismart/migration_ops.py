"""Migration operations of our own."""

from __future__ import annotations

from django.contrib.postgres.operations import AddIndexConcurrently


class AddIndexQuietly(AddIndexConcurrently):
    """An index built without holding writes back: CREATE INDEX CONCURRENTLY wherever it can run
    (`migrate_schemas` over existing schemas runs each migration outside a transaction), and a
    plain CREATE INDEX where the migration runs inside one — a provider's schema being created in
    `provider_create`'s transaction, which is new and empty, so nothing waits. A concurrent
    build that failed half-way leaves an INVALID index of that name: it is dropped first.
    Migrations using it set `atomic = False`."""

    def describe(self) -> str:
        return f"Create index {self.index.name} on {self.model_name} (concurrently where it can)"

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:  # type: ignore[no-untyped-def]
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        concurrently = not schema_editor.connection.in_atomic_block
        if concurrently:
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(
                    "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relname = %s AND n.nspname = current_schema() AND NOT i.indisvalid",
                    [self.index.name])
                if cursor.fetchone():
                    cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{self.index.name}"')
        schema_editor.add_index(model, self.index, concurrently=concurrently)

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:  # type: ignore[no-untyped-def]
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=not schema_editor.connection.in_atomic_block)
